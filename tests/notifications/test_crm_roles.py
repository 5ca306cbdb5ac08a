"""The CRM groups in the brand admin, over HTTP: what each one can see and do with the pipeline's records.

"CRM editor" and "CRM viewer" see purchases, evaluations, dispatches, attempts, awards and
notifications (the dead-letter list included); only the editor replays dead dispatches and dead
notifications, after a confirmation page, audited with the user as actor. A staff user in no
group sees none of it, and the platform's models are not on the brand's host at all.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from core.models import AuditEvent
from dispatches.models import Dispatch, DispatchAttempt
from notifications.models import Notification
from tests.dispatches.factories import make_dispatch

HOST = "brand-a.localhost"
DEAD_LETTERS = "/admin/dispatches/dispatch/?status__exact=dead"
CHANGELISTS = [
    "/admin/purchases/purchase/",
    "/admin/purchases/evaluation/",
    "/admin/dispatches/dispatch/",
    DEAD_LETTERS,
    "/admin/dispatches/dispatchattempt/",
    "/admin/awards/award/",
    "/admin/notifications/notification/",
]
PLATFORM_PAGES = [
    "/admin/tenants/brand/",
    "/admin/django_celery_beat/periodictask/",
    "/admin/monitoring/alarmrule/",
]
VIEW = {
    "purchases.view_purchase",
    "purchases.view_evaluation",
    "dispatches.view_dispatch",
    "dispatches.view_dispatchattempt",
    "purchases.view_purchaserefund",  # refunds and retractions (ADR 0025)
    "dispatches.view_retraction",
    "dispatches.view_retractionattempt",
    "awards.view_award",
    "notifications.view_notification",
}
REPLAY = {"dispatches.replay_dispatch", "notifications.replay_notification"}


def member_of(group: str | None, username: str) -> Client:
    user = get_user_model().objects.create_user(username, password="pw-123456789", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


@pytest.fixture
def editor(brand_a) -> Client:
    return member_of("CRM editor", "erin-editor")


@pytest.fixture
def viewer(brand_a) -> Client:
    return member_of("CRM viewer", "victor-viewer")


@pytest.fixture
def records(make_award, partner):
    dispatch = make_dispatch(partner=partner, status="dead", attempts=3)
    DispatchAttempt.objects.create(
        dispatch=dispatch,
        number=1,
        attempted_at=dispatch.created_at,
        latency_ms=12,
        outcome="dead",
        error="HTTP 500",
    )
    award = make_award(campaign=dispatch.campaign, customer_id=dispatch.purchase.customer_id)
    Notification.objects.filter(pk=award.notification.pk).update(status="dead", attempts=8)
    return dispatch, award


def record_pages(dispatch: Dispatch, award) -> list[str]:
    purchase = dispatch.purchase
    return [
        f"/admin/purchases/purchase/{purchase.pk}/change/",
        f"/admin/purchases/evaluation/{purchase.evaluations.get().pk}/change/",
        f"/admin/dispatches/dispatch/{dispatch.pk}/change/",
        f"/admin/dispatches/dispatchattempt/{dispatch.attempt_log.get().pk}/change/",
        f"/admin/awards/award/{award.pk}/change/",
        f"/admin/notifications/notification/{award.notification.pk}/change/",
    ]


def test_the_groups_hold_the_pipeline_permissions(brand_a):
    def held(name: str) -> set[str]:
        return {
            f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name=name).permissions.select_related("content_type")
            if p.content_type.app_label in {"purchases", "dispatches", "awards", "notifications"}
        }

    assert held("CRM editor") == VIEW | REPLAY
    assert held("CRM viewer") == VIEW


@pytest.mark.parametrize("group", ["editor", "viewer"])
def test_both_groups_see_every_record_view_only(request, group, records):
    client = request.getfixturevalue(group)
    dispatch, award = records
    for url in CHANGELISTS:
        response = client.get(url)
        assert response.status_code == 200, url
    assert dispatch.purchase.external_id in client.get(DEAD_LETTERS).content.decode()
    for url in record_pages(dispatch, award):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert "<h1>View " in page and 'name="_save"' not in page, url
        assert client.post(url, {}).status_code == 403, url  # nothing can be changed
        assert client.get(url.replace("/change/", "/delete/")).status_code == 403, url
    for url in CHANGELISTS[:3] + CHANGELISTS[4:]:
        assert client.get(url.split("?")[0] + "add/").status_code == 403, url


@pytest.mark.parametrize("group", ["editor", "viewer"])
def test_platform_models_are_not_on_the_brand_host(request, group):
    client = request.getfixturevalue(group)
    for url in PLATFORM_PAGES:
        assert client.get(url).status_code == 404, url


def test_a_staff_user_in_no_group_sees_none_of_it(brand_a, records):
    client = member_of(None, "nobody-staff")
    for url in CHANGELISTS:
        assert client.get(url).status_code == 403, url


def test_the_editor_replays_dead_dispatches_after_a_confirmation(editor, records):
    dispatch, _ = records
    sent = make_dispatch(partner=dispatch.partner, campaign=dispatch.campaign, status="sent", attempts=1)
    listing = editor.get(DEAD_LETTERS).content.decode()
    assert 'value="replay_dead"' in listing
    selection = {"action": "replay_dead", "_selected_action": [str(dispatch.pk), str(sent.pk)]}

    confirmation = editor.post("/admin/dispatches/dispatch/", selection)

    assert confirmation.status_code == 200
    page = confirmation.content.decode()
    assert '<strong class="replay-count">1 dead dispatch will be replayed</strong>' in page
    assert "1 dispatch of the 2 selected is not dead and will be left alone." in page
    assert dispatch.purchase.external_id in page
    dispatch.refresh_from_db()
    assert dispatch.status == "dead"  # nothing happens before the confirmation

    done = editor.post("/admin/dispatches/dispatch/", {**selection, "replay_confirmed": "yes"}, follow=True)

    assert "1 dead dispatch replayed: it is pending and will be sent again." in done.content.decode()
    dispatch.refresh_from_db()
    sent.refresh_from_db()
    assert (dispatch.status, dispatch.replay_count, sent.status) == ("pending", 1, "sent")
    event = AuditEvent.objects.get(action="dispatch.replayed", object_id=str(dispatch.pk))
    assert event.actor == "user:erin-editor"


def test_the_editor_replays_dead_notifications_after_a_confirmation(editor, records):
    _, award = records
    url = "/admin/notifications/notification/?status__exact=dead"
    selection = {"action": "replay_dead", "_selected_action": [str(award.notification.pk)]}
    assert "1 dead notification will be replayed" in editor.post(url, selection).content.decode()
    editor.post(url, {**selection, "replay_confirmed": "yes"})
    notification = Notification.objects.get(pk=award.notification.pk)
    assert notification.status == "queued"
    event = AuditEvent.objects.get(action="notification.replayed", object_id=str(notification.pk))
    assert event.actor == "user:erin-editor"


def test_the_viewer_cannot_replay(viewer, records):
    dispatch, award = records
    assert 'value="replay_dead"' not in viewer.get(DEAD_LETTERS).content.decode()
    for url, pk in (
        (DEAD_LETTERS, dispatch.pk),
        ("/admin/notifications/notification/", award.notification.pk),
    ):
        response = viewer.post(
            url,
            {"action": "replay_dead", "_selected_action": [str(pk)], "replay_confirmed": "yes"},
            follow=True,
        )
        assert response.status_code == 200
        assert 'value="replay_dead"' not in response.content.decode()  # no action offered, none run
    dispatch.refresh_from_db()
    assert dispatch.status == "dead"
    assert Notification.objects.get(pk=award.notification.pk).status == "dead"
    replayed = AuditEvent.objects.filter(action__in=["dispatch.replayed", "notification.replayed"])
    assert not replayed.filter(object_id__in=[str(dispatch.pk), str(award.notification.pk)]).exists()
