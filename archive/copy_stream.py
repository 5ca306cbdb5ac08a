"""Stream a query's rows out of PostgreSQL as Arrow record batches: COPY TO STDOUT (CSV) parsed by Arrow.

No row becomes Python objects: psycopg hands over the COPY data as it
arrives, Arrow's streaming CSV reader parses it straight into typed columns
(exact decimals, UTC timestamps). Memory stays bounded by the reader's block.

CSV details that keep values exact: an unquoted empty field is NULL and a
quoted one is the empty string (PostgreSQL writes them so); only the empty
field is NULL, so a text value "NULL" or "N/A" stays text; booleans are t/f;
the session's time zone is UTC (Django sets it), written as `…+00`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection, models

BLOCK_BYTES = 1024 * 1024


class _CopyReader(io.RawIOBase):
    """A read-only file over psycopg's COPY TO chunks, for Arrow's CSV reader."""

    def __init__(self, copy) -> None:
        self._chunks = iter(copy)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = len(buffer)
        written = 0
        while written < size:
            if not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending = memoryview(chunk)
                continue
            take = min(size - written, len(self._pending))
            buffer[written : written + take] = self._pending[:take]
            self._pending = self._pending[take:]
            written += take
        return written


def stream_batches(rows: models.QuerySet, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The queryset's rows (its columns must be `schema`'s, in order) as record batches."""
    sql, params = rows.query.sql_with_params()
    read_options = pacsv.ReadOptions(column_names=schema.names, use_threads=False, block_size=BLOCK_BYTES)
    parse_options = pacsv.ParseOptions(newlines_in_values=True)
    convert_options = pacsv.ConvertOptions(
        column_types=schema,
        true_values=["t"],
        false_values=["f"],
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        timestamp_parsers=[pacsv.ISO8601],
    )
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy,
    ):
        source = io.BufferedReader(_CopyReader(copy), buffer_size=BLOCK_BYTES)
        if not source.peek(1):
            return  # no rows: Arrow refuses an empty CSV stream, and there is nothing to write
        reader = pacsv.open_csv(
            source,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        for batch in reader:
            if batch.num_rows:
                yield batch.cast(schema) if batch.schema != schema else batch
