"""Where archives are written: a local folder or `s3://bucket/prefix`, through `pyarrow.fs`.

`ARCHIVE_URL` is a path (`./archive-data`, `/srv/archive`) or a URI pyarrow
understands (`s3://bucket/prefix`, with `?endpoint_override=host:port&scheme=http`
for an S3-compatible server). S3 credentials come from the environment
(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`), as pyarrow reads them.

Every file is written under a temporary name and then renamed, so a reader
never sees a half-written file under its final name.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
from django.conf import settings

_HASH_CHUNK = 4 * 1024 * 1024
TEMP_MARKER = ".tmp-"


class ArchiveStorage:
    """A folder of an archive store; every method takes paths relative to the store's root."""

    def __init__(self, url: str) -> None:
        if "://" not in url:
            url = str(Path(url).resolve())
        self.url = url
        self.filesystem, self.root = pafs.FileSystem.from_uri(url)
        self.is_local = isinstance(self.filesystem, pafs.LocalFileSystem)
        self._display_root = url.split("?", 1)[0].rstrip("/")

    def _full(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative.lstrip('/')}" if relative else self.root

    def location(self, relative: str) -> str:
        """The human-facing address of a folder or file (what the admin shows)."""
        return f"{self._display_root}/{relative}" if relative else self._display_root

    def _ensure_parent(self, relative: str) -> None:
        if self.is_local:
            parent = self._full(relative).rsplit("/", 1)[0]
            self.filesystem.create_dir(parent, recursive=True)

    def write_atomic(self, relative: str, data: bytes | pa.Buffer) -> None:
        """Write `data` at `relative`: to a temporary name first, then renamed into place."""
        self._ensure_parent(relative)
        temporary = f"{relative}{TEMP_MARKER}{uuid.uuid4().hex}"
        with self.filesystem.open_output_stream(self._full(temporary)) as stream:
            stream.write(data)
        self.filesystem.move(self._full(temporary), self._full(relative))

    def exists(self, relative: str) -> bool:
        return self.filesystem.get_file_info(self._full(relative)).type != pafs.FileType.NotFound

    def read_bytes(self, relative: str) -> bytes:
        with self.filesystem.open_input_stream(self._full(relative)) as stream:
            return stream.read()

    def sha256(self, relative: str) -> str:
        digest = hashlib.sha256()
        with self.filesystem.open_input_stream(self._full(relative)) as stream:
            while chunk := stream.read(_HASH_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def open_input_file(self, relative: str) -> pa.NativeFile:
        return self.filesystem.open_input_file(self._full(relative))

    def delete_folder(self, relative: str) -> None:
        """Remove a folder and everything in it (an unfinished export); missing is fine."""
        info = self.filesystem.get_file_info(self._full(relative))
        if info.type == pafs.FileType.Directory:
            self.filesystem.delete_dir(self._full(relative))
        elif not self.is_local:
            # S3 has no real folders: delete the objects under the prefix.
            self.filesystem.delete_dir_contents(self._full(relative), missing_dir_ok=True)

    def list_files(self, relative: str) -> list[str]:
        """Every file under a folder, as paths relative to the store's root, sorted."""
        selector = pafs.FileSelector(self._full(relative), recursive=True, allow_not_found=True)
        prefix = self.root.rstrip("/") + "/"
        return sorted(
            info.path.removeprefix(prefix)
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File
        )


def archive_storage(url: str | None = None) -> ArchiveStorage:
    return ArchiveStorage(url or settings.ARCHIVE_URL)
