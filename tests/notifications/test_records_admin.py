"""Dispatches, attempts, awards and notifications as a CRM person reads them: readable first columns,
internal fields collapsed, money as money, correct plurals, and links both ways between the records."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from dispatches.models import DispatchAttempt
from tests.dispatches.factories import make_dispatch

HOST = "brand-a.localhost"


@pytest.fixture
def viewer(brand_a) -> Client:
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user("rita-reader", password="pw-123456789", is_staff=True)
    user.groups.add(Group.objects.get(name="CRM viewer"))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


@pytest.fixture
def chain(make_award, partner):
    dispatch = make_dispatch(partner=partner, status="sent", attempts=1)
    attempt = DispatchAttempt.objects.create(
        dispatch=dispatch,
        number=1,
        attempted_at=dispatch.created_at,
        status_code=202,
        latency_ms=40,
        outcome="sent",
    )
    award = make_award(
        campaign=dispatch.campaign, customer_id=dispatch.purchase.customer_id, value=Decimal("5.0000")
    )
    return dispatch, attempt, award


def text(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_the_index_names_every_model_in_good_plural(viewer):
    page = text(viewer.get("/admin/"))
    for name in ["Purchases", "Evaluations", "Dispatches", "Dispatch attempts", "Awards", "Notifications"]:
        assert f">{name}</a>" in page, name
    assert "Dispatchs" not in page


def test_the_dispatch_list_starts_with_what_a_person_recognises(viewer, chain):
    dispatch, _, _ = chain
    page = text(viewer.get("/admin/dispatches/dispatch/"))
    label = f"{dispatch.purchase.external_id} · {dispatch.purchase.customer_id} · {dispatch.campaign.name}"
    assert re.search(
        rf'<th class="field-label"><a href="/admin/dispatches/dispatch/{dispatch.pk}/change/">{label}</a>',
        page,
    )
    assert "Searches the start of the purchase&#x27;s external id or of the customer id" in page
    found = text(viewer.get("/admin/dispatches/dispatch/", {"q": dispatch.purchase.external_id[:6]}))
    assert label in found
    assert label not in text(viewer.get("/admin/dispatches/dispatch/", {"q": "zz-nothing"}))


def test_the_dispatch_page_links_the_chain_and_collapses_internals(viewer, chain):
    dispatch, attempt, award = chain
    page = text(viewer.get(f"/admin/dispatches/dispatch/{dispatch.pk}/change/"))
    assert "<h1>View dispatch</h1>" in page
    assert "claim_token" not in page and "Claim token" not in page
    technical = page[page.index('<fieldset class="module aligned collapse"') :]
    assert "Technical" in technical[:400]
    for internal in ("field-attempt_base", "field-claimed_until"):
        assert (
            internal in technical
            and internal not in page[: page.index('<fieldset class="module aligned collapse"')]
        )
    purchase = dispatch.purchase
    assert f'/admin/purchases/purchase/{purchase.pk}/change/">{purchase.external_id} (80.00 EUR)</a>' in page
    assert f"/admin/purchases/evaluation/{purchase.evaluations.get().pk}/change/" in page
    assert f"/admin/dispatches/dispatchattempt/{attempt.pk}/change/" in page  # the inline's rows
    awards_url = re.search(r'href="(/admin/awards/award/\?[^"]+)"', page).group(1).replace("&amp;", "&")
    assert award.award_id in text(viewer.get(awards_url))
    notifications_url = re.search(r'href="(/admin/notifications/notification/\?[^"]+)"', page).group(1)
    assert award.customer_id in text(viewer.get(notifications_url.replace("&amp;", "&")))


def test_the_attempt_links_back_to_its_dispatch(viewer, chain):
    dispatch, attempt, _ = chain
    page = text(viewer.get(f"/admin/dispatches/dispatchattempt/{attempt.pk}/change/"))
    assert "<h1>View dispatch attempt</h1>" in page
    assert f"/admin/dispatches/dispatch/{dispatch.pk}/change/" in page
    listing = text(viewer.get(f"/admin/dispatches/dispatchattempt/?dispatch__id__exact={dispatch.pk}"))
    assert dispatch.purchase.external_id in listing


def test_the_award_page_shows_money_and_links_both_ways(viewer, chain):
    dispatch, _, award = chain
    page = text(viewer.get(f"/admin/awards/award/{award.pk}/change/"))
    assert "<h1>View award</h1>" in page and "5.00 EUR" in page and "5.0000" not in page
    assert f"/admin/notifications/notification/{award.notification.pk}/change/" in page
    dispatches_url = (
        re.search(r'href="(/admin/dispatches/dispatch/\?[^"]+)"', page).group(1).replace("&amp;", "&")
    )
    assert f"/admin/dispatches/dispatch/{dispatch.pk}/change/" in text(viewer.get(dispatches_url))
    assert "5.00 EUR" in text(viewer.get("/admin/awards/award/"))


def test_the_notification_page_links_to_its_award_and_hides_the_lease(viewer, chain):
    _, _, award = chain
    page = text(viewer.get(f"/admin/notifications/notification/{award.notification.pk}/change/"))
    assert "<h1>View notification</h1>" in page
    assert f"/admin/awards/award/{award.pk}/change/" in page
    assert "claim_token" not in page
    technical = page[page.index('<fieldset class="module aligned collapse"') :]
    assert "field-claimed_until" in technical
