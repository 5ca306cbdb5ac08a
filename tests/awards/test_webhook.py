"""Award webhook (SPEC §7): the signature is the authentication; each award and notification exists once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

import awards.services as awards_module
from awards.models import Award
from awards.services import AwardData, award_receive
from notifications.models import Notification
from outbox.models import OutboxMessage
from tests.campaigns.factories import CampaignFactory
from tests.notifications.helpers import MINUTES_6, award_body, post_award
from tests.partners.factories import PartnerFactory, make_whsec


@pytest.fixture
def campaign(brand_a):
    return CampaignFactory(status="active", partner=PartnerFactory(slug="acme"))


def _nothing_created():
    return (
        not Award.objects.exists()
        and not Notification.objects.exists()
        and not OutboxMessage.objects.exists()
    )


def test_a_signed_award_creates_one_award_and_enqueues_one_notification(tenant_client, campaign):
    body = award_body(campaign.pk, customer_id="cust-7", value="10.5")

    response = post_award(tenant_client, "acme", campaign.partner.secret, body)

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["award_id"] == body["award_id"]
    assert data["partner"] == "acme"
    assert data["campaign_id"] == campaign.pk
    assert data["customer_id"] == "cust-7"
    assert data["value"] == "10.50"  # in the currency's minor unit
    assert data["notification"]["status"] == "queued"
    award = Award.objects.get()
    assert award.value == Decimal("10.5")
    assert award.expires_at == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    notification = Notification.objects.get()
    assert notification.award == award
    assert notification.customer_id == "cust-7"
    assert notification.title == "You won!"
    assert notification.body == f"10.50 EUR for {campaign.name}"
    message = OutboxMessage.objects.get()
    assert message.task_name == "notifications.send"
    assert message.args == [str(notification.pk)]


def test_only_the_required_fields_are_needed(tenant_client, campaign):
    body = {"award_id": "a1", "customer_id": "c1", "campaign_id": campaign.pk, "reward_type": "special_offer"}
    response = post_award(tenant_client, "acme", campaign.partner.secret, body)
    assert response.status_code == 201, response.content
    award = Award.objects.get()
    assert (award.value, award.currency, award.voucher_code, award.expires_at, award.message) == (
        None,
        "",
        "",
        None,
        "",
    )


def test_a_replayed_webhook_id_answers_200_with_the_same_award(tenant_client, campaign):
    body = award_body(campaign.pk)
    first = post_award(tenant_client, "acme", campaign.partner.secret, body, msg_id="msg_1")
    again = post_award(tenant_client, "acme", campaign.partner.secret, body, msg_id="msg_1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["award_id"] == first.json()["award_id"]
    assert Award.objects.count() == 1
    assert Notification.objects.count() == 1
    assert OutboxMessage.objects.count() == 1


def test_a_known_award_id_under_a_new_webhook_id_answers_200(tenant_client, campaign):
    body = award_body(campaign.pk)
    assert post_award(tenant_client, "acme", campaign.partner.secret, body, msg_id="msg_1").status_code == 201
    resent = post_award(
        tenant_client, "acme", campaign.partner.secret, body | {"value": "99"}, msg_id="msg_2"
    )
    assert resent.status_code == 200
    assert Decimal(resent.json()["value"]) == Decimal("10")  # first write wins
    assert Award.objects.count() == 1
    assert Notification.objects.count() == 1


def test_the_same_award_id_from_two_partners_is_two_awards(tenant_client, campaign):
    other = CampaignFactory(status="active", partner=PartnerFactory(slug="other"))
    assert post_award(tenant_client, "acme", campaign.partner.secret, award_body(campaign.pk, award_id="x"))
    response = post_award(tenant_client, "other", other.partner.secret, award_body(other.pk, award_id="x"))
    assert response.status_code == 201
    assert Award.objects.count() == 2


def test_losing_the_insert_race_answers_with_the_winners_award(campaign, monkeypatch):
    """The IntegrityError path: a concurrent twin inserted between our lookup and our INSERT."""
    data = AwardData(award_id="race", customer_id="c", campaign_id=campaign.pk, reward_type="voucher")
    winner, created = award_receive(partner=campaign.partner, webhook_id="msg_a", data=data)
    assert created

    real_lookup = awards_module._existing_award
    calls = []

    def stale_first_lookup(**kwargs):
        calls.append(kwargs)
        return None if len(calls) == 1 else real_lookup(**kwargs)

    monkeypatch.setattr(awards_module, "_existing_award", stale_first_lookup)
    award, created = award_receive(partner=campaign.partner, webhook_id="msg_b", data=data)
    assert not created
    assert award.pk == winner.pk
    assert len(calls) == 2
    assert Award.objects.count() == 1
    assert Notification.objects.count() == 1


@pytest.mark.parametrize(
    "case",
    [
        "bad_signature",
        "stale_timestamp",
        "future_timestamp",
        "wrong_partner",
        "tampered_body",
        "unknown_partner",
    ],
)
def test_unauthenticated_deliveries_are_401_and_create_nothing(tenant_client, campaign, case):
    other = PartnerFactory(slug="other")
    secret, slug, at, sent_raw = campaign.partner.secret, "acme", None, None
    body = award_body(campaign.pk)
    if case == "bad_signature":
        secret = make_whsec()
    elif case == "stale_timestamp":
        at = datetime.now(UTC) - MINUTES_6
    elif case == "future_timestamp":
        at = datetime.now(UTC) + MINUTES_6
    elif case == "wrong_partner":
        secret = other.secret  # signed by another partner, posted as acme
    elif case == "tampered_body":
        sent_raw = json.dumps(body | {"value": "1000.00"})
    elif case == "unknown_partner":
        slug = "nobody"

    response = post_award(tenant_client, slug, secret, body, at=at, sent_raw=sent_raw)

    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "invalid_signature"
    assert _nothing_created()


def test_an_unknown_partner_gets_the_same_answer_as_a_bad_signature(tenant_client, campaign):
    unknown = post_award(tenant_client, "nobody", make_whsec(), award_body(campaign.pk))
    bad = post_award(tenant_client, "acme", make_whsec(), award_body(campaign.pk))
    assert unknown.status_code == bad.status_code == 401
    assert unknown.json() == bad.json()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_WEBHOOK_ID": "m", "HTTP_WEBHOOK_TIMESTAMP": "1", "HTTP_WEBHOOK_SIGNATURE": "garbage"},
        {"HTTP_WEBHOOK_ID": "m", "HTTP_WEBHOOK_TIMESTAMP": "nan", "HTTP_WEBHOOK_SIGNATURE": "v1,!!!"},
    ],
)
def test_missing_or_malformed_signature_headers_are_401(tenant_client, campaign, headers):
    response = tenant_client.post(
        "/api/v1/partners/acme/awards/",
        data=json.dumps(award_body(campaign.pk)),
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 401
    assert _nothing_created()


def test_a_non_utf8_body_is_401_not_500(tenant_client, campaign):
    response = tenant_client.post(
        "/api/v1/partners/acme/awards/",
        data=b"\xff\xfe{",
        content_type="application/json",
        HTTP_WEBHOOK_ID="m",
        HTTP_WEBHOOK_TIMESTAMP=str(int(timezone.now().timestamp())),
        HTTP_WEBHOOK_SIGNATURE="v1,AAAA",
    )
    assert response.status_code == 401


def test_an_api_key_is_not_a_signature(make_api_client, campaign):
    client = make_api_client("brand_a", "ingest")
    response = client.post("/api/v1/partners/acme/awards/", data=award_body(campaign.pk), format="json")
    assert response.status_code == 401


def test_the_previous_secret_is_accepted_until_its_validity_ends(tenant_client, campaign):
    partner = campaign.partner
    old_secret = partner.secret
    partner.secret = make_whsec()
    partner.previous_secret = old_secret
    partner.previous_secret_valid_until = timezone.now() + timedelta(hours=1)
    partner.save()

    assert post_award(tenant_client, "acme", old_secret, award_body(campaign.pk)).status_code == 201
    assert post_award(tenant_client, "acme", partner.secret, award_body(campaign.pk)).status_code == 201

    partner.previous_secret_valid_until = timezone.now() - timedelta(seconds=1)
    partner.save()
    assert post_award(tenant_client, "acme", old_secret, award_body(campaign.pk)).status_code == 401
    assert post_award(tenant_client, "acme", partner.secret, award_body(campaign.pk)).status_code == 201
    assert Award.objects.count() == 3


def test_an_inactive_partner_is_403(tenant_client, campaign):
    campaign.partner.is_active = False
    campaign.partner.save()
    response = post_award(tenant_client, "acme", campaign.partner.secret, award_body(campaign.pk))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "partner_inactive"
    assert _nothing_created()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{not json", None),
        ('{"award_id": NaN}', None),
        ("[1, 2]", "non_field_errors"),
        ("__missing_award_id__", "award_id"),
        ("__bad_reward_type__", "reward_type"),
        ("__negative_value__", "value"),
        ("__bad_currency__", "currency"),
        ("__value_without_currency__", "currency"),
        ("__bad_expires_at__", "expires_at"),
        ("__campaign_id_not_int__", "campaign_id"),
    ],
)
def test_malformed_bodies_are_400_and_create_nothing(tenant_client, campaign, raw, field):
    body = award_body(campaign.pk)
    mutations = {
        "__missing_award_id__": lambda b: {k: v for k, v in b.items() if k != "award_id"},
        "__bad_reward_type__": lambda b: b | {"reward_type": "cash"},
        "__negative_value__": lambda b: b | {"value": "-1"},
        "__bad_currency__": lambda b: b | {"currency": "EURO"},
        "__value_without_currency__": lambda b: b | {"currency": ""},
        "__bad_expires_at__": lambda b: b | {"expires_at": "tomorrow"},
        "__campaign_id_not_int__": lambda b: b | {"campaign_id": "abc"},
    }
    if raw in mutations:
        raw = json.dumps(mutations[raw](body))
    response = post_award(tenant_client, "acme", campaign.partner.secret, raw)
    assert response.status_code == 400, response.content
    if field:
        assert field in response.json()["error"]["fields"]
    assert _nothing_created()


def test_an_unknown_campaign_is_422(tenant_client, campaign):
    response = post_award(tenant_client, "acme", campaign.partner.secret, award_body(9_999_999))
    assert response.status_code == 422
    assert "campaign_id" in response.json()["error"]["fields"]
    assert _nothing_created()


def test_a_campaign_of_another_partner_is_422(tenant_client, campaign):
    foreign = CampaignFactory(status="active", partner=PartnerFactory(slug="other"))
    response = post_award(tenant_client, "acme", campaign.partner.secret, award_body(foreign.pk))
    assert response.status_code == 422
    assert _nothing_created()


def test_another_brands_campaign_on_this_host_is_422_never_data(brand_b, tenant_client, campaign):
    with tenant_context(brand_b):
        foreign = CampaignFactory(
            status="active", partner=PartnerFactory(slug="acme", secret=campaign.partner.secret)
        )
        foreign_id = foreign.pk
    from campaigns.models import Campaign

    Campaign.objects.filter(pk=foreign_id).exclude(pk=campaign.pk).delete()
    if foreign_id == campaign.pk:
        pytest.skip("ids collided across schemas")
    response = post_award(tenant_client, "acme", campaign.partner.secret, award_body(foreign_id))
    assert response.status_code == 422
    assert foreign.name not in response.content.decode()
    with tenant_context(brand_b):
        assert not Award.objects.exists()


def test_an_award_arriving_on_brand_b_host_with_brand_a_partner_secret_is_401(
    brand_b, make_api_client, campaign
):
    client = make_api_client("brand_b", "ingest")
    client.credentials()  # no key: the webhook does not use one
    response = post_award(client, "acme", campaign.partner.secret, award_body(campaign.pk))
    assert response.status_code == 401


def test_a_customers_awards_newest_first_paginated(ingest_client, campaign):
    partner = campaign.partner
    for index in range(3):
        post_award(
            ingest_client,
            "acme",
            partner.secret,
            award_body(campaign.pk, award_id=f"a{index}", customer_id="c9"),
        )
    post_award(
        ingest_client, "acme", partner.secret, award_body(campaign.pk, award_id="other", customer_id="c8")
    )

    response = ingest_client.get("/api/v1/customers/c9/awards/?page_size=2")

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 3
    assert [a["award_id"] for a in data["results"]] == ["a2", "a1"]
    assert data["results"][0]["notification"] == {"status": "queued", "sent_at": None}
    second = ingest_client.get("/api/v1/customers/c9/awards/?page_size=2&page=2").json()
    assert [a["award_id"] for a in second["results"]] == ["a0"]
    assert ingest_client.get("/api/v1/customers/nobody/awards/").json()["count"] == 0


def test_customer_awards_need_the_ingest_role(crm_client, tenant_client):
    assert crm_client.get("/api/v1/customers/c/awards/").status_code == 403
    assert tenant_client.get("/api/v1/customers/c/awards/").status_code == 401


def test_customer_awards_of_another_brand_are_invisible(brand_b, make_api_client, ingest_client, campaign):
    post_award(ingest_client, "acme", campaign.partner.secret, award_body(campaign.pk, customer_id="shared"))
    client_b = make_api_client("brand_b", "ingest")
    assert client_b.get("/api/v1/customers/shared/awards/").json()["count"] == 0


def test_a_partner_with_an_empty_secret_verifies_nothing(tenant_client, campaign):
    campaign.partner.secret = "whsec_"
    campaign.partner.save()
    response = post_award(tenant_client, "acme", "whsec_" + "A" * 44, award_body(campaign.pk))
    assert response.status_code == 401


def test_a_stored_notification_that_is_not_an_object_does_not_break_the_webhook(tenant_client, campaign):
    campaign.notification = ["not", "an", "object"]
    campaign.save()
    response = post_award(tenant_client, "acme", campaign.partner.secret, award_body(campaign.pk))
    assert response.status_code == 201
    assert response.json()["notification"]["status"] == "dead"


def test_the_webhook_is_throttled_per_partner_and_ip(tenant_client, campaign, monkeypatch):
    from django.core.cache import cache

    from awards.api import AwardWebhookThrottle

    monkeypatch.setattr(AwardWebhookThrottle, "THROTTLE_RATES", {"award_webhook": "2/min"})
    cache.delete_many([f"throttle_award_webhook_{slug}:127.0.0.1" for slug in ("acme", "other")])
    try:
        statuses = [
            post_award(tenant_client, "acme", campaign.partner.secret, award_body(campaign.pk)).status_code
            for _ in range(3)
        ]
        assert statuses == [201, 201, 429]
        # Another partner's budget is its own.
        assert post_award(tenant_client, "other", make_whsec(), award_body(campaign.pk)).status_code == 401
    finally:
        cache.delete_many([f"throttle_award_webhook_{slug}:127.0.0.1" for slug in ("acme", "other")])


def test_participation_for_a_campaign_whose_partner_is_inactive_is_409(ingest_client, campaign):
    campaign.partner.is_active = False
    campaign.partner.save()
    response = ingest_client.post(
        f"/api/v1/campaigns/{campaign.pk}/participation-url/", {"customer_id": "c"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "partner_not_active"


def test_a_broker_down_when_the_award_arrives_loses_no_notification(
    tenant_client, campaign, django_capture_on_commit_callbacks, monkeypatch
):
    from kombu.exceptions import OperationalError

    from config.celery import app
    from outbox.tasks import outbox_relay_task

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis: Connection refused.")

    monkeypatch.setattr(app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_award(tenant_client, "acme", campaign.partner.secret, award_body(campaign.pk))
    assert response.status_code == 201
    message = OutboxMessage.objects.get()
    assert message.relayed_at is None

    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, args, kwargs, **_: sent.append((name, args)))
    outbox_relay_task.run()
    assert sent == [("notifications.send", [str(Notification.objects.get().pk)])]
