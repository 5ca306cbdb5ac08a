"""Providers of generated content (SPEC §17) and the fallback between them.

* `OpenAICompatibleProvider`: any server speaking OpenAI's chat completions (`CONTENT_LLM_BASE_URL`,
  `CONTENT_LLM_MODEL`, `CONTENT_LLM_API_KEY`), through the `openai` client with its own retries off:
  we retry 429 and 5xx only (`CONTENT_LLM_MAX_RETRIES`, exponential back-off raised to `Retry-After`),
  never a timeout (`CONTENT_LLM_TIMEOUT_SECONDS`, 10 s), a connection failure or another 4xx. JSON
  output is requested (`response_format`) and validated with pydantic; an answer that does not
  validate is a failure like any other.
* `OfflineProvider` (content/offline.py): deterministic, from the phrase bank. The provider when none
  is configured, and the fallback when the remote call fails: `generate_texts` records the reason
  (`timeout`, `rate_limited`, `server_error`, `bad_json`, `connection_error`, `client_error`) on the
  generation and logs it, so a failing remote is visible, never silent.

No model weights are involved anywhere: the remote provider is an HTTP call, the offline one a phrase
bank (ADR 0026).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

import openai
from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from content.offline import OfflineProvider, canonical
from content.types import ContentRequest, GeneratedText, Provider, ProviderFailure
from core.templating import MESSAGE_TEMPLATE_VARIABLES, TEMPLATE_VARIABLES

logger = logging.getLogger(__name__)

REMOTE_NAME = "openai"
LANGUAGES = {"en": "English", "es": "Spanish", "pt": "Portuguese"}
CHANNEL_RULES = {
    "email": "an email: `title` is the subject (at most 78 characters), `body` the plain text, `html` the same "
    "content as simple HTML (p, a, strong, em, ul, li only)",
    "sms": "an SMS: `body` only, at most 160 GSM-7 characters (70 if it needs other characters); `title` and "
    "`html` empty",
    "push": "a push notification: `title` at most 50 characters, `body` at most 178; `html` empty",
    "in_app": "an in-app message: `title` at most 80 characters, `body` at most 1000; `html` empty",
}


class RemoteDraft(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str = Field(default="", max_length=500)
    body: str = Field(default="", max_length=100_000)
    html: str = Field(default="", max_length=100_000)


class RemoteAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    drafts: list[RemoteDraft] = Field(min_length=1, max_length=50)


def build_messages(request: ContentRequest) -> list[dict[str, str]]:
    variables = ", ".join(
        "{{ " + name + " }}" for name in {**MESSAGE_TEMPLATE_VARIABLES, **TEMPLATE_VARIABLES}
    )
    system = (
        f"You write marketing copy for a brand, in {LANGUAGES.get(request.locale, 'English')}, with a "
        f"{request.tone} tone. Write {CHANNEL_RULES[request.channel]}. Rules you must keep: state no number, "
        "price, percentage, date or time that is not in the facts, and write those exactly as given; invent no "
        "offer; no link except a URL given in the facts; no template variables other than "
        f"{variables}; no profanity; a subject never starts with Re: or Fwd:. Answer only with a JSON object "
        f'{{"drafts": [{{"title": "...", "body": "...", "html": "..."}}]}} holding exactly {request.variants} '
        "different drafts."
    )
    user = canonical({"brief": request.brief, "facts": request.facts, "variants": request.variants})
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _retry_after(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after") if error.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAICompatibleProvider:
    name = REMOTE_NAME

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str,
        timeout_seconds: float,
        max_retries: int,
        retry_base_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        self.model = model
        self.max_retries = max_retries
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        # The client's own retries are off: it would also retry timeouts, connection errors, 408 and 409.
        self.client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_seconds, max_retries=0
        )

    def prompt_hash(self, request: ContentRequest) -> str:
        payload = {"provider": self.name, "model": self.model, "messages": build_messages(request)}
        return hashlib.sha256(canonical(payload).encode()).hexdigest()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.retry_max_seconds, self.retry_base_seconds * 2 ** (attempt - 1))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_max_seconds))
        return delay

    def _complete(self, request: ContentRequest) -> str:
        attempt = 0
        while True:
            attempt += 1
            try:
                completion = self.client.chat.completions.create(
                    model=self.model,
                    messages=build_messages(request),
                    response_format={"type": "json_object"},
                    temperature=0.7,
                )
            except openai.APITimeoutError as error:
                raise ProviderFailure("timeout", str(error)) from error
            except openai.APIConnectionError as error:
                raise ProviderFailure("connection_error", str(error)) from error
            except openai.APIStatusError as error:
                status = error.status_code
                retryable = status == 429 or status >= 500
                if not retryable:
                    raise ProviderFailure("client_error", f"HTTP {status}") from error
                if attempt > self.max_retries:
                    reason = "rate_limited" if status == 429 else "server_error"
                    raise ProviderFailure(reason, f"HTTP {status} after {attempt} attempts") from error
                time.sleep(self._delay(attempt, _retry_after(error)))
                continue
            except (openai.OpenAIError, ValueError) as error:  # an envelope the client could not read
                raise ProviderFailure("bad_json", str(error)[:200]) from error
            try:
                content = completion.choices[0].message.content
            except (AttributeError, IndexError, TypeError) as error:
                raise ProviderFailure("bad_json", "no message in the answer") from error
            if not isinstance(content, str) or not content.strip():
                raise ProviderFailure("bad_json", "an empty message")
            return content

    def generate(self, request: ContentRequest) -> list[GeneratedText]:
        content = self._complete(request)
        try:
            answer = RemoteAnswer.model_validate_json(content)
        except ValidationError as error:
            raise ProviderFailure("bad_json", str(error).splitlines()[0][:200]) from error
        texts = []
        for draft in answer.drafts[: request.variants]:
            title = "" if request.channel == "sms" else draft.title.strip()
            html = draft.html.strip() if request.channel == "email" else ""
            texts.append(GeneratedText(title=title, body=draft.body.strip(), html=html))
        return texts


_client_lock = threading.Lock()
_remote_cache: dict[tuple, OpenAICompatibleProvider] = {}


def remote_provider() -> Provider | None:
    """The configured remote provider (one client per configuration and process), or None."""
    base_url, model = settings.CONTENT_LLM_BASE_URL, settings.CONTENT_LLM_MODEL
    if not base_url or not model:
        return None
    key = (
        base_url,
        model,
        settings.CONTENT_LLM_API_KEY,
        settings.CONTENT_LLM_TIMEOUT_SECONDS,
        settings.CONTENT_LLM_MAX_RETRIES,
        settings.CONTENT_LLM_RETRY_BASE_SECONDS,
        settings.CONTENT_LLM_RETRY_MAX_SECONDS,
    )
    with _client_lock:
        if key not in _remote_cache:
            _remote_cache[key] = OpenAICompatibleProvider(
                base_url=base_url,
                model=model,
                api_key=settings.CONTENT_LLM_API_KEY,
                timeout_seconds=settings.CONTENT_LLM_TIMEOUT_SECONDS,
                max_retries=settings.CONTENT_LLM_MAX_RETRIES,
                retry_base_seconds=settings.CONTENT_LLM_RETRY_BASE_SECONDS,
                retry_max_seconds=settings.CONTENT_LLM_RETRY_MAX_SECONDS,
            )
        return _remote_cache[key]


@dataclass(frozen=True)
class Generated:
    """The texts of one request, who wrote each, and why the offline provider stood in (if it did)."""

    texts: list[GeneratedText]
    providers: list[str]
    provider: str  # the provider asked first
    model: str
    prompt_hash: str
    fallback_reason: str = ""
    fallback_detail: str = ""


def generate_texts(
    request: ContentRequest, *, remote: Provider | None = None, offline: Provider | None = None
) -> Generated:
    """`request.variants` texts: from the remote provider when there is one, else (or on its failure) offline."""
    offline = offline or OfflineProvider()
    if remote is None:
        texts = offline.generate(request)
        return Generated(
            texts, [offline.name] * len(texts), offline.name, offline.model, offline.prompt_hash(request)
        )
    prompt_hash = remote.prompt_hash(request)
    try:
        texts = remote.generate(request)
    except ProviderFailure as failure:
        logger.warning(
            "content provider failed, offline drafts used",
            extra={"provider": remote.name, "reason": failure.reason, "detail": failure.detail[:200]},
        )
        texts = offline.generate(request)
        return Generated(texts, [offline.name] * len(texts), remote.name, remote.model, prompt_hash,
                         failure.reason, failure.detail[:500])  # fmt: skip
    providers = [remote.name] * len(texts)
    if len(texts) < request.variants:  # a short answer: the offline provider writes the rest
        extra = offline.generate(request)[len(texts) :]
        texts, providers = texts + extra, providers + [offline.name] * len(extra)
        return Generated(texts, providers, remote.name, remote.model, prompt_hash, "too_few_drafts",
                         f"{len(texts) - len(extra)} of {request.variants}")  # fmt: skip
    return Generated(texts, providers, remote.name, remote.model, prompt_hash)
