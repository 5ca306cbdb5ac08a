"""Send realistic purchases to a running server through the real HTTP API (demos, load).

    python manage.py simulate_purchases --schema brand_a --count 500 --rate 50 [--batch-size N]

Purchases go in batches through `POST /purchases/batch/` (`--batch-size 1`: one by one through
`POST /purchases/`), several requests in flight on keep-alive connections, each batch sent when
the `--rate` schedule says it is due: the rate is kept even when one request takes longer than
the gap between two batches.

The API key is one named ingest key, `simulate_purchases`, created on the first run and reused by
the next ones: only its hash is in the database, so the raw key is kept in
`.data/simulate-api-key.txt` (mode 0600, one line per brand). When that key no longer works (a
new database), a new `simulate_purchases` key is created and stored. `--api-key` uses yours.

Purchases mix SKUs and categories from the brand's active campaigns (so some
are eligible, some blacklisted, some under the minimum) with unrelated goods;
a small share is re-sent (idempotency: `duplicate`) and a small share is
malformed on purpose (`invalid`). A progress bar shows the flow; a summary
of the outcomes is printed at the end.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_tenants.utils import schema_context
from tqdm import tqdm

from accounts.models import ApiKey
from accounts.services import api_key_create
from campaigns.models import Campaign, ItemRule
from tenants.models import Brand, Domain

RETRY_LIMIT = 5
API_KEY_NAME = "simulate_purchases"
# Requests in flight at once: enough to hide one slow answer, few enough for a dev server.
IN_FLIGHT = 4


def default_key_file() -> Path:
    return Path(settings.BASE_DIR) / ".data" / "simulate-api-key.txt"


def _stored_keys(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split(" ", 1) for line in lines if " " in line)


def reusable_api_key(*, schema: str, path: Path) -> tuple[str, bool]:
    """The brand's `simulate_purchases` ingest key, from `path` if it still works; (key, created).

    Call inside the brand's schema.
    """
    stored = _stored_keys(path)
    key = stored.get(schema, "")
    if key:
        try:
            api_key = ApiKey.objects.get_from_key(key)
        except ApiKey.DoesNotExist:
            api_key = None
        if api_key is not None and api_key.name == API_KEY_NAME and api_key.role == "ingest":
            return key, False
    _, key = api_key_create(name=API_KEY_NAME, role="ingest")
    stored[schema] = key
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.writelines(f"{name} {value}\n" for name, value in sorted(stored.items()))
    os.chmod(path, 0o600)
    return key, True


def auto_batch_size(rate: float) -> int:
    """About five batches a second at the rate asked (one request per 200 ms), 100 when unpaced."""
    if rate <= 0:
        return 100
    return max(1, min(1000, math.ceil(rate / 5)))


class Catalogue:
    """What the brand sells, as far as its campaigns know, plus goods no campaign mentions."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        campaigns = list(Campaign.objects.filter(status__in=["active", "paused"]))
        self.currencies = [c.currency for c in campaigns] or ["EUR"]
        self.channels = ["in_store", "ecommerce"]
        rules = ItemRule.objects.filter(campaign__in=campaigns).values_list("kind", "match", "value")
        self.skus = {"blacklist": [], "whitelist": []}
        self.categories = {"blacklist": [], "whitelist": []}
        for kind, match, value in rules[:20_000]:
            (self.skus if match == "sku" else self.categories)[kind].append(value)
        self.plain = [f"SKU-{n:05d}" for n in range(500)]
        self.plain_categories = ["grocery", "books", "garden", "kitchen", "sport"]

    def line(self) -> dict:
        roll = self.rng.random()
        if roll < 0.25 and self.skus["whitelist"]:
            sku, category = self.rng.choice(self.skus["whitelist"]), None
        elif roll < 0.35 and self.skus["blacklist"]:
            sku, category = self.rng.choice(self.skus["blacklist"]), None
        elif roll < 0.45 and (self.categories["whitelist"] or self.categories["blacklist"]):
            sku = self.rng.choice(self.plain)
            category = self.rng.choice(self.categories["whitelist"] + self.categories["blacklist"])
        else:
            sku, category = self.rng.choice(self.plain), self.rng.choice(self.plain_categories)
        line = {
            "sku": sku,
            "quantity": self.rng.choice([1, 1, 1, 2, 2, 3, 5]),
            "unit_price": str(Decimal(self.rng.randint(99, 12_999)) / 100),
        }
        if category:
            line["category"] = category
        return line

    def purchase(self) -> dict:
        items = [self.line() for _ in range(self.rng.randint(1, 10))]
        total = sum((item["quantity"] * Decimal(item["unit_price"]) for item in items), Decimal(0))
        purchased_at = timezone.now() - timedelta(seconds=self.rng.randint(0, 3600))
        return {
            "external_id": f"sim-{uuid.uuid4().hex[:16]}",
            "customer_id": f"customer-{self.rng.randint(1, 5000)}",
            "channel": self.rng.choice(self.channels),
            "purchased_at": purchased_at.isoformat(),
            "currency": self.rng.choice(self.currencies),
            "store_id": f"store-{self.rng.randint(1, 40)}",
            "items": items,
            "total": str(total),
        }


