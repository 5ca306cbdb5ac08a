"""Benchmark: a broadcast to a segment of 100,000 customers, 2 % suppressed, 10 % unsubscribed.

Creates a throw-away brand (`bench_broadcast`), fills it server-side (customers with an email and
a phone, one static segment holding all of them, suppressions of every 50th email address and
number, email and sms opt-outs of every 10th customer, one frequency rule "10 per 7 days" so the
cap count runs), then sends the campaign message through the real broadcast path
(`notifications.broadcasts.broadcast_send_batch`: advisory locks, set reads, the gate, bulk insert,
claim, send, record) twice:

* on the console provider (sms, `SMS_PROVIDER=console`: a log line per message, logging off);
* on a local SMTP sink (email, Django's SMTP backend to an aiosmtpd `Sink` in its own process, one
  connection per batch).

Baseline, same run: the one-by-one path (`message_send` + `message_deliver`: one transaction, lock
and set of gate reads per message) on `--baseline` customers, console.

Then it checks that no suppressed or unsubscribed customer got a message, and times the pure gate
(`notifications.gate.evaluate`) over the same 100,000 inputs. The last line is

    RESULT recipients=<n> messages_per_s=<console> smtp_messages_per_s=<smtp> baseline_messages_per_s=<one by one>
           suppressed_sent=<n> unsubscribed_sent=<n> gate_us=<µs a message> loadavg=…

Goals (issue 19): ≥ 1,000 messages/s console, ≥ 300/s SMTP, 0 suppressed or unsubscribed sent, gate < 50 µs.

    .venv/bin/python bench/broadcast.py [--customers 100000] [--smtp-customers N] [--baseline 1000] [--keep]
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from datetime import timedelta

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django(SMS_PROVIDER="console")

from _report import result  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SCHEMA = "bench_broadcast"
HOST = "bench-broadcast.localhost"


def fill(customers: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE notifications_message, notifications_campaignmessage, notifications_suppression,"
            " notifications_preference, notifications_frequencyrule, customers_segmentmember, customers_segment,"
            " customers_customer CASCADE"
        )
        cursor.execute(
            """
            INSERT INTO customers_customer (customer_id, email, phone, locale, timezone, country, attributes,
                                            created_at, bucket)
            SELECT 'cust-' || g, 'cust' || g || '@example.com', '+49151' || lpad(g::text, 8, '0'), 'de-DE',
                   'Europe/Berlin', 'DE', '{}'::jsonb, now(), g %% 1024
            FROM generate_series(1, %s) AS g
            """,
            [customers],
        )
        cursor.execute(
            "INSERT INTO customers_segment (name, kind, definition, version, created_at, updated_at)"
            " VALUES ('everyone', 'static', '{}', 1, now(), now()) RETURNING id"
        )
        segment_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO customers_segmentmember (segment_id, customer_id, added_at)"
            " SELECT %s, id, now() FROM customers_customer",
            [segment_id],
        )
        cursor.execute(
            """
            INSERT INTO notifications_suppression (channel, address, reason, note, created_at)
            SELECT ch, CASE ch WHEN 'email' THEN 'cust' || g || '@example.com' ELSE '+49151' || lpad(g::text, 8, '0') END,
                   'hard_bounce', '', now()
            FROM generate_series(50, %s, 50) AS g, unnest(ARRAY['email', 'sms']) AS ch
            """,
            [customers],
        )
        cursor.execute(
            """
            INSERT INTO notifications_preference (customer_id, channel, topic, opted_in, updated_at)
            SELECT 'cust-' || g, ch, '', false, now()
            FROM generate_series(7, %s, 10) AS g, unnest(ARRAY['email', 'sms']) AS ch
            """,
            [customers],
        )
        cursor.execute(
            "INSERT INTO notifications_frequencyrule (name, channel, max_messages, window_hours, active)"
            " VALUES ('10 a week', '', 10, 168, true)"
        )
        cursor.execute("ANALYZE")
    return segment_id


def campaign_message(segment_id: int, channel: str):
    from campaigns.models import Campaign
    from notifications.models import CampaignMessage
    from tests.campaigns.factories import CampaignFactory
    from tests.partners.factories import PartnerFactory

    campaign = Campaign.objects.first() or CampaignFactory(
        status="active", partner=PartnerFactory(slug="bench")
    )
    return CampaignMessage.objects.create(
        campaign=campaign,
        name=f"bench {channel}",
        segment_id=segment_id,
        first_channel=channel,
        email_subject="{{ campaign.name }} for {{ customer.customer_id }}",
        email_text="Hello {{ customer.customer_id }}",
        email_html='<p>Hello</p><a href="{{ unsubscribe_url }}">unsubscribe</a>',
        sms_text="{{ campaign.name }}: 20% off today",
        batch_size=2000,
        rate_per_second=1_000_000,
    )


def send(cm, limit: int | None = None) -> tuple[int, float]:
    from notifications.broadcasts import broadcast_send_batch, campaign_message_schedule

    campaign_message_schedule(campaign_message_id=cm.pk, actor="system")
    done, started = 0, time.perf_counter()
    while True:
        n = broadcast_send_batch(campaign_message_id=cm.pk, now=timezone.now() + timedelta(seconds=1))
        if n == 0:
            break
        done += n
        if limit and done >= limit:
            break
        print(
            f"  {cm.first_channel}: {done:,} customers, {done / (time.perf_counter() - started):,.0f}/s",
            end="\r",
            flush=True,
        )
    print()
    return done, time.perf_counter() - started


def baseline(count: int) -> float:
    from notifications.messages import message_deliver, message_send

    ids = [f"cust-{g}" for g in range(1, count + 1)]
    started = time.perf_counter()
    for cid in ids:
        message = message_send(customer_id=cid, channel="sms", body_text="baseline", topic="baseline")
        if message.status == "queued":
            message_deliver(message_id=message.pk)
    return count / (time.perf_counter() - started)


def violations() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM notifications_message m JOIN notifications_suppression s
               ON s.channel = m.channel AND s.address = m.address WHERE m.status IN ('sent', 'delivered', 'sending', 'queued')"""
        )
        suppressed = cursor.fetchone()[0]
        cursor.execute(
            """SELECT count(*) FROM notifications_message m JOIN notifications_preference p
               ON p.customer_id = m.customer_id AND p.channel = m.channel AND p.topic = '' AND NOT p.opted_in
               WHERE m.status IN ('sent', 'delivered', 'sending', 'queued') AND m.category = 'marketing'"""
        )
        return suppressed, cursor.fetchone()[0]


