"""A purchase posted to the API is evaluated by a real Celery worker and handed over to dispatch.

Real Redis, a real (in-process) worker with its own database connection: the
data is committed by helper threads and deleted at the end.
"""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create
from campaigns.models import Campaign
from dispatches.models import Dispatch
from outbox.models import OutboxMessage
from partners.models import Partner
from purchases.models import Evaluation, Purchase
from tests.campaigns.factories import CampaignFactory
from tests.purchases.conftest import in_own_connection, purchase_body

pytestmark = pytest.mark.usefixtures("celery_worker_thread")


def test_posted_purchase_is_evaluated_by_a_real_worker_and_dispatched_once(brands, db):
    test_database = connection.settings_dict["NAME"]
    body = purchase_body()

    def set_up():
        with schema_context("brand_a"):
            campaign = CampaignFactory(status=Campaign.Status.ACTIVE)
            api_key, key = api_key_create(name="end to end", role="ingest")
            return campaign.pk, campaign.partner_id, api_key.pk, key

    campaign_id, partner_id, api_key_id, key = in_own_connection(test_database, set_up)

    def post():
        client = APIClient(HTTP_HOST="brand-a.localhost")
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        first = client.post("/api/v1/purchases/", data=json.dumps(body), content_type="application/json")
        again = client.post("/api/v1/purchases/", data=json.dumps(body), content_type="application/json")
        return first.status_code, again.status_code

    def state():
        with schema_context("brand_a"):
            purchase = Purchase.objects.get(external_id=body["external_id"])
            return (
                purchase.evaluated_at,
                list(
                    Evaluation.objects.filter(purchase=purchase).values_list(
                        "campaign_id", "eligible", "reason"
                    )
                ),
                list(Dispatch.objects.filter(purchase=purchase).values_list("campaign_id", "status")),
            )

    def clean_up():
        with schema_context("brand_a"):
            ids = list(Purchase.objects.filter(external_id=body["external_id"]).values_list("id", flat=True))
            Dispatch.objects.filter(purchase_id__in=ids).delete()
            Purchase.objects.filter(pk__in=ids).delete()
            OutboxMessage.objects.filter(
                task_name__in=["purchases.evaluate_batch", "partners.send_dispatches"]
            ).delete()
            Campaign.objects.filter(pk=campaign_id).delete()
            Partner.objects.filter(pk=partner_id).delete()
            ApiKey.objects.filter(pk=api_key_id).delete()

    try:
        assert in_own_connection(test_database, post) == (202, 200)
        deadline = time.monotonic() + 30
        evaluated_at, evaluations, dispatches = in_own_connection(test_database, state)
        while evaluated_at is None and time.monotonic() < deadline:
            time.sleep(0.2)
            evaluated_at, evaluations, dispatches = in_own_connection(test_database, state)
        assert evaluated_at is not None, "the worker did not evaluate the purchase"
        assert evaluations == [(campaign_id, True, None)]
        assert [campaign for campaign, _ in dispatches] == [campaign_id]
    finally:
        in_own_connection(test_database, clean_up)
