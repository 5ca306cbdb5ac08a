"""The partner and dispatch internals the benchmarks use, imported in this one place.

Those apps move (partners/ was split into partners/, dispatches/ and awards/ in ADR 0011, and
their modules keep moving): a bench imports them from here, so a move is repointed here once.
The raw-SQL fills take their table names from `TABLES` (the models' `db_table`), not literals.

Import it after `_brand.setup_django()`; the Celery worker of bench/pipeline.py imports it
through bench/naive_pipeline.py once Django is set up.
"""

from __future__ import annotations

from dataclasses import dataclass

import dispatches.tasks  # noqa: F401  (registers the send task with the Celery app)
from core.task_names import SEND_DISPATCHES as SEND_TASK_NAME
from dispatches.models import Dispatch, DispatchAttempt
from dispatches.services import dispatch_send_batch
from partners.management.commands.fake_partner import FakePartner, build_server
from partners.models import Partner
from partners.services import partner_secret_generate

__all__ = [
    "SEND_TASK_NAME",
    "TABLES",
    "Dispatch",
    "DispatchAttempt",
    "FakePartner",
    "Partner",
    "build_server",
    "dispatch_send_batch",
    "partner_create",
    "partner_secret_generate",
]


@dataclass(frozen=True)
class Tables:
    partner: str
    dispatch: str
    attempt: str


TABLES = Tables(
    partner=Partner._meta.db_table,
    dispatch=Dispatch._meta.db_table,
    attempt=DispatchAttempt._meta.db_table,
)


def partner_create(*, base_url: str = "http://127.0.0.1:9", slug: str = "bench-partner", **fields) -> Partner:
    """A partner whose submissions go to `base_url`/submissions (port 9, discard: nothing answers)."""
    fields.setdefault("name", slug.replace("-", " ").capitalize())
    fields.setdefault("secret", partner_secret_generate())
    fields.setdefault("timeout_seconds", 5)
    return Partner.objects.create(
        slug=slug, submission_url=f"{base_url}/submissions", auth_url=f"{base_url}/participate", **fields
    )
