"""Brand onboarding at scale: create `--count` brands by copying the template schema, then migrate all.

Same-run baseline: the previous path (CREATE SCHEMA + every tenant migration, what django-tenants'
`create_schema` does) timed on `--baseline` brands first. Then `create_brands --count N` (the
template copy) and `migrate_schemas --executor=parallel` with nothing to apply, in a process of
its own as an operator runs it. The bench brands (`bench_brand_*`) are dropped first and, unless
`--keep`, at the end.

    .venv/bin/python bench/brands.py [--count 500] [--baseline 3] [--keep]

Goals (issue 15): under 300 ms a brand, 500 brands under 5 minutes, migrate_all under 60 s.
Last line: `RESULT brands=… create_s=… per_brand_ms=… migrate_all_s=… baseline_per_brand_ms=… loadavg=…`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import time

from _brand import ROOT, migrate_public, setup_django
from _report import load_average, result

PREFIX = "bench_brand"
BASELINE_PREFIX = "bench_brand_migrated"


def drop_bench_brands() -> int:
    from django.db import connection

    from tenants.models import Brand

    schemas = list(Brand.objects.filter(schema_name__startswith=PREFIX).values_list("schema_name", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [PREFIX.replace("_", r"\_") + "%"]
        )
        schemas = sorted(set(schemas) | {name for (name,) in cursor.fetchall()})
        for schema in schemas:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    Brand.objects.filter(schema_name__startswith=PREFIX).delete()
    return len(schemas)


def baseline_create(count: int) -> float:
    """Seconds per brand of the previous path: CREATE SCHEMA, then every tenant migration."""
    from django.core.management import call_command
    from django.db import connection

    started = time.monotonic()
    for index in range(1, count + 1):
        schema = f"{BASELINE_PREFIX}_{index}"
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{schema}"')
        with contextlib.redirect_stdout(io.StringIO()):
            call_command("migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=0)
        connection.set_schema_to_public()
    return (time.monotonic() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--baseline", type=int, default=3, help="brands created the previous way (0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep the bench brands (e.g. for idle_cost.py)")
    args = parser.parse_args()

    setup_django()
    from django.core.management import call_command

    from tenants.models import Brand
    from tenants.schema_template import template_ensure

    migrate_public()
    dropped = drop_bench_brands()
    print(f"dropped {dropped} bench schemas of an earlier run; load average {load_average()}", flush=True)
    started = time.monotonic()
    template_ensure()
    print(f"template ready in {time.monotonic() - started:.1f} s", flush=True)

    baseline_ms = 0.0
    if args.baseline:
        baseline_ms = 1000 * baseline_create(args.baseline)
        print(f"previous path (migrate every schema): {baseline_ms:.0f} ms a brand over {args.baseline} "
              f"brands; load average {load_average()}", flush=True)  # fmt: skip
        drop_bench_brands()

    started = time.monotonic()
    call_command("create_brands", count=args.count, prefix=PREFIX, verbosity=1)
    create_s = time.monotonic() - started
    print(f"created {args.count} brands in {create_s:.1f} s; load average {load_average()}", flush=True)
    total = Brand.objects.count()

    started = time.monotonic()
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--executor=parallel", "--verbosity=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    migrate_all_s = time.monotonic() - started
    summary = [line for line in migrate.stdout.splitlines() if "schemas:" in line or "migrated" in line]
    print("\n".join(summary[-3:]), flush=True)
    if migrate.returncode != 0:
        sys.exit(f"migrate_schemas failed:\n{migrate.stderr[-3000:]}")
    print(f"migrate_schemas --executor=parallel over {total} brands: {migrate_all_s:.1f} s", flush=True)

    if not args.keep:
        drop_bench_brands()
    result(
        brands=args.count,
        create_s=f"{create_s:.1f}",
        per_brand_ms=f"{1000 * create_s / args.count:.0f}",
        migrate_all_s=f"{migrate_all_s:.1f}",
        baseline_per_brand_ms=f"{baseline_ms:.0f}",
        brands_in_database=total,
    )


if __name__ == "__main__":
    main()
