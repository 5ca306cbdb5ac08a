from __future__ import annotations

import json
import uuid
from typing import Any

import pyarrow as pa

from archive import parquet
from archive.services import campaign_folder, read_manifest
from archive.storage import ArchiveStorage
from archive.tables import PURCHASES_TABLE, ArchivedTable, campaign_tables


def _json_columns(table_name: str) -> set[str]:
    """Columns the archive keeps as JSON text (JSONField), parsed back for comparisons."""
    from django.db import models

    for table in [*campaign_tables(), PURCHASES_TABLE]:
        if table.name == table_name:
            return {f.attname for f in table.model._meta.concrete_fields if isinstance(f, models.JSONField)}
    return set()


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict | list):
        return json.loads(json.dumps(value))
    return value


def database_rows(table: ArchivedTable, campaign_id: int) -> list[dict[str, Any]]:
    """The campaign's rows of one table as the archive should hold them, in primary-key order."""
    rows = table.campaign_rows(campaign_id).order_by(table.pk_column).values(*table.columns)
    return [{key: _plain(value) for key, value in row.items()} for row in rows]


def campaign_database_rows(campaign_id: int) -> dict[str, list[dict[str, Any]]]:
    return {table.name: database_rows(table, campaign_id) for table in campaign_tables()}


def archived_rows(storage: ArchiveStorage, folder: str) -> dict[str, list[dict[str, Any]]]:
    """Every table of an archive read back, rows in primary-key order."""
    manifest = read_manifest(storage, folder)
    result = {}
    for name, table in manifest["tables"].items():
        tables = [parquet.read_table(storage, f"{folder}/{entry['path']}") for entry in table["files"]]
        combined = pa.concat_tables(tables) if tables else None
        rows = combined.to_pylist() if combined is not None else []
        json_columns = _json_columns(name)
        for row in rows:
            for column in json_columns:
                if isinstance(row.get(column), str):
                    row[column] = json.loads(row[column])
        result[name] = sorted(rows, key=lambda row: row[table["primary_key"]])
    return result


def archived_campaign_rows(storage: ArchiveStorage, campaign_id: int) -> dict[str, list[dict[str, Any]]]:
    return archived_rows(storage, campaign_folder(campaign_id))


def normalise_json_columns(rows: dict[str, list[dict]], columns: dict[str, set[str]]) -> None:
    for name, json_columns in columns.items():
        for row in rows.get(name, []):
            for column in json_columns:
                if isinstance(row[column], str):
                    row[column] = json.loads(row[column])
