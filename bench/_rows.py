"""Rows written by SQL in the benchmarks, with every column the model has.

A benchmark that fills a table with `INSERT … SELECT generate_series` names the columns it cares
about. `defaults_for` gives every other column its field's default (`now()` for the timestamps
Django fills), so the bench keeps working when a model gains a NOT NULL column with a default in
Python only.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models


def defaults_for(model: type[models.Model], given: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """(column list, SQL expressions, named parameters) for an INSERT of `model`.

    `given` maps field names to SQL expressions (they may use the bench's own named parameters).
    The other columns get their field's default as a `%(default_<column>)s` parameter.
    """
    columns: list[str] = []
    expressions: list[str] = []
    params: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.name in given or field.attname in given:
            columns.append(field.column)
            expressions.append(given.get(field.name) or given[field.attname])
            continue
        if isinstance(field, models.AutoField | models.BigAutoField):
            continue
        columns.append(field.column)
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            expressions.append("now()")
            continue
        if not field.has_default() and field.null:
            expressions.append("NULL")
            continue
        name = f"default_{field.column}"
        params[name] = field.get_db_prep_save(field.get_default(), connection)
        expressions.append(f"%({name})s")
    return ", ".join(columns), ", ".join(expressions), params
