import pyarrow as pa
from django.apps import AppConfig


def use_releasing_memory_pool() -> None:
    """Make Arrow allocate from jemalloc (else the system allocator) rather than pyarrow's default mimalloc.

    mimalloc keeps freed pages: a 1M-row export measured ~100 MB more resident memory with it,
    in a worker process that lives for days. jemalloc hands them back.
    """
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(0)  # return freed pages at once, not seconds later
    except NotImplementedError:  # a pyarrow build without jemalloc
        pa.set_memory_pool(pa.system_memory_pool())


class ArchiveConfig(AppConfig):
    """Tenant app: archive runs and manifests, Parquet writer/reader, purge."""

    name = "archive"

    def ready(self) -> None:
        use_releasing_memory_pool()
