"""A local fake OpenAI-compatible server (pytest-httpserver at /v1/chat/completions) and settings using it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug import Request, Response

COMPLETIONS = "/v1/chat/completions"


def completion(content: str) -> dict[str, Any]:
    """A chat completion envelope whose one message is `content`."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def drafts_answer(drafts: list[dict[str, str]]) -> Response:
    return Response(json.dumps(completion(json.dumps({"drafts": drafts}))), content_type="application/json")


class FakeLLM:
    """What the fake server answers, set per test; counts the requests it saw."""

    def __init__(self, httpserver) -> None:
        self.server = httpserver
        self.requests: list[dict[str, Any]] = []
        self.handler: Callable[[dict[str, Any]], Response] = lambda body: drafts_answer([])
        # A slow answer waits on this; the fixture sets it at the end, so the one-threaded server is free.
        self.release = threading.Event()
        httpserver.expect_request(COMPLETIONS, method="POST").respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}")
        self.requests.append(body)
        return self.handler(body)

    def answers_well(self, drafts: list[dict[str, str]]) -> None:
        self.handler = lambda body: drafts_answer(drafts)

    def answers_slowly(self, seconds: float, drafts: list[dict[str, str]]) -> None:
        def slow(body):
            self.release.wait(seconds)
            return drafts_answer(drafts)

        self.handler = slow

    def answers_status(self, status: int, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.handler = lambda body: Response(
            json.dumps({"error": {"message": "no", "type": "error"}}), status=status, headers=headers,
            content_type="application/json",
        )  # fmt: skip

    def answers_content(self, content: str) -> None:
        self.handler = lambda body: Response(json.dumps(completion(content)), content_type="application/json")

    def answers_raw(self, raw: str) -> None:
        self.handler = lambda body: Response(raw, content_type="application/json")


@pytest.fixture
def fake_llm(httpserver, settings) -> Iterator[FakeLLM]:
    """The content settings point at the fake server: short timeout, no back-off between retries."""
    settings.CONTENT_LLM_BASE_URL = httpserver.url_for("/v1")
    settings.CONTENT_LLM_MODEL = "fake-model"
    settings.CONTENT_LLM_API_KEY = "sk-test"
    settings.CONTENT_LLM_TIMEOUT_SECONDS = 0.5
    settings.CONTENT_LLM_MAX_RETRIES = 2
    settings.CONTENT_LLM_RETRY_BASE_SECONDS = 0.0
    settings.CONTENT_LLM_RETRY_MAX_SECONDS = 0.0
    fake = FakeLLM(httpserver)
    yield fake
    fake.release.set()


FACTS = {
    "product": "winter boots",
    "discount": "20%",
    "price": "49.99 EUR",
    "ends_at": "2026-12-24",
    "promo_code": "XMAS25",
    "url": "https://shop.brand.example/boots",
}