def gate_timing(customers: int) -> float:
    from zoneinfo import ZoneInfo

    from notifications import gate

    now = timezone.now()
    zone = ZoneInfo("Europe/Berlin")
    rules = (gate.Rule("", 10, timedelta(days=7)), gate.Rule("sms", 1, timedelta(days=1)))
    recent = ((now - timedelta(hours=5), "email"),)
    inputs = [
        (
            gate.GateRequest(channel="sms", category="marketing", topic="", address=f"+49{g}", now=now),
            gate.GateContext(
                suppressed=g % 50 == 0,
                preferences={("sms", ""): False} if g % 10 == 7 else {},
                timezone=zone,
                quiet_hours=(settings_time(22), settings_time(8)),
                rules=rules,
                recent=recent,
            ),
        )
        for g in range(customers)
    ]
    started = time.perf_counter()
    for request, context in inputs:
        gate.evaluate(request, context)
    return (time.perf_counter() - started) / len(inputs) * 1e6


def settings_time(hour: int):
    from datetime import time as clock

    return clock(hour, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--smtp-customers", type=int, default=None, help="default: all")
    parser.add_argument("--baseline", type=int, default=1000)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    logging.disable(logging.WARNING)  # the console provider logs each message at INFO
    port = _brand.free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
    )
    _brand.brand_ready(SCHEMA, "Bench broadcast", HOST)
    try:
        with schema_context(SCHEMA):
            started = time.perf_counter()
            segment_id = fill(options.customers)
            print(
                f"filled {options.customers:,} customers in {time.perf_counter() - started:.1f} s", flush=True
            )
            base_rate = baseline(options.baseline)
            print(f"baseline (one by one, console): {base_rate:,.0f} messages/s", flush=True)
            done, seconds = send(campaign_message(segment_id, "sms"))
            console_rate = done / seconds
            print(f"console (sms): {done:,} customers in {seconds:.1f} s = {console_rate:,.0f}/s", flush=True)
            settings.MESSAGE_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
            settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
            settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
            settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
            done_smtp, seconds_smtp = send(
                campaign_message(segment_id, "email"), limit=options.smtp_customers
            )
            smtp_rate = done_smtp / seconds_smtp
            print(
                f"smtp (email): {done_smtp:,} customers in {seconds_smtp:.1f} s = {smtp_rate:,.0f}/s",
                flush=True,
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT channel, status, skip_reason, count(*) FROM notifications_message"
                    " WHERE topic = '' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
                )
                for row in cursor.fetchall():
                    print("  ", *row)
            suppressed_sent, unsubscribed_sent = violations()
            gate_us = gate_timing(options.customers)
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        if not options.keep:
            _brand.drop_brand(SCHEMA)
    result(
        recipients=options.customers,
        messages_per_s=round(console_rate),
        smtp_messages_per_s=round(smtp_rate),
        baseline_messages_per_s=round(base_rate),
        suppressed_sent=suppressed_sent,
        unsubscribed_sent=unsubscribed_sent,
        gate_us=round(gate_us, 2),
    )


if __name__ == "__main__":
    main()
