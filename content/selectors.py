"""Reads of generated content: the brand's settings, drafts (filtered), their JSON."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from content.models import ContentSettings, Draft, Generation
from core.exceptions import NotFoundError


def content_settings() -> ContentSettings:
    """The brand's row, or the defaults (unsaved) while nobody has saved any."""
    return ContentSettings.objects.first() or ContentSettings()


def draft_get(*, draft_id: int) -> Draft:
    draft = Draft.objects.select_related("generation").filter(pk=draft_id).first()
    if draft is None:
        raise NotFoundError(f"No draft {draft_id}.", code="not_found")
    return draft


def drafts_list(
    *, status: str = "", channel: str = "", passed: bool | None = None, generation_id: int | None = None
) -> QuerySet[Draft]:
    rows = Draft.objects.select_related("generation").order_by("-created_at", "-id")
    if status:
        rows = rows.filter(status=status)
    if channel:
        rows = rows.filter(channel=channel)
    if passed is not None:
        rows = rows.filter(passed=passed)
    if generation_id is not None:
        rows = rows.filter(generation_id=generation_id)
    return rows


def draft_data(draft: Draft) -> dict[str, Any]:
    return {
        "id": draft.pk,
        "generation_id": draft.generation_id,
        "channel": draft.channel,
        "title": draft.title,
        "body": draft.body,
        "html": draft.html,
        "provider": draft.provider,
        "prompt_hash": draft.prompt_hash,
        "passed": draft.passed,
        "filter_report": draft.filter_report,
        "status": draft.status,
        "decided_by": draft.decided_by or None,
        "decided_at": draft.decided_at.isoformat() if draft.decided_at else None,
        "decision_note": draft.decision_note,
        "created_at": draft.created_at.isoformat(),
    }


def generation_data(generation: Generation) -> dict[str, Any]:
    return {
        "generation_id": generation.pk,
        "channel": generation.channel,
        "tone": generation.tone,
        "locale": generation.locale,
        "provider": generation.provider,
        "model": generation.model,
        "prompt_hash": generation.prompt_hash,
        "fallback_reason": generation.fallback_reason or None,
        "drafts": [draft_data(d) for d in generation.drafts.order_by("position")],
    }
