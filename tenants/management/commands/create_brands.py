"""Create many brands at once (load tests, onboarding imports): PREFIX_1 … PREFIX_N, with a progress bar."""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.exceptions import ApplicationError
from tenants.schema_template import template_ensure
from tenants.services import brand_create


class Command(BaseCommand):
    help = (
        "Create COUNT brands: schema PREFIX_i, name 'PREFIX i', host PREFIX-i.DOMAIN_SUFFIX (i from --start). "
        "Safe to re-run: existing brands with the same name and host are left unchanged."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--count", type=int, required=True, help="how many brands")
        parser.add_argument("--prefix", required=True, help="schema prefix, e.g. load (→ load_1, load_2, …)")
        parser.add_argument("--start", type=int, default=1, help="number of the first brand (default 1)")
        parser.add_argument("--domain-suffix", default="localhost", help="host suffix (default localhost)")

    def handle(self, *args, count: int, prefix: str, start: int, domain_suffix: str, **options) -> None:
        if count < 1:
            raise CommandError("--count must be at least 1")
        started = time.monotonic()
        template_ensure(verbosity=int(options["verbosity"]) - 1)
        created = unchanged = 0
        numbers = range(start, start + count)
        with tqdm(numbers, desc="brands", unit="brand", disable=options["verbosity"] == 0) as progress:
            for number in progress:
                schema = f"{prefix}_{number}"
                try:
                    result = brand_create(
                        schema_name=schema,
                        name=f"{prefix.replace('_', ' ').title()} {number}",
                        domain=f"{prefix.replace('_', '-')}-{number}.{domain_suffix}",
                    )
                except (ApplicationError, ValidationError) as exc:
                    message = exc.message if isinstance(exc, ApplicationError) else "; ".join(exc.messages)
                    raise CommandError(
                        f"{schema}: {message} (stopped after {created} created, {unchanged} unchanged)"
                    ) from exc
                if result.created:
                    created += 1
                else:
                    unchanged += 1
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"{created} brands created, {unchanged} already existed, in {elapsed:.1f} s "
            f"({1000 * elapsed / count:.0f} ms a brand)"
        )
