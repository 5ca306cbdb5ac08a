"""The registry of archived tables: types from the model fields; entries of missing models stay inactive."""

from __future__ import annotations

import pyarrow as pa
from django.apps import apps

from archive.tables import ArchivedTable, campaign_tables, table_by_name

PURGE_ORDER = [
    "notifications",
    "awards",
    "dispatch_attempts",
    "retraction_attempts",
    "retractions",
    "dispatches",
    "evaluations",
    "transitions",
]
OPTIONAL = {"notifications": "notifications.Notification", "awards": "awards.Award"}


def _model_exists(label: str) -> bool:
    try:
        apps.get_model(label)
    except LookupError:
        return False
    return True


def test_registry_lists_the_existing_models_in_purge_order():
    expected = [name for name in PURGE_ORDER if name not in OPTIONAL or _model_exists(OPTIONAL[name])]
    assert [table.name for table in campaign_tables()] == expected


def test_an_entry_whose_model_does_not_exist_is_inactive():
    assert ArchivedTable("later", "partners.NotYetThere", "campaign_id").model is None


def test_arrow_types_follow_the_model_fields():
    evaluations = table_by_name("evaluations").arrow_schema
    assert evaluations.field("eligible_value").type == pa.decimal128(18, 4)
    assert evaluations.field("evaluated_at").type == pa.timestamp("us", tz="UTC")
    assert evaluations.field("purchase_id").type == pa.int64()
    assert evaluations.field("eligible").type == pa.bool_()
    assert evaluations.field("reason").nullable and not evaluations.field("eligible").nullable
    attempts = table_by_name("dispatch_attempts")
    assert attempts.arrow_schema.field("dispatch_id").type == pa.string()
    assert attempts.uuid_columns == {"dispatch_id"}
    assert table_by_name("dispatches").uuid_columns == {"id", "claim_token"}
    assert table_by_name("purchases").arrow_schema.field("total").type == pa.decimal128(18, 4)
