"""Send realistic purchases to a running server through the real HTTP API (demos, load).

    python manage.py simulate_purchases --schema brand_a --count 500 [--rate 20] [--batch-size 1]

Purchases mix SKUs and categories from the brand's active campaigns (so some
are eligible, some blacklisted, some under the minimum) with unrelated goods;
a small share is re-sent (idempotency: `duplicate`) and a small share is
malformed on purpose (`invalid`). A progress bar shows the flow; a summary
of the outcomes is printed at the end.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import requests
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_tenants.utils import schema_context
from tqdm import tqdm

from accounts.services import api_key_create
from campaigns.models import Campaign, ItemRule
from tenants.models import Brand, Domain

RETRY_LIMIT = 5


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
        parser.add_argument("--batch-size", type=int, default=1, help="> 1 uses POST /purchases/batch/")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the server listens")
        parser.add_argument("--api-key", default="", help="an ingest key (default: create one)")
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
        duplicates: float,
        invalid: float,
        seed: int | None,
        **options,
    ) -> None:
        brand = Brand.objects.filter(schema_name=schema).exclude(schema_name="public").first()
        if brand is None:
            raise CommandError(f"No brand with schema {schema!r}.")
        if not 1 <= batch_size <= 1000:
            raise CommandError("--batch-size must be between 1 and 1000.")
        domain = (
            Domain.objects.filter(tenant=brand)
            .order_by("-is_primary")
            .values_list("domain", flat=True)
            .first()
        )
        rng = random.Random(seed)
        with schema_context(schema):
            if not api_key:
                _, api_key = api_key_create(
                    name=f"simulate_purchases {timezone.now():%Y-%m-%d %H:%M:%S}", role="ingest"
                )
            catalogue = Catalogue(rng)
        session = requests.Session()
        session.headers.update(
            {"Host": domain, "Authorization": f"Api-Key {api_key}", "Content-Type": "application/json"}
        )
        outcomes: Counter[str] = Counter()
        sent_before: list[dict] = []
        started = time.monotonic()
        with tqdm(total=count, unit="purchase", desc=f"{schema} → {url}") as progress:
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
                for outcome in self._send(session, url, bodies, batch_size > 1):
                    outcomes[outcome] += 1
                done += size
                progress.update(size)
                progress.set_postfix(outcomes, refresh=False)
                if rate > 0:
                    ahead = done / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"Sent {count} purchases in {elapsed:.1f} s ({count / elapsed:.0f}/s)")
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
