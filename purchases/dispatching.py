"""The boundary between evaluation (this app) and partner dispatch (`partners`).

Evaluation hands every eligible (purchase, campaign) pair over here, in its own
transaction: a `pending` Dispatch row per pair (unique per pair, so a repeated
evaluation never creates a second one) and ONE outbox message
`partners.send_dispatches([dispatch ids])` per batch. Everything after that —
signing, sending, retries, dead letters — is `partners.dispatch`'s job.
"""

from __future__ import annotations

import uuid

from django.db import connection, transaction

from outbox.services import outbox_enqueue
from partners.models import Dispatch

SEND_DISPATCHES_TASK = "partners.send_dispatches"


@transaction.atomic
def partners_dispatches_create(*, pairs: list[tuple[int, int, int]]) -> list[uuid.UUID]:
    """Create pending dispatches for `(purchase_id, campaign_id, partner_id)` pairs and enqueue their sending.

    Returns the ids of the dispatches created now; a pair that already has a
    dispatch is skipped (`ON CONFLICT DO NOTHING` on the unique pair), so
    calling this twice for the same pairs creates and enqueues nothing more.
    """
    if not pairs:
        return []
    ids = [uuid.uuid4() for _ in pairs]
    table = Dispatch._meta.db_table
    with connection.cursor() as cursor:
        # One statement for the whole batch (unnest of arrays), RETURNING only the rows really inserted.
        cursor.execute(
            f"""
            INSERT INTO {table}
            (id, purchase_id, campaign_id, partner_id, status, attempts, last_error, created_at, updated_at)
            SELECT pair.id, pair.purchase_id, pair.campaign_id, pair.partner_id, %s, 0, '', now(), now()
            FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::bigint[])
                AS pair(id, purchase_id, campaign_id, partner_id)
            ON CONFLICT (purchase_id, campaign_id) DO NOTHING
            RETURNING id
            """,  # noqa: S608 - the table name is ours, every value is a parameter
            [
                Dispatch.Status.PENDING.value,
                ids,
                [pair[0] for pair in pairs],
                [pair[1] for pair in pairs],
                [pair[2] for pair in pairs],
            ],
        )
        created = [row[0] for row in cursor.fetchall()]
    if created:
        outbox_enqueue(task_name=SEND_DISPATCHES_TASK, args=[[str(dispatch_id) for dispatch_id in created]])
    return created
