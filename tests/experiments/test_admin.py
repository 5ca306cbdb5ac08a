"""The experiments admin: a CRM editor starts one with the form and the variants inline (no JSON)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from campaigns.models import Campaign
from core.models import AuditEvent
from experiments.models import Experiment
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db
ADD = "/admin/experiments/experiment/add/"


def _client(django_user_model, group: str) -> Client:
    user = django_user_model.objects.create_user(username=f"x-{group}", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    return client


def _form(campaign, rows):
    data = {
        "campaign": campaign.pk, "name": "Subject line test", "primary_metric": "conversion_rate",
        "coverage": "1", "confidence": "0.95", "min_sample_per_variant": "1000",
        "variants-TOTAL_FORMS": str(len(rows)), "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0", "variants-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for i, (key, weight, title) in enumerate(rows):
        data |= {f"variants-{i}-key": key, f"variants-{i}-weight": str(weight), f"variants-{i}-message_title": title,
                 f"variants-{i}-message_body": "", f"variants-{i}-reward_type": "", f"variants-{i}-reward_value": "",
                 f"variants-{i}-reward_description": ""}  # fmt: skip
    return data


def test_editor_creates_an_experiment_through_the_service(brand_a, django_user_model):
    campaign = CampaignFactory(status=Campaign.Status.ACTIVE)
    client = _client(django_user_model, "CRM editor")
    assert client.get(ADD).status_code == 200
    response = client.post(ADD, _form(campaign, [("A", 1, ""), ("B", 3, "Last chance!")]))
    assert response.status_code == 302, response.content.decode()[:2000]
    experiment = Experiment.objects.get(campaign=campaign)
    assert [(v.key, v.weight, v.message_title) for v in experiment.variants.order_by("position")] == [
        ("A", 1, ""), ("B", 3, "Last chance!"),
    ]  # fmt: skip
    assert AuditEvent.objects.filter(action="experiment.created", object_id=str(experiment.pk)).count() == 1
    page = client.get(f"/admin/experiments/experiment/{experiment.pk}/change/").content.decode()
    assert "experiment-results" in page and "keep running: needs ~1000 more per variant" in page


def test_one_variant_is_refused_with_a_message(brand_a, django_user_model):
    campaign = CampaignFactory(status=Campaign.Status.ACTIVE)
    response = _client(django_user_model, "CRM editor").post(ADD, _form(campaign, [("A", 1, "")]))
    assert response.status_code == 200
    assert "at least two variants" in response.content.decode()
    assert not Experiment.objects.filter(campaign=campaign).exists()


def test_viewer_cannot_add(brand_a, django_user_model):
    assert _client(django_user_model, "CRM viewer").get(ADD).status_code == 403
