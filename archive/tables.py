"""The registry of archived tables: what is exported for a campaign, in which order, with which types.

Each entry names a model, how to select one campaign's rows, and the column
whose range goes into the manifest. Columns and Arrow types are derived from
the model's concrete fields, so adding a table is one `ArchivedTable(...)`
line. Entries whose model is not installed (yet) are skipped.

The order is the purge order: rows that reference others come first
(notifications before awards, attempts before dispatches), so each batch
delete satisfies the foreign keys on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from django.apps import apps
from django.contrib.postgres.fields import ArrayField
from django.db import models


@dataclass(frozen=True)
class ArchivedTable:
    name: str  # folder name in the archive
    model_label: str  # "app_label.ModelName"
    campaign_lookup: str  # ORM lookup selecting one campaign's rows, e.g. "campaign_id"
    time_field: str | None = None  # its min/max go into the manifest's time range

    @property
    def model(self) -> type[models.Model] | None:
        """The model, or None when it does not exist (an app that has not landed)."""
        try:
            return apps.get_model(self.model_label)
        except LookupError:
            return None

    def campaign_rows(self, campaign_id: int) -> models.QuerySet:
        return self.model._default_manager.filter(**{self.campaign_lookup: campaign_id})

    @property
    def columns(self) -> list[str]:
        return [field.attname for field in self.model._meta.concrete_fields]

    @property
    def pk_column(self) -> str:
        return self.model._meta.pk.attname

    @property
    def arrow_schema(self) -> pa.Schema:
        return arrow_schema_for(self.model)

    def _columns_of(self, field_class: type[models.Field]) -> frozenset[str]:
        return frozenset(
            field.attname
            for field in self.model._meta.concrete_fields
            if isinstance(_value_field(field), field_class)
        )

    @property
    def uuid_columns(self) -> frozenset[str]:
        """Columns stored as canonical UUID text (UUID keys and the foreign keys pointing at them)."""
        return self._columns_of(models.UUIDField)

    @property
    def resolved_time_field(self) -> str | None:
        if self.time_field and self.time_field in self.columns:
            return self.time_field
        return None


def _value_field(field: models.Field) -> models.Field:
    """The field whose values a column holds: a foreign key holds its target's values."""
    while isinstance(field, models.ForeignKey):
        field = field.target_field
    return field


def _arrow_type(field: models.Field) -> pa.DataType:
    """The Arrow type of one model field: exact decimals, UTC timestamps, JSON as text."""
    if isinstance(field, models.ForeignKey):
        return _arrow_type(field.target_field)
    if isinstance(field, models.DecimalField):
        return pa.decimal128(field.max_digits, field.decimal_places)
    if isinstance(field, models.DateTimeField):
        return pa.timestamp("us", tz="UTC")
    if isinstance(field, models.DateField):
        return pa.date32()
    if isinstance(field, models.BooleanField):
        return pa.bool_()
    if isinstance(field, models.SmallIntegerField | models.PositiveSmallIntegerField):
        return pa.int16() if isinstance(field, models.SmallIntegerField) else pa.int32()
    if isinstance(field, models.BigIntegerField | models.PositiveBigIntegerField | models.AutoField):
        return pa.int64()
    if isinstance(field, models.IntegerField):
        # PositiveIntegerField goes up to 2**31 - 1 in Postgres: int64 keeps every value.
        return pa.int64()
    if isinstance(field, models.FloatField):
        return pa.float64()
    if isinstance(field, models.UUIDField):
        return pa.string()  # canonical text form: readable by every Parquet tool
    if isinstance(field, models.JSONField):
        return pa.string()  # the JSON document, serialised
    if isinstance(field, ArrayField):
        return pa.list_(_arrow_type(field.base_field))
    if isinstance(field, models.CharField | models.TextField | models.SlugField | models.URLField):
        return pa.string()
    raise TypeError(f"no Arrow type for {field.model.__name__}.{field.name} ({type(field).__name__})")


def arrow_schema_for(model: type[models.Model]) -> pa.Schema:
    return pa.schema(
        [
            pa.field(field.attname, _arrow_type(field), nullable=field.null)
            for field in model._meta.concrete_fields
        ]
    )


def _registry_entries() -> tuple[ArchivedTable, ...]:
    return (
        # Purge order: notifications point at awards; attempts at dispatches.
        ArchivedTable("notifications", "notifications.Notification", "campaign_id", "created_at"),
        ArchivedTable("awards", "awards.Award", "campaign_id", "received_at"),
        ArchivedTable(
            "dispatch_attempts", "dispatches.DispatchAttempt", "dispatch__campaign_id", "attempted_at"
        ),
        # Retractions of refunded purchases (ADR 0025) point at dispatches; their attempts at them.
        ArchivedTable(
            "retraction_attempts",
            "dispatches.RetractionAttempt",
            "retraction__dispatch__campaign_id",
            "attempted_at",
        ),
        ArchivedTable("retractions", "dispatches.Retraction", "dispatch__campaign_id", "created_at"),
        ArchivedTable("dispatches", "dispatches.Dispatch", "campaign_id", "created_at"),
        ArchivedTable("evaluations", "purchases.Evaluation", "campaign_id", "evaluated_at"),
        ArchivedTable("transitions", "campaigns.CampaignTransition", "campaign_id", "created_at"),
    )


def campaign_tables() -> list[ArchivedTable]:
    """The tables archived for one campaign, in purge order, skipping models that do not exist."""
    return [table for table in _registry_entries() if table.model is not None]


# Old purchases (retention sweep): selected by the service, not by campaign; their refunds first.
PURCHASE_REFUNDS_TABLE = ArchivedTable("purchase_refunds", "purchases.PurchaseRefund", "", "created_at")
PURCHASES_TABLE = ArchivedTable("purchases", "purchases.Purchase", "", "received_at")


def table_by_name(name: str) -> ArchivedTable:
    for table in [*_registry_entries(), PURCHASE_REFUNDS_TABLE, PURCHASES_TABLE]:
        if table.name == name:
            return table
    raise KeyError(name)
