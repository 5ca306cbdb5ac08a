"""Claims take at most their limit, whatever plan PostgreSQL picks (lanes, ADR 0017; the work-due index, ADR 0014).

`UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` is not enough: a plan that runs the
subquery again for each row skips the rows the statement has just locked and takes n more each time.
The claim picks in a materialized CTE; this test forces the re-running plan and counts.
"""

from __future__ import annotations

import pytest
from django.db import connection

from outbox import lanes
from outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


def test_a_lane_claim_never_takes_more_than_its_batch(brand_a):
    name = sorted(lanes.LANE_TASK_NAMES)[0]
    OutboxMessage.objects.bulk_create(OutboxMessage(task_name=name, args=[n]) for n in range(40))
    with connection.cursor() as cursor:
        for setting in (
            "enable_hashjoin",
            "enable_mergejoin",
            "enable_hashagg",
            "enable_material",
            "enable_sort",
        ):
            cursor.execute(f"SET LOCAL {setting} = off")
    claimed = lanes._claim(2)
    assert [m.args for m in claimed] == [[0], [1]]
    assert OutboxMessage.objects.filter(leased_until__isnull=False).count() == 2


def test_the_work_due_claim_takes_at_most_its_limit(db):
    from django.utils import timezone

    from tenants.models import BrandWorkDue
    from tenants.work_due import work_due_claim

    past = timezone.now() - timezone.timedelta(minutes=1)
    BrandWorkDue.objects.bulk_create(BrandWorkDue(schema_name=f"claim_{n}", due_at=past) for n in range(30))
    with connection.cursor() as cursor:
        for setting in (
            "enable_hashjoin",
            "enable_mergejoin",
            "enable_hashagg",
            "enable_material",
            "enable_sort",
        ):
            cursor.execute(f"SET LOCAL {setting} = off")
    assert len(work_due_claim(limit=2)) == 2
