"""Alarms a brand sees: default rules come with every brand, fire on the periodic tick, and show —
read-only, and only the brand's own — on a page of the brand admin."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.models import Campaign
from monitoring.alarms.defaults import DEFAULT_RULES
from monitoring.alarms.models import Alarm, AlarmRule
from monitoring.alarms.services import alarm_rules_ensure_defaults
from monitoring.tasks import monitoring_tick_task
from tenants.services import brand_create
from tests.campaigns.factories import CampaignFactory
from tests.dispatches.factories import make_dispatch
from tests.partners.factories import PartnerFactory
from tests.support.html import elements

ALARMS = "/admin/monitoring/brandalarms/"
DEFAULT_NAMES_A = {
    "Dead letters (brand_a)",
    "Dispatch backlog age (brand_a)",
    "Partner failure rate (brand_a)",
    "Webhook endpoints disabled (brand_a)",
    "Campaign budget threshold (brand_a)",
}


def _viewer(django_user_model, host: str, username: str) -> Client:
    user = django_user_model.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="CRM viewer"))
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    return client


def _rows(html: str, css_class: str) -> list[str]:
    return [e["text"] for e in elements(html) if e["tag"] == "tr" and e["attrs"].get("class") == css_class]


def test_every_brand_has_the_default_rules(brands, db):
    for schema in ("brand_a", "brand_b"):
        rules = AlarmRule.objects.filter(brand=brands[schema])
        assert sorted(rules.values_list("kind", flat=True)) == sorted(d.kind for d in DEFAULT_RULES)
        assert all(rule.is_enabled for rule in rules)
    dead = AlarmRule.objects.get(name="Dead letters (brand_a)")
    assert (dead.kind, dead.threshold) == (AlarmRule.Kind.DEAD_LETTERS, Decimal("10.00"))


def test_defaults_are_idempotent_and_keep_what_an_operator_tuned(brands, db):
    brand = brands["brand_a"]
    AlarmRule.objects.filter(name="Dead letters (brand_a)").update(threshold=25, is_enabled=False)
    again = alarm_rules_ensure_defaults(brand=brand)
    assert {rule.name for rule in again} == DEFAULT_NAMES_A
    assert AlarmRule.objects.filter(brand=brand).count() == len(DEFAULT_RULES)
    tuned = AlarmRule.objects.get(name="Dead letters (brand_a)")
    assert (tuned.threshold, tuned.is_enabled) == (Decimal("25.00"), False)


def test_rerunning_brand_creation_and_the_backfill_restore_missing_defaults(brands, db):
    AlarmRule.objects.filter(brand=brands["brand_a"]).delete()
    brand_create(schema_name="brand_a", name="Brand A", domain="brand-a.localhost")  # the create path again
    assert (
        set(AlarmRule.objects.filter(brand=brands["brand_a"]).values_list("name", flat=True))
        == DEFAULT_NAMES_A
    )

    AlarmRule.objects.filter(brand=brands["brand_b"]).delete()
    backfill = __import__(
        "monitoring.alarms.migrations.0002_default_rules_for_existing_brands", fromlist=["add_default_rules"]
    )
    backfill.add_default_rules(apps, schema_editor=None)
    assert AlarmRule.objects.filter(brand=brands["brand_b"]).count() == len(DEFAULT_RULES)
    assert not AlarmRule.objects.filter(brand__schema_name="public").exists()


@pytest.fixture
def dead_letters_a(brand_a):
    """Eleven dead dispatches in brand_a: one above the default threshold of 10."""
    partner = PartnerFactory(slug="alarm-partner-a")
    campaign = CampaignFactory(name="Alarm campaign A", status=Campaign.Status.ACTIVE, partner=partner)
    return [make_dispatch(partner=partner, campaign=campaign, status="dead") for _ in range(11)]


def test_a_default_rule_fires_on_the_tick_and_the_brand_sees_it(django_user_model, dead_letters_a, brand_a):
    result = monitoring_tick_task.run()
    assert result["alarms_changed"] == 1
    alarm = Alarm.objects.get(brand=brand_a, cleared_at__isnull=True)
    assert (alarm.rule.name, alarm.fired_value) == ("Dead letters (brand_a)", 11)

    client = _viewer(django_user_model, "brand-a.localhost", "alarm-viewer-a")
    index = client.get("/admin/").content.decode()
    assert f'href="{ALARMS}"' in index  # linked from the brand admin's index
    overview = client.get("/admin/monitoring/campaignhourlyrollup/").content.decode()
    assert f'href="{ALARMS}"' in overview
    page = client.get(ALARMS)
    assert page.status_code == 200
    html = page.content.decode()
    assert _rows(html, "alarm-firing") == [
        "Dead letters (brand_a) More than 10 dead letters (dispatches that gave up) waiting for replay — "
        f"{alarm.fired_at.astimezone(UTC):%Y-%m-%d %H:%M} 11 11 See the dead letters"
    ]
    assert '<a href="/admin/dispatches/dispatch/?status__exact=dead">See the dead letters</a>' in html
    assert {row.split(" More")[0].split(" A dispatch")[0] for row in _rows(html, "alarm-rule")} >= {
        "Dead letters (brand_a)", "Partner failure rate (brand_a)"
    }  # fmt: skip


def test_the_alarm_page_is_read_only(django_user_model, dead_letters_a):
    monitoring_tick_task.run()
    client = _viewer(django_user_model, "brand-a.localhost", "alarm-viewer-ro")
    assert client.post(ALARMS, {"action": "delete_selected"}).status_code == 405
    alarm = Alarm.objects.get()
    for url in (f"{ALARMS}add/", f"{ALARMS}{alarm.pk}/change/", f"{ALARMS}{alarm.pk}/delete/"):
        assert client.get(url).status_code == 404, url
    assert Alarm.objects.filter(pk=alarm.pk, cleared_at__isnull=True).exists()
    # Staff who may not view campaigns see no alarms either.
    nobody = django_user_model.objects.create_user("alarm-nobody", password="pw", is_staff=True)
    other = Client(HTTP_HOST="brand-a.localhost")
    other.force_login(nobody)
    assert other.get(ALARMS).status_code == 403


def test_brand_b_never_sees_brand_a_alarms_or_rules(django_user_model, dead_letters_a, brands):
    monitoring_tick_task.run()
    assert Alarm.objects.filter(brand=brands["brand_a"], cleared_at__isnull=True).count() == 1
    with schema_context("brand_b"):
        b_rule = AlarmRule.objects.get(name="Partner failure rate (brand_b)")
        Alarm.objects.create(
            rule=b_rule, brand=brands["brand_b"], fired_at=timezone.now(), fired_value=80, last_value=80
        )
        client_b = _viewer(django_user_model, "brand-b.localhost", "alarm-viewer-b")
        html_b = client_b.get(ALARMS).content.decode()
    assert "brand_a" not in html_b and "Dead letters (brand_b)" in html_b
    assert [row.split(" More")[0] for row in _rows(html_b, "alarm-firing")] == [
        "Partner failure rate (brand_b)"
    ]

    client_a = _viewer(django_user_model, "brand-a.localhost", "alarm-viewer-a2")
    html_a = client_a.get(ALARMS).content.decode()
    assert "brand_b" not in html_a
    assert [row.split(" More")[0] for row in _rows(html_a, "alarm-firing")] == ["Dead letters (brand_a)"]
