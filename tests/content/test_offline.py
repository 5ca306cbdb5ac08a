"""The offline provider: deterministic, in the brand's locale, facts filled in, always within the rails."""

from __future__ import annotations

import itertools

import pytest

from content import phrases
from content.guard_rails import DraftText, check_draft, compile_policy
from content.offline import OfflineProvider, fact_slots
from content.types import ContentRequest
from tests.content.conftest import FACTS

POLICY = compile_policy(facts=FACTS, allowed_hosts=["brand.example"])


def test_the_same_brief_gives_the_same_output():
    request = ContentRequest(
        channel="email", brief="Winter boots for loyal customers", facts=FACTS, variants=4
    )
    first = OfflineProvider().generate(request)
    assert OfflineProvider().generate(request) == first
    assert (
        OfflineProvider().generate(
            ContentRequest(**{**request.__dict__, "facts": dict(reversed(FACTS.items()))})
        )
        == first
    )
    other = OfflineProvider().generate(
        ContentRequest(**{**request.__dict__, "brief": "Boots for new customers"})
    )
    assert other != first


def test_variants_of_one_request_differ():
    texts = OfflineProvider().generate(ContentRequest(channel="push", brief="Boots", facts=FACTS, variants=4))
    assert len({t.title for t in texts}) == 4


@pytest.mark.parametrize(("channel", "locale", "tone"),
                         list(itertools.product(["email", "sms", "push", "in_app"], ["en", "es", "pt"], phrases.TONES)))  # fmt: skip
def test_every_offline_draft_passes_the_rails_and_states_the_facts(channel, locale, tone):
    for brief in ("Winter boots", "Boots for loyal customers", "Last days"):
        request = ContentRequest(
            channel=channel, brief=brief, facts=FACTS, tone=tone, locale=locale, variants=5
        )
        for text in OfflineProvider().generate(request):
            report = check_draft(DraftText(channel, text.title, text.body, text.html), POLICY)
            assert report.passed, (
                text,
                report.failed_reasons,
                [c.detail for c in report.checks if not c.passed],
            )
            assert "20%" in text.body and "XMAS25" in text.body


def test_dates_are_written_in_the_locale():
    assert fact_slots({"ends_at": "2026-12-24"}, "en")["ends"] == "24 December"
    assert fact_slots({"ends_at": "2026-12-24"}, "es")["ends"] == "24 de diciembre"
    assert fact_slots({"ends_at": "2026-03-05"}, "pt")["ends"] == "5 de março"
    assert fact_slots({"discount": 15, "discount_code": "SAVE15"}, "en") == {
        "discount": "15%",
        "code": "SAVE15",
    }


def test_with_few_facts_it_still_writes_and_invents_nothing():
    for locale in ("en", "es", "pt"):
        texts = OfflineProvider().generate(
            ContentRequest(channel="push", brief="Hello", facts={}, locale=locale, variants=3)
        )
        for text in texts:
            assert check_draft(DraftText("push", text.title, text.body), compile_policy(facts={})).passed, (
                text
            )
