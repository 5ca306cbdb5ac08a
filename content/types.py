"""What a provider is asked and what it answers (plain data, shared by the providers and the services)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ContentRequest:
    channel: str  # email | sms | push | in_app
    brief: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    tone: str = "friendly"
    locale: str = "en"
    variants: int = 1


@dataclass(frozen=True)
class GeneratedText:
    title: str = ""  # email subject, push or in-app title; empty for SMS
    body: str = ""
    html: str = ""  # email only


class Provider(Protocol):
    """A generator of drafts. `generate` answers `request.variants` texts or raises ProviderFailure."""

    name: str
    model: str

    def prompt_hash(self, request: ContentRequest) -> str: ...

    def generate(self, request: ContentRequest) -> list[GeneratedText]: ...


class ProviderFailure(Exception):
    """The remote provider gave no usable answer; `reason` says why (the generation records it)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
