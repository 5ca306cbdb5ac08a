"""A local reward partner for demos, load tests and benchmarks.

    python manage.py fake_partner --port 9100 --schema brand_a [--fail-rate 0.2] [--latency-ms 50]
    python manage.py fake_partner --port 9100 --secret whsec_... [--secret whsec_...]
    python manage.py fake_partner --port 9100 --schema brand_a --award-share 0.5 --award-url http://127.0.0.1:8000

* `POST <any path>` is a submission: the Standard Webhooks signature is verified
  against the known secrets (401 if none matches), the `Idempotency-Key`
  (or `webhook-id`) is honoured — a key already accepted gets the same answer
  again and is not counted twice — and `--fail-rate` of the new calls answer 500
  (failures are not remembered: a retry may succeed, as with a real partner).
* With `--award-share`, that share of the newly accepted submissions gets an award back: a signed
  POST to the brand's award webhook (SPEC §7) at `--award-url`, after `--award-delay` seconds,
  sent by background threads with retries (partners/fake_partner_awards.py).
* `GET /stats` answers the counters as JSON; `GET /healthz` answers "ok".
* Any other `GET` is the participation landing page (`auth_url?token=…`): it
  shows the token's claims and whether its HS256 signature matches a secret.

With `--schema`, the secrets are every partner's `secret` and `previous_secret`
in that brand, re-read when a signature does not match (a partner created
after the server started is picked up).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import random
import signal
import threading
import time
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from partners.fake_partner_awards import (
    DEFAULT_REWARD,
    AwardJob,
    AwardSender,
    award_body,
    utc_now,
    voucher_code,
)

logger = logging.getLogger("partners.fake_partner")

MAX_BODY_BYTES = 1024 * 1024
SECRET_RELOAD_INTERVAL_SECONDS = 5.0


def secrets_of_schema(schema: str) -> list[str]:
    """Every current and previous partner secret of a brand."""
    return sorted(secret_owners_of_schema(schema))


def secret_owners_of_schema(schema: str) -> dict[str, tuple[str, str]]:
    """Each current and previous partner secret of a brand → (partner slug, current secret)."""
    from partners.models import Partner

    with schema_context(schema):
        rows = list(Partner.objects.values_list("slug", "secret", "previous_secret"))
    owners: dict[str, tuple[str, str]] = {}
    for slug, secret, previous in rows:
        if previous:
            owners[previous] = (slug, secret)
    for slug, secret, _ in rows:
        owners[secret] = (slug, secret)
    return owners


def _jwt_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_") + "==")


class FakePartner:
    """The partner's behaviour, independent of HTTP plumbing (thread-safe)."""

    def __init__(
        self,
        *,
        secrets: list[str],
        fail_rate: float = 0.0,
        latency_ms: int = 0,
        schema: str | None = None,
        seed: int | None = None,
        awards: AwardSender | None = None,
        award_share: float = 0.0,
        reward: dict[str, Any] | None = None,
        secret_owners: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.schema = schema
        self.fail_rate = fail_rate
        self.latency_ms = latency_ms
        self.awards = awards
        self.award_share = award_share
        self.reward = reward or DEFAULT_REWARD
        self._secrets = list(secrets)
        self._webhooks = [(secret, Webhook(secret)) for secret in secrets]
        # Which partner a verifying secret belongs to, and that partner's current secret (awards are
        # signed with it): from the brand with --schema, else the --partner-slug given.
        self._owners = dict(secret_owners or {})
        self._secrets_loaded_at = time.monotonic()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self.stats: Counter[str] = Counter()

    # --- secrets
    def _reload_secrets(self) -> None:
        if self.schema is None:
            return
        with self._lock:
            if time.monotonic() - self._secrets_loaded_at < SECRET_RELOAD_INTERVAL_SECONDS:
                return
            self._secrets_loaded_at = time.monotonic()
        try:
            owners = secret_owners_of_schema(self.schema)
        finally:
            connection.close()  # request threads are short-lived: never leave their connection open
        with self._lock:
            self._secrets = sorted(owners)
            self._webhooks = [(secret, Webhook(secret)) for secret in self._secrets]
            self._owners = owners

    def _verify(self, body: bytes, headers: dict[str, str]) -> tuple[dict[str, Any], str] | None:
        """The payload and the secret that verified it, or None."""
        for attempt in range(2):
            for secret, webhook in list(self._webhooks):
                try:
                    return webhook.verify(body, headers), secret
                except WebhookVerificationError:
                    continue
                except ValueError:  # unparsable JSON or signature header
                    return None
            if attempt == 0:
                self._reload_secrets()
        return None

    # --- submissions
    def submission(self, *, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The answer to one POST: (status, JSON body)."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        headers = {key.lower(): value for key, value in headers.items()}
        verified = self._verify(body, headers)
        if verified is None:
            self._count("bad_signature")
            return self._log(401, {"error": "invalid or missing signature"}, headers)
        payload, secret = verified
        key = headers.get("idempotency-key") or headers["webhook-id"]
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # the same key in flight twice: the second waits for the first's answer
            if key in self._answers:
                self._count("duplicates")
                status, answer = self._answers[key]
                return self._log(status, answer | {"idempotent_replay": True}, headers, payload)
            if self._rng.random() < self.fail_rate:
                self._count("failed")
                return self._log(500, {"error": "injected failure"}, headers, payload)
            answer = {"status": "accepted", "dispatch_id": payload.get("dispatch_id"), "key": key}
            self._answers[key] = (200, answer)
            self._count("accepted")
            self._maybe_award(payload, secret)
            return self._log(200, answer, headers, payload)

    def _maybe_award(self, payload: dict[str, Any], secret: str) -> None:
        """Queue an award for `award_share` of the accepted dispatches (never waits for its send)."""
        if self.awards is None or not payload.get("dispatch_id"):
            return
        with self._lock:
            chosen = self._rng.random() < self.award_share
            owner = self._owners.get(secret)
            code = voucher_code(self._rng)
        if not chosen:
            return
        if owner is None:
            self._count("award_without_partner")
            return
        slug, current_secret = owner
        body = award_body(payload=payload, reward=self.reward, now=utc_now(), voucher_code=code)
        self.awards.submit(
            AwardJob(partner_slug=slug, secret=current_secret, webhook_id=body["award_id"], body=body)
        )

    def counters(self) -> dict[str, int]:
        with self._lock:
            counters = dict(self.stats)
        if self.awards is not None:
            counters |= self.awards.counters()
        return counters

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1
            self.stats["requests"] += 1

    def _log(
        self,
        status: int,
        answer: dict[str, Any],
        headers: dict[str, str],
        payload: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        purchase = (payload or {}).get("purchase") or {}
        logger.info(
            "submission",
            extra={
                "answer_status": status,
                "idempotency_key": headers.get("idempotency-key"),
                "dispatch_id": (payload or {}).get("dispatch_id"),
                "partner_tenant": (payload or {}).get("tenant"),
                "campaign_id": ((payload or {}).get("campaign") or {}).get("id"),
                "external_id": purchase.get("external_id"),
                "eligible_value": purchase.get("eligible_value"),
                "replayed": bool(answer.get("idempotent_replay")),
            },
        )
        return status, answer

    # --- participation landing
    def landing(self, token: str | None) -> tuple[int, str]:
        if not token:
            return 400, "<h1>Missing token</h1><p>Expected <code>?token=…</code>.</p>"
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            return 400, f"<h1>Unreadable token</h1><p>{html.escape(str(exc))}</p>"
        verified = False
        for secret in list(self._secrets):
            try:
                jwt.decode(token, _jwt_key(secret), algorithms=["HS256"], options={"verify_aud": False})
            except jwt.PyJWTError:
                continue
            verified = True
            break
        self._count("landings")
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in claims.items()
        )
        state = "valid signature" if verified else "signature NOT verified with the known secrets"
        customer = html.escape(str(claims.get("sub")))
        return 200, (
            f"<!doctype html><title>Fake partner</title><h1>Welcome, {customer}</h1>"
            f"<p>Token: {state}.</p><table>{rows}</table>"
        )


def build_server(fake: FakePartner, *, host: str = "127.0.0.1", port: int = 9100) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakePartner/1.0"
        protocol_version = "HTTP/1.1"  # keep-alive: the dispatcher's pooled connections are reused
        # One segment per answer: headers and body written separately would meet Nagle + delayed ACK
        # (+40 ms per request on Linux).
        disable_nagle_algorithm = True
        wbufsize = 64 * 1024

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
                return
            body = self.rfile.read(length)
            status, answer = fake.submission(body=body, headers=dict(self.headers.items()))
            self._send_json(status, answer)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/healthz":
                self._send(200, b"ok", "text/plain")
            elif url.path == "/stats":
                self._send_json(200, fake.counters())
            else:
                token = (parse_qs(url.query).get("token") or [None])[0]
                status, page = fake.landing(token)
                self._send(status, page.encode(), "text/html; charset=utf-8")

    server = _Server((host, port), Handler)
    server.daemon_threads = True
    return server


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: the 16 connections a dispatch batch opens at once
    # overflowed it, and the dropped SYNs were retried after 1 s (bench/dispatch_send.py measured
    # 16 threads slower than 8).
    request_queue_size = 128


def _stop(signum: int, frame: object) -> None:
    # A second SIGTERM (`kill` of the whole process group, then run_stack.sh's own) must not
    # interrupt the shutdown that the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run a local reward partner: verifies signatures, honours Idempotency-Key, can fail on purpose."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--secret", action="append", default=[], help="a whsec_… secret (repeatable)")
        parser.add_argument("--schema", help="accept the secrets of every partner of this brand")
        parser.add_argument("--fail-rate", type=float, default=0.0, help="share of new calls answered 500")
        parser.add_argument("--latency-ms", type=int, default=0, help="added to every answer")
        parser.add_argument("--seed", type=int, help="seed of the failure draw (reproducible runs)")
        parser.add_argument(
            "--award-share", type=float, default=0.0, help="share of accepted dispatches that get an award"
        )
        parser.add_argument(
            "--award-url", default="", help="the platform's web server, e.g. http://127.0.0.1:8000"
        )
        parser.add_argument("--award-host", default="", help="Host header (default: the brand's domain)")
        parser.add_argument("--award-delay", type=float, default=1.0, help="seconds before an award is sent")
        parser.add_argument("--award-value", default=DEFAULT_REWARD["value"], help="the voucher's value")
        parser.add_argument(
            "--partner-slug", default="", help="with --secret: the partner awards are sent as"
        )

    def handle(self, *args, **options) -> None:
        if not 0 <= options["fail_rate"] <= 1:
            raise CommandError("--fail-rate must be between 0 and 1.")
        if not 0 <= options["award_share"] <= 1:
            raise CommandError("--award-share must be between 0 and 1.")
        if options["award_share"] and not options["award_url"]:
            raise CommandError("--award-share needs --award-url (where the platform's web server listens).")
        schema = options["schema"]
        secrets = list(options["secret"])
        if options["award_share"] and not schema and not options["partner_slug"]:
            raise CommandError(
                "--award-share with --secret needs --partner-slug (the partner awards are sent as)."
            )
        if schema:
            from tenants.models import Brand, Domain

            if schema == get_public_schema_name() or not Brand.objects.filter(schema_name=schema).exists():
                raise CommandError(f"No brand with schema {schema!r}.")
            owners = secret_owners_of_schema(schema)
            secrets += sorted(owners)
            award_host = options["award_host"] or (
                Domain.objects.filter(tenant__schema_name=schema)
                .order_by("-is_primary")
                .values_list("domain", flat=True)
                .first()
            )
        else:
            owners = {}
            award_host = options["award_host"] or None
        if not secrets and not schema:
            raise CommandError(
                "Give --secret whsec_… (repeatable) or --schema S to use its partners' secrets."
            )
        for secret in secrets:
            try:
                Webhook(secret)
            except Exception as exc:
                raise CommandError(f"Not a whsec_ secret: {secret[:12]}…") from exc
        if options["partner_slug"]:
            owners |= {secret: (options["partner_slug"], secret) for secret in options["secret"]}
        connection.close()
        awards = None
        if options["award_share"]:
            awards = AwardSender(
                url=options["award_url"], host=award_host, delay_seconds=options["award_delay"]
            )
        fake = FakePartner(
            secrets=secrets,
            fail_rate=options["fail_rate"],
            latency_ms=options["latency_ms"],
            schema=schema,
            seed=options["seed"],
            awards=awards,
            award_share=options["award_share"],
            reward=DEFAULT_REWARD | {"value": options["award_value"]},
            secret_owners=owners,
        )
        server = build_server(fake, host=options["host"], port=options["port"])
        self.stdout.write(
            f"Fake partner on http://{options['host']}:{options['port']}/ "
            f"({len(secrets)} secret(s), fail rate {options['fail_rate']:.0%}, "
            f"latency {options['latency_ms']} ms, awards for {options['award_share']:.0%} of accepted). "
            "POST any path to submit; GET /stats; Ctrl-C to stop."
        )
        signal.signal(signal.SIGTERM, _stop)  # stop like Ctrl-C: print the counters
        try:
            server.serve_forever(poll_interval=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            if awards is not None:
                awards.stop(timeout=2.0)
            self.stdout.write(f"Stopped. {json.dumps(fake.counters())}")
