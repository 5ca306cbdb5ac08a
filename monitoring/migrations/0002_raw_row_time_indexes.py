"""Indexes on the time columns the rollup tick reads, so it never scans whole raw tables.

BRIN for the insert-only, time-ordered tables (evaluations, dispatch attempts): a few pages per
million rows and next to no insert cost on the hot path. Small ranges (32 pages, ~2 k rows) keep the
over-read of a 3-hour window small; `autosummarize` summarises each range as soon as it is full
(otherwise the growing tail stays unsummarised, i.e. always read, until the next VACUUM). A partial B-tree for notifications'
`sent_at` (rows are updated in place, so their physical order does not follow `sent_at`).
They are created here, by the app that needs them, so the domain apps' models stay as they are
(ADR 0008); `IF NOT EXISTS` makes it harmless if a domain app adds an equivalent index later.
"""

from django.db import migrations

INDEXES = [
    (
        "monitoring_evaluation_evaluated_at_brin",
        "CREATE INDEX IF NOT EXISTS monitoring_evaluation_evaluated_at_brin "
        "ON purchases_evaluation USING brin (evaluated_at) WITH (pages_per_range = 32, autosummarize = on)",
    ),
    (
        "monitoring_dispatchattempt_attempted_at_brin",
        "CREATE INDEX IF NOT EXISTS monitoring_dispatchattempt_attempted_at_brin "
        "ON partners_dispatchattempt USING brin (attempted_at) WITH (pages_per_range = 32, autosummarize = on)",
    ),
    (
        "monitoring_notification_sent_at_idx",
        "CREATE INDEX IF NOT EXISTS monitoring_notification_sent_at_idx "
        "ON notifications_notification (sent_at) WHERE sent_at IS NOT NULL",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_hourly_rollup"),
        ("purchases", "0001_initial"),
        ("partners", "0006_dispatch_db_defaults"),
        ("notifications", "0001_notifications_initial"),
    ]

    operations = [
        migrations.RunSQL(sql=create, reverse_sql=f"DROP INDEX IF EXISTS {name}") for name, create in INDEXES
    ]
