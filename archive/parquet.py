"""Parquet writer and reader of archived tables (zstd, typed columns, bounded memory).

Record batches arrive from the COPY stream (archive.copy_stream); they are
grouped into row groups, and a part file is closed every `rows_per_part`
rows. A part is built in memory (compressed: about 10 MB per million
evaluations), hashed, then written under a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from archive.storage import ArchiveStorage

ROW_GROUP_ROWS = 64 * 1024
ROWS_PER_PART = 1_000_000
COMPRESSION = "zstd"


@dataclass(frozen=True)
class PartFile:
    path: str  # relative to the archive's root
    rows: int
    bytes: int
    sha256: str

    def as_manifest(self, folder: str) -> dict[str, Any]:
        return {
            "path": self.path.removeprefix(folder.rstrip("/") + "/"),
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


class TableWriter:
    """Writes one archived table as `<folder>/part-N.parquet` files."""

    def __init__(
        self,
        storage: ArchiveStorage,
        folder: str,
        schema: pa.Schema,
        *,
        time_column: str | None = None,
        rows_per_part: int = ROWS_PER_PART,
    ) -> None:
        self.storage = storage
        self.folder = folder
        self.schema = schema
        self.rows_per_part = rows_per_part
        self.time_column = time_column
        self.parts: list[PartFile] = []
        self.rows = 0
        self.time_min: Any = None
        self.time_max: Any = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._sink: pa.BufferOutputStream | None = None
        self._writer: pq.ParquetWriter | None = None
        self._part_rows = 0

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._track_time_range(batch)
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush_row_group()
        if self._part_rows >= self.rows_per_part:
            self._finish_part()

    def _track_time_range(self, batch: pa.RecordBatch) -> None:
        if not self.time_column:
            return
        bounds = pc.min_max(batch.column(self.time_column)).as_py()
        if bounds["min"] is not None:
            self.time_min = bounds["min"] if self.time_min is None else min(self.time_min, bounds["min"])
            self.time_max = bounds["max"] if self.time_max is None else max(self.time_max, bounds["max"])

    def _flush_row_group(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            self._sink = pa.BufferOutputStream()
            self._writer = pq.ParquetWriter(self._sink, self.schema, compression=COMPRESSION)
        self._writer.write_table(pa.Table.from_batches(self._pending, schema=self.schema))
        self._part_rows += self._pending_rows
        self._pending, self._pending_rows = [], 0

    def _finish_part(self) -> None:
        self._flush_row_group()
        if self._writer is None:
            return
        self._writer.close()
        data = self._sink.getvalue()
        path = f"{self.folder}/part-{len(self.parts)}.parquet"
        self.storage.write_atomic(path, data)
        self.parts.append(
            PartFile(
                path=path, rows=self._part_rows, bytes=data.size, sha256=hashlib.sha256(data).hexdigest()
            )
        )
        self._writer, self._sink, self._part_rows = None, None, 0

    def close(self) -> list[PartFile]:
        """Finish the last part; a table without rows gets one empty part (its schema stays readable)."""
        self._finish_part()
        if not self.parts:
            self._sink = pa.BufferOutputStream()
            self._writer = pq.ParquetWriter(self._sink, self.schema, compression=COMPRESSION)
            self._finish_part()
        return self.parts


def iter_batches(
    storage: ArchiveStorage, path: str, *, columns: list[str] | None = None, batch_size: int = 65536
) -> Iterator[pa.RecordBatch]:
    with storage.open_input_file(path) as handle:
        yield from pq.ParquetFile(handle).iter_batches(batch_size=batch_size, columns=columns)


def read_table(storage: ArchiveStorage, path: str) -> pa.Table:
    with storage.open_input_file(path) as handle:
        return pq.read_table(handle)


def read_first_rows(storage: ArchiveStorage, path: str, *, limit: int) -> pa.Table:
    with storage.open_input_file(path) as handle:
        parquet_file = pq.ParquetFile(handle)
        for batch in parquet_file.iter_batches(batch_size=limit):
            return pa.Table.from_batches([batch])
        return parquet_file.schema_arrow.empty_table()


def file_row_count(storage: ArchiveStorage, path: str) -> int:
    with storage.open_input_file(path) as handle:
        return pq.ParquetFile(handle).metadata.num_rows
