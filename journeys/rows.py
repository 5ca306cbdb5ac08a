"""Writing many rows in one statement: the rows travel as one JSON document (orjson) read back
with `jsonb_to_recordset`, typed by the model's own column types.

Django's `bulk_create` prepares every value of every field in Python (for a batch of 500 messages
of 30 columns, most of the batch's time); one JSON string is a single parameter. Columns a row does
not give take the field's default (computed once per statement), so a field added to the model
later is filled as Django would fill it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from django.db import connection, models
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone


def _default(field: models.Field, now: Any) -> Any:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    return field.get_default() if field.has_default() else None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def insert_rows(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, conflict: str = "DO NOTHING"
) -> int:
    """INSERT `rows` (dicts by column name) into `model`'s table with `ON CONFLICT {conflict}`; rows written."""
    if not rows:
        return 0
    now = timezone.now()
    given = set().union(*(row.keys() for row in rows))
    fields = [
        f for f in model._meta.concrete_fields if f.column in given or not isinstance(f, AutoFieldMixin)
    ]
    defaults = {f.column: _default(f, now) for f in fields if f.column not in given}
    document = orjson.dumps([{**defaults, **row} for row in rows], default=_json_default).decode()
    columns = ", ".join(f'"{f.column}"' for f in fields)
    typed = ", ".join(f'"{f.column}" {f.db_type(connection)}' for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({columns}) SELECT {columns} "  # noqa: S608 - names are the model's
            f"FROM jsonb_to_recordset(%s::jsonb) AS x({typed}) ON CONFLICT {conflict}",
            [document],
        )
        return cursor.rowcount


def update_rows(model: type[models.Model], rows: Sequence[dict[str, Any]], *, keys: Sequence[str]) -> int:
    """UPDATE the rows of `model` matched on the `keys` columns with the other columns of `rows`."""
    if not rows:
        return 0
    by_column = {f.column: f for f in model._meta.concrete_fields}
    names = list(rows[0].keys())
    typed = ", ".join(f'"{c}" {by_column[c].db_type(connection)}' for c in names)
    assignments = ", ".join(f'"{c}" = x."{c}"' for c in names if c not in keys)
    match = " AND ".join(f't."{c}" = x."{c}"' for c in keys)
    document = orjson.dumps(list(rows), default=_json_default).decode()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {model._meta.db_table} AS t SET {assignments} "  # noqa: S608 - names are the model's
            f"FROM jsonb_to_recordset(%s::jsonb) AS x({typed}) WHERE {match}",
            [document],
        )
        return cursor.rowcount
