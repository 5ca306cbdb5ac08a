"""A CRM person builds a journey in a real browser: each step shows only its kind's fields, a
mistake comes back on its step, and the saved journey reads as a flow (headless Chromium)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.campaigns.conftest import committed
from tests.support.browser import admin_login, requires_chromium, save_screenshot

SCHEMA = "brand_a"
USERNAME = "browser-journey-editor"
PASSWORD = "browser-journey-password-1"
JOURNEY_NAME = "Browser journey welcome"

pytestmark = requires_chromium


def _cleanup() -> None:
    from django.contrib.auth import get_user_model

    from journeys.models import Journey

    Journey.objects.filter(name=JOURNEY_NAME).delete()
    get_user_model().objects.filter(username=USERNAME).delete()


def _arrange() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    _cleanup()
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="CRM editor"))


@pytest.fixture
def committed_editor(brands, db) -> Iterator[None]:
    committed(SCHEMA, _arrange)
    try:
        yield
    finally:
        committed(SCHEMA, _cleanup)


def test_crm_person_builds_a_journey_step_by_step(live_app, chromium_page, committed_editor):
    from playwright.sync_api import expect

    page = chromium_page
    admin_login(
        page, live_app, username=USERNAME, password=PASSWORD, next_path="/admin/journeys/journey/add/"
    )
    page.fill("#id_name", JOURNEY_NAME)
    page.fill("#id_entry_event", "signup")

    page.select_option("#id_steps-0-kind", "send")
    expect(page.locator("#id_steps-0-body_text")).to_be_visible()
    expect(page.locator("#id_steps-0-wait_days")).to_be_hidden()
    expect(page.locator("#id_steps-0-if1_type")).to_be_hidden()
    page.fill("#id_steps-0-key", "welcome")
    page.select_option("#id_steps-0-channel", "in_app")
    page.fill("#id_steps-0-body_text", "Welcome to the club")
    page.fill("#id_steps-0-next_key", "pause")

    page.select_option("#id_steps-1-kind", "wait")
    expect(page.locator("#id_steps-1-wait_days")).to_be_visible()
    expect(page.locator("#id_steps-1-body_text")).to_be_hidden()
    page.fill("#id_steps-1-key", "pause")
    page.fill("#id_steps-1-wait_days", "2")
    page.fill("#id_steps-1-next_key", "thanks")  # a step that does not exist yet
    save_screenshot(page, "journey-editor")
    page.click("input[name=_save]")
    expect(page.locator(".journey-step[data-step='1'] .errornote")).to_contain_text(
        "No step has the key 'thanks'"
    )

    page.fill("#id_steps-1-next_key", "")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text(JOURNEY_NAME)
    expect(page.locator("ol.journey-flow")).to_contain_text("welcome — send in_app")
    expect(page.locator("ol.journey-flow")).to_contain_text("pause — wait 2 d")
    save_screenshot(page, "journey-flow")

    # The steps page again, saved as it is: its empty forms at the end are skipped.
    page.click("text=Edit the steps")
    expect(page.locator("#id_steps-0-key")).to_have_value("welcome")
    expect(page.locator("#id_steps-1-wait_days")).to_have_value("2")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("were saved (version 1)")

    def stored():
        from journeys.models import Journey
        from journeys.services import steps_of

        return [
            (s["key"], s["kind"], s.get("next")) for s in steps_of(Journey.objects.get(name=JOURNEY_NAME))
        ]

    assert committed(SCHEMA, stored) == [("welcome", "send", "pause"), ("pause", "wait", None)]
