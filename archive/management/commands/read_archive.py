from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from archive import parquet
from archive.services import MANIFEST_NAME
from archive.storage import ArchiveStorage


class Command(BaseCommand):
    help = (
        "Print an archive's manifest and the first rows of each table. PATH is the campaign's folder "
        "(a local path or s3:// URL) or its manifest.json."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument("--rows", type=int, default=5, help="rows to print per table (default 5)")

    def handle(self, *args, path: str, rows: int, **options) -> None:
        # s3://bucket/prefix/...?endpoint_override=…: the query (connection options) stays on the folder.
        address, separator, query = path.partition("?")
        folder = address.removesuffix("/").removesuffix(MANIFEST_NAME).removesuffix("/")
        storage = ArchiveStorage(f"{folder}{separator}{query}")
        if not storage.exists(MANIFEST_NAME):
            raise CommandError(f"no {MANIFEST_NAME} in {folder} (an unfinished export has none)")
        manifest = json.loads(storage.read_bytes(MANIFEST_NAME))
        self.stdout.write(json.dumps(manifest, indent=2, sort_keys=True))
        for name, table in manifest["tables"].items():
            self.stdout.write(f"\n== {name}: {table['rows']} rows in {len(table['files'])} file(s)")
            if not table["files"] or rows <= 0:
                continue
            sample = parquet.read_first_rows(storage, table["files"][0]["path"], limit=rows)
            for row in sample.to_pylist():
                self.stdout.write(json.dumps(row, default=str))
