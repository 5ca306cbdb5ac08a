"""The guard rails (content/guard_rails.py): each rule a named reason; invented facts never pass."""

from __future__ import annotations

import random
from datetime import date

import pytest

from content import guard_rails as rails
from content.guard_rails import DraftText, check_draft, compile_policy
from content.providers import OpenAICompatibleProvider
from content.types import ContentRequest
from tests.content.adversarial import adversarial_draft, honest_draft
from tests.content.conftest import FACTS, drafts_answer

POLICY = compile_policy(facts=FACTS, allowed_hosts=["brand.example"], blocked_terms=["cheap", "best ever"])


def failed(draft: DraftText, policy=POLICY) -> list[str]:
    return check_draft(draft, policy).failed_reasons


def test_every_reason_is_in_the_report_passed_or_not():
    report = check_draft(DraftText("push", title="Winter boots", body="20% off until 24 December."), POLICY)
    assert [c.reason for c in report.checks] == list(rails.REASONS)
    assert report.passed
    assert report.as_dict()["failed"] == []


@pytest.mark.parametrize(
    ("draft", "reason"),
    [
        (DraftText("sms", body="Winter boots: 20% off until 24 December. " * 4), rails.CHANNEL_LENGTH),
        # Ç is GSM-7, ã is not: 71 UCS-2 characters are two segments.
        (DraftText("sms", body="Promoção " + "a" * 62), rails.CHANNEL_LENGTH),
        (DraftText("push", title="Winter boots for the whole family, all winter long!", body="Boots."),
         rails.CHANNEL_LENGTH),
        (DraftText("push", title="Boots", body=""), rails.CHANNEL_LENGTH),
        (DraftText("push", title="Hi {{ customer.first_name }}", body="Boots."), rails.UNKNOWN_VARIABLE),
        (DraftText("push", title="Hi", body="{% include 'x' %}"), rails.UNKNOWN_VARIABLE),
        (DraftText("push", title="Boots", body="30% off winter boots"), rails.INVENTED_FACT),
        (DraftText("push", title="Boots", body="Now €39.99"), rails.INVENTED_FACT),
        (DraftText("push", title="Boots", body="Until 31 December"), rails.INVENTED_FACT),
        (DraftText("push", title="Boots", body="Visit https://evil.example/boots"), rails.DISALLOWED_LINK),
        (DraftText("push", title="Boots", body="Visit shop.evil.com today"), rails.DISALLOWED_LINK),
        (DraftText("push", title="Boots", body="Visit https://brand.example@evil.example/"), rails.DISALLOWED_LINK),
        (DraftText("email", title="Boots", body="Boots.", html='<a href="javascript:alert(1)">x</a>'),
         rails.DISALLOWED_LINK),
        (DraftText("email", title="Boots", body="Boots.", html="<p>Hi<script>alert(1)</script></p>"), rails.UNSAFE_HTML),
        (DraftText("email", title="Boots", body="Boots.", html='<p onclick="steal()">Hi</p>'), rails.UNSAFE_HTML),
        (DraftText("push", title="Boots", body="<b>Boots</b>"), rails.UNSAFE_HTML),
        (DraftText("push", title="Boots", body="The CHEAP boots"), rails.BLOCKED_TERM),
        (DraftText("push", title="Boots", body="Our Best\n ever boots"), rails.BLOCKED_TERM),
        (DraftText("push", title="Boots", body="Holy sh1t, boots"), rails.PROFANITY_REASON),
        (DraftText("push", title="Boots", body="¡Qué mierda de frío! Botas."), rails.PROFANITY_REASON),
        (DraftText("email", title="RE: your order", body="Boots."), rails.MISLEADING_SUBJECT),
        (DraftText("push", title="Fwd: boots", body="Boots."), rails.MISLEADING_SUBJECT),
    ],
)  # fmt: skip
def test_each_rule_fails_with_its_reason(draft, reason):
    assert reason in failed(draft)


def test_facts_in_other_forms_pass():
    for body in [
        "20 % off winter boots, from 49,99 EUR",
        "Botas de invierno: 20% de descuento hasta el 24 de diciembre de 2026",
        "Botas até 24 de dezembro. Código XMAS25",
        "Ends Dec 24th. Only in 2026.",
        "Twenty percent off winter boots, code XMAS25.",
        "Ends 24/12/2026 — https://shop.brand.example/boots",
        "Hi {{ customer.customer_id }}, your boots: {{ campaign.name }}",
    ]:
        assert failed(DraftText("push", title="Boots", body=body)) == [], body


def test_subdomains_of_allowed_hosts_and_mailto_pass_others_do_not():
    assert failed(DraftText("push", title="Boots", body="https://www.shop.brand.example/")) == []
    assert failed(DraftText("push", title="Boots", body="mailto:help@brand.example")) == []
    assert rails.DISALLOWED_LINK in failed(
        DraftText("push", title="Boots", body="https://brand.example.evil.io/")
    )


def test_the_sanitised_html_is_the_one_kept():
    report = check_draft(
        DraftText(
            "email",
            title="Boots",
            body="Boots.",
            html='<p>Hi <img src="x" onerror="x()"></p><script>1</script>',
        ),
        compile_policy(facts={}, allowed_hosts=[]),
    )
    assert "script" not in report.html and "onerror" not in report.html
    assert rails.UNSAFE_HTML in report.failed_reasons


def test_fact_values_of_every_type():
    policy = compile_policy(
        facts={"ends": date(2026, 3, 5), "discount": 15, "price": 9.5, "tags": ["12 colours"]}
    )
    assert (
        failed(DraftText("push", title="Boots", body="15% off, 9.50 €, until 5 March, 12 colours"), policy)
        == []
    )
    assert rails.INVENTED_FACT in failed(DraftText("push", title="Boots", body="16% off"), policy)


def test_an_sms_within_one_segment_passes_and_the_brand_may_allow_more():
    long_sms = DraftText("sms", body="Winter boots: 20% off until 24 December. " * 4)
    assert rails.CHANNEL_LENGTH in failed(long_sms)
    assert failed(long_sms, compile_policy(facts=FACTS, sms_max_segments=3)) == []


def test_honest_drafts_pass():
    rng = random.Random(7)
    for _ in range(200):
        draft = honest_draft(rng)
        assert failed(DraftText("push", **draft)) == [], draft


def test_no_draft_with_an_invented_number_passes_over_1000_from_the_fake_server(fake_llm):
    """1,000 adversarial drafts come back from the fake OpenAI-compatible server in batches of 50; the
    filter is run on each directly. Not one passes, and each fails for `invented_fact`."""
    rng = random.Random(2026)
    fake_llm.handler = lambda body: drafts_answer([adversarial_draft(rng) for _ in range(50)])
    provider = OpenAICompatibleProvider(
        base_url=fake_llm.server.url_for("/v1"), model="fake-model", api_key="sk-test", timeout_seconds=5,
        max_retries=0, retry_base_seconds=0, retry_max_seconds=0,
    )  # fmt: skip
    request = ContentRequest(channel="push", brief="Winter boots", facts=FACTS, variants=50)
    seen, passed, without_reason = 0, [], []
    for _ in range(20):
        for text in provider.generate(request):
            seen += 1
            report = check_draft(DraftText("push", title=text.title, body=text.body), POLICY)
            if report.passed:
                passed.append(text)
            elif rails.INVENTED_FACT not in report.failed_reasons:
                without_reason.append((text, report.failed_reasons))
    assert seen == 1000 and len(fake_llm.requests) == 20
    assert [t.body for t in passed] == []
    assert without_reason == []