class Command(BaseCommand):
    help = "Send realistic purchases to a running server through the HTTP API, with a progress bar."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--schema", required=True, help="the brand's schema, e.g. brand_a")
        parser.add_argument("--count", type=int, required=True, help="how many purchases to send")
        parser.add_argument(
            "--rate", type=float, default=0.0, help="purchases per second (0: as fast as possible)"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=0,
            help="purchases per POST /purchases/batch/ (default: about rate/5; 1: POST /purchases/ each)",
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the server listens")
        parser.add_argument(
            "--api-key", default="", help="an ingest key (default: the stored `simulate_purchases` key)"
        )
        parser.add_argument("--key-file", default="", help="where the simulate_purchases key is kept")
        parser.add_argument("--duplicates", type=float, default=0.03, help="share re-sent as-is")
        parser.add_argument("--invalid", type=float, default=0.01, help="share sent malformed on purpose")
        parser.add_argument("--seed", type=int, default=None)

    def handle(
        self,
        *args,
        schema: str,
        count: int,
        rate: float,
        batch_size: int,
        url: str,
        api_key: str,
        key_file: str,
        duplicates: float,
        invalid: float,
        seed: int | None,
        **options,
    ) -> None:
        brand = Brand.objects.filter(schema_name=schema).exclude(schema_name="public").first()
        if brand is None:
            raise CommandError(f"No brand with schema {schema!r}.")
        if not 0 <= batch_size <= 1000:
            raise CommandError("--batch-size must be between 1 and 1000 (0: chosen from the rate).")
        batch_size = batch_size or auto_batch_size(rate)
        domain = (
            Domain.objects.filter(tenant=brand)
            .order_by("-is_primary")
            .values_list("domain", flat=True)
            .first()
        )
        rng = random.Random(seed)
        with schema_context(schema):
            if not api_key:
                path = Path(key_file) if key_file else default_key_file()
                api_key, created = reusable_api_key(schema=schema, path=path)
                self.stderr.write(
                    f"{'Created' if created else 'Using'} the {API_KEY_NAME!r} ingest key (kept in {path})."
                )
            catalogue = Catalogue(rng)
        headers = {"Host": domain, "Authorization": f"Api-Key {api_key}", "Content-Type": "application/json"}
        local = threading.local()

        def send(bodies: list[dict]) -> list[str]:
            session = getattr(local, "session", None)
            if session is None:  # one keep-alive connection per sending thread
                session = local.session = requests.Session()
                session.headers.update(headers)
            return self._send(session, url, bodies, batch_size > 1)

        outcomes: Counter[str] = Counter()
        sent_before: list[dict] = []
        in_flight: list[tuple[int, Future]] = []
        started = time.monotonic()
        with (
            tqdm(total=count, unit="purchase", desc=f"{schema} → {url}") as progress,
            ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="simulate") as pool,
        ):

            def collect(*, keep: int) -> None:
                """Record the answers in order, waiting until at most `keep` requests are in flight."""
                while len(in_flight) > keep or (in_flight and in_flight[0][1].done()):
                    size, future = in_flight.pop(0)
                    for outcome in future.result():
                        outcomes[outcome] += 1
                    progress.update(size)
                    progress.set_postfix(outcomes, refresh=False)

            done = 0
            while done < count:
                size = min(batch_size, count - done)
                bodies = []
                for _ in range(size):
                    roll = rng.random()
                    if roll < duplicates and sent_before:
                        bodies.append(rng.choice(sent_before))
                    elif roll < duplicates + invalid:
                        broken = catalogue.purchase()
                        broken["items"][0]["quantity"] = 0
                        bodies.append(broken)
                    else:
                        body = catalogue.purchase()
                        sent_before.append(body)
                        bodies.append(body)
                if rate > 0:  # this batch is due when the purchases before it have had their time
                    ahead = done / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
                collect(keep=IN_FLIGHT - 1)
                in_flight.append((size, pool.submit(send, bodies)))
                done += size
            collect(keep=0)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Sent {count} purchases in {elapsed:.1f} s ({count / elapsed:.0f}/s"
                f"{f', asked {rate:g}/s' if rate else ''}; batches of {batch_size})"
            )
        )
        for outcome, number in sorted(outcomes.items()):
            self.stdout.write(f"  {outcome:<12} {number}")
        self.stdout.write(
            f"Look one up: curl -H 'Authorization: Api-Key {api_key}' "
            f"{url.replace('127.0.0.1', domain)}/api/v1/purchases/{sent_before[-1]['external_id']}/"
            if sent_before
            else ""
        )

    def _send(self, session: requests.Session, url: str, bodies: list[dict], batch: bool) -> list[str]:
        path = "/api/v1/purchases/batch/" if batch else "/api/v1/purchases/"
        payload = {"purchases": bodies} if batch else bodies[0]
        for _ in range(RETRY_LIMIT):
            try:
                response = session.post(url + path, data=json.dumps(payload), timeout=30)
            except requests.RequestException as exc:
                return [f"error:{type(exc).__name__}"] * len(bodies)
            if response.status_code == 429:
                time.sleep(float(response.headers.get("Retry-After") or 1))
                continue
            break
        if batch and response.status_code == 202:
            return [result["status"] for result in response.json()["results"]]
        return [
            {202: "accepted", 200: "duplicate", 409: "conflict", 400: "invalid"}.get(
                response.status_code, f"http:{response.status_code}"
            )
        ] * len(bodies)
