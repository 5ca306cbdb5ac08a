"""The remote provider against a local fake OpenAI-compatible server, and the offline fallback."""

from __future__ import annotations

import json

import pytest

from content.offline import OfflineProvider
from content.providers import OpenAICompatibleProvider, generate_texts, remote_provider
from content.types import ContentRequest, GeneratedText
from tests.content.conftest import FACTS

REQUEST = ContentRequest(channel="push", brief="Winter boots for loyal customers", facts=FACTS, variants=3)
GOOD = [{"title": f"Winter boots {i}", "body": "Winter boots: 20% off until 24 December."} for i in "ABC"]


class CountingOffline(OfflineProvider):
    """The offline provider, counting how often it is asked."""

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, request: ContentRequest) -> list[GeneratedText]:
        self.calls += 1
        return super().generate(request)


@pytest.fixture
def offline() -> CountingOffline:
    return CountingOffline()


def test_nothing_configured_means_offline(settings, offline):
    settings.CONTENT_LLM_BASE_URL = ""
    assert remote_provider() is None
    generated = generate_texts(REQUEST, remote=None, offline=offline)
    assert (generated.provider, generated.fallback_reason, offline.calls) == ("offline", "", 1)
    assert generated.providers == ["offline"] * 3


def test_a_good_answer_is_used_and_the_fallback_never_called(fake_llm, offline):
    fake_llm.answers_well(GOOD)
    generated = generate_texts(REQUEST, remote=remote_provider(), offline=offline)
    assert offline.calls == 0
    assert [t.title for t in generated.texts] == ["Winter boots A", "Winter boots B", "Winter boots C"]
    assert (generated.provider, generated.providers, generated.fallback_reason) == (
        "openai",
        ["openai"] * 3,
        "",
    )
    (sent,) = fake_llm.requests
    assert sent["model"] == "fake-model"
    assert sent["response_format"] == {"type": "json_object"}
    assert json.loads(sent["messages"][1]["content"])["facts"] == FACTS


def test_a_slow_answer_times_out_is_not_retried_and_falls_back(fake_llm, offline):
    fake_llm.answers_slowly(1.5, GOOD)
    generated = generate_texts(REQUEST, remote=remote_provider(), offline=offline)
    assert (generated.fallback_reason, offline.calls, generated.providers) == ("timeout", 1, ["offline"] * 3)
    assert len(fake_llm.requests) == 1


def test_429_is_retried_then_falls_back(fake_llm, offline):
    fake_llm.answers_status(429, retry_after="0")
    generated = generate_texts(REQUEST, remote=remote_provider(), offline=offline)
    assert (generated.fallback_reason, offline.calls) == ("rate_limited", 1)
    assert len(fake_llm.requests) == 3  # the first try and CONTENT_LLM_MAX_RETRIES = 2 retries


def test_5xx_is_retried_and_a_later_good_answer_wins(fake_llm, offline):
    answers = iter([503, 500])

    def flaky(body):
        status = next(answers, None)
        if status is None:
            from tests.content.conftest import drafts_answer

            return drafts_answer(GOOD)
        from werkzeug import Response

        return Response("busy", status=status)

    fake_llm.handler = flaky
    generated = generate_texts(REQUEST, remote=remote_provider(), offline=offline)
    assert (generated.fallback_reason, offline.calls, len(fake_llm.requests)) == ("", 0, 3)


def test_a_4xx_is_not_retried(fake_llm, offline):
    fake_llm.answers_status(401)
    generated = generate_texts(REQUEST, remote=remote_provider(), offline=offline)
    assert (generated.fallback_reason, offline.calls, len(fake_llm.requests)) == ("client_error", 1, 1)


@pytest.mark.parametrize(
    "content",
    [
        '{"drafts": [{"title": "Winter boots", "body": "20% off"',  # cut off
        "Sure! Here are your drafts: winter boots, 20% off.",  # prose, not JSON
        '{"drafts": []}',  # no draft
        '{"drafts": [{"title": 5, "body": ["x"]}]}',  # wrong types
        '{"answer": "winter boots"}',  # wrong shape
    ],
)
def test_broken_json_falls_back(fake_llm, offline, content):
    fake_llm.answers_content(content)
    generated = generate_texts(REQUEST, remote=remote_provider(), offline=offline)
    assert (generated.fallback_reason, offline.calls, len(fake_llm.requests)) == ("bad_json", 1, 1)


def test_a_broken_envelope_falls_back(fake_llm, offline):
    fake_llm.answers_raw('{"choices": [')
    generated = generate_texts(REQUEST, remote=remote_provider(), offline=offline)
    assert (generated.fallback_reason, offline.calls) == ("bad_json", 1)


def test_nothing_listening_falls_back(settings, offline):
    settings.CONTENT_LLM_BASE_URL = "http://127.0.0.1:9/v1"
    settings.CONTENT_LLM_MAX_RETRIES = 2
    generated = generate_texts(REQUEST, remote=remote_provider(), offline=offline)
    assert (generated.fallback_reason, offline.calls) == ("connection_error", 1)


def test_a_short_answer_is_completed_offline(fake_llm, offline):
    fake_llm.answers_well(GOOD[:1])
    generated = generate_texts(REQUEST, remote=remote_provider(), offline=offline)
    assert generated.providers == ["openai", "offline", "offline"]
    assert generated.fallback_reason == "too_few_drafts"


def test_the_prompt_hash_names_the_prompt():
    provider = OpenAICompatibleProvider(base_url="http://127.0.0.1:9/v1", model="m", api_key="", timeout_seconds=1,
                                        max_retries=0, retry_base_seconds=0, retry_max_seconds=0)  # fmt: skip
    same = provider.prompt_hash(REQUEST)
    assert same == provider.prompt_hash(REQUEST)
    assert same != provider.prompt_hash(
        ContentRequest(channel="push", brief="Other", facts=FACTS, variants=3)
    )
    assert len(same) == 64
