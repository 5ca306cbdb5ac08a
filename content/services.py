"""Writes of generated content (SPEC §17): generate drafts, approve or reject them, use an approved one.

Generating asks the provider first, outside any transaction (a remote call can take the whole
timeout), then stores the generation, its drafts and their filter reports in one transaction with
one audit event. Approving is one conditional UPDATE (`status = 'draft' AND passed`): of two people
deciding the same draft at once exactly one wins, and a draft that failed the filter can never be
approved (also a CheckConstraint). Only an approved draft becomes a campaign message's template or an
experiment variant's message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from content import guard_rails
from content.models import CHANNELS, ContentSettings, Draft, Generation
from content.phrases import TONES
from content.providers import generate_texts, remote_provider
from content.selectors import content_settings
from content.types import ContentRequest
from content.wordlists import LOCALES
from core.audit import audit_record, changes_between, model_update, values_of
from core.exceptions import ConflictError, NotFoundError, ValidationFailed, validate_model
from core.templating import message_template_errors, validate_notification_templates
from experiments.models import Experiment, Variant, VariantTotals
from notifications.models import CampaignMessage

logger = logging.getLogger(__name__)

MAX_BRIEF_LENGTH = 2000
MAX_FACTS = 50
MAX_FACT_KEY_LENGTH = 100
MAX_FACT_VALUE_LENGTH = 500
MAX_NOTE_LENGTH = 500

# channel → (CampaignMessage title field, body field, html field)
MESSAGE_FIELDS: dict[str, tuple[str, str, str]] = {
    "email": ("email_subject", "email_text", "email_html"),
    "sms": ("", "sms_text", ""),
    "push": ("push_title", "push_body", ""),
    "in_app": ("in_app_title", "in_app_body", ""),
}


def _fact_errors(facts: Any) -> list[str]:
    if not isinstance(facts, Mapping):
        return ['Facts are an object of names and values: {"discount": "20%"}.']
    if len(facts) > MAX_FACTS:
        return [f"At most {MAX_FACTS} facts."]
    errors = []
    for key, value in facts.items():
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_FACT_KEY_LENGTH:
            errors.append(f"Fact names are 1 to {MAX_FACT_KEY_LENGTH} characters.")
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is not None and not isinstance(item, str | int | float | bool):
                errors.append(f"{key}: a fact is a text, a number or a list of those.")
            elif isinstance(item, str) and len(item) > MAX_FACT_VALUE_LENGTH:
                errors.append(f"{key}: at most {MAX_FACT_VALUE_LENGTH} characters.")
    return errors


def _validate_request(*, channel: str, brief: str, facts: Any, tone: str, variants: int, locale: str) -> None:
    errors: dict[str, list[str]] = {}
    if channel not in CHANNELS:
        errors["channel"] = [f"Channel is one of {', '.join(CHANNELS)}."]
    if not isinstance(brief, str) or not brief.strip():
        errors["brief"] = ["Say what the message is about."]
    elif len(brief) > MAX_BRIEF_LENGTH:
        errors["brief"] = [f"At most {MAX_BRIEF_LENGTH} characters."]
    if fact_errors := _fact_errors(facts):
        errors["facts"] = fact_errors
    if tone not in TONES:
        errors["tone"] = [f"Tone is one of {', '.join(TONES)}."]
    if not isinstance(variants, int) or not 1 <= variants <= settings.CONTENT_MAX_VARIANTS:
        errors["variants"] = [f"Between 1 and {settings.CONTENT_MAX_VARIANTS} variants."]
    if locale not in LOCALES:
        errors["locale"] = [f"Locale is one of {', '.join(LOCALES)}."]
    if errors:
        raise ValidationFailed(errors)


def brand_policy(*, facts: Mapping[str, Any]) -> guard_rails.Policy:
    """The guard rails of this brand for these facts: its link hosts (and the platform's), block list."""
    config = content_settings()
    return guard_rails.compile_policy(
        facts=facts,
        allowed_hosts=[
            *settings.CONTENT_ALLOWED_LINK_HOSTS,
            *ContentSettings.lines(config.allowed_link_hosts),
        ],
        blocked_terms=ContentSettings.lines(config.blocked_terms),
        sms_max_segments=config.sms_max_segments,
    )


def drafts_generate(
    *,
    channel: str,
    brief: str,
    facts: Mapping[str, Any],
    actor: str,
    tone: str = "friendly",
    variants: int = 1,
    locale: str | None = None,
    campaign_message_id: int | None = None,
) -> Generation:
    """`variants` drafts for `channel`, each checked by the guard rails; stored with their reports."""
    locale = locale or content_settings().locale
    _validate_request(channel=channel, brief=brief, facts=facts, tone=tone, variants=variants, locale=locale)
    campaign_message = None
    if campaign_message_id is not None:
        campaign_message = CampaignMessage.objects.filter(pk=campaign_message_id).first()
        if campaign_message is None:
            raise NotFoundError(f"No campaign message {campaign_message_id}.", code="not_found")
    request = ContentRequest(
        channel=channel, brief=brief.strip(), facts=dict(facts), tone=tone, locale=locale, variants=variants
    )
    generated = generate_texts(request, remote=remote_provider())
    policy = brand_policy(facts=request.facts)
    with transaction.atomic():
        generation = Generation.objects.create(
            channel=channel,
            brief=request.brief,
            facts=request.facts,
            tone=tone,
            locale=locale,
            variants=variants,
            provider=generated.provider,
            model=generated.model[:100],
            prompt_hash=generated.prompt_hash,
            fallback_reason=generated.fallback_reason,
            fallback_detail=generated.fallback_detail[:500],
            campaign_message=campaign_message,
            created_by=actor,
        )
        drafts = []
        for position, (text, provider) in enumerate(zip(generated.texts, generated.providers, strict=True)):
            report = guard_rails.check_draft(
                guard_rails.DraftText(channel=channel, title=text.title, body=text.body, html=text.html),
                policy,
            )
            drafts.append(
                Draft(
                    generation=generation,
                    position=position,
                    channel=channel,
                    title=text.title,
                    body=text.body,
                    html=report.html,
                    provider=provider,
                    prompt_hash=generated.prompt_hash,
                    filter_report=report.as_dict(),
                    passed=report.passed,
                )
            )
        Draft.objects.bulk_create(drafts)
        audit_record(
            actor=actor,
            action="content.generated",
            obj_or_type=generation,
            changes={
                **changes_between(
                    None,
                    values_of(
                        generation, ("channel", "tone", "locale", "variants", "provider", "fallback_reason")
                    ),
                ),
                "drafts": {
                    "before": None,
                    "after": [
                        {"id": d.pk, "passed": d.passed, "failed": d.filter_report["failed"]} for d in drafts
                    ],
                },
            },
        )
    if generated.fallback_reason:
        logger.warning(
            "content generated offline after a provider failure",
            extra={"generation_id": generation.pk, "reason": generated.fallback_reason},
        )
    return generation


def _decide(*, draft_id: int, actor: str, status: str, note: str) -> Draft:
    if len(note) > MAX_NOTE_LENGTH:
        raise ValidationFailed({"note": [f"At most {MAX_NOTE_LENGTH} characters."]})
    now = timezone.now()
    condition = {"pk": draft_id, "status": Draft.Status.DRAFT}
    if status == Draft.Status.APPROVED:
        condition["passed"] = True
    # One conditional UPDATE decides: concurrent deciders of one draft cannot both win.
    updated = Draft.objects.filter(**condition).update(
        status=status, decided_by=actor, decided_at=now, decision_note=note
    )
    draft = Draft.objects.filter(pk=draft_id).first()
    if draft is None:
        raise NotFoundError(f"No draft {draft_id}.", code="not_found")
    if not updated:
        if draft.status != Draft.Status.DRAFT:
            raise ConflictError(f"Draft {draft_id} is already {draft.status}.", code="draft_decided")
        raise ConflictError(
            f"Draft {draft_id} failed the filter ({', '.join(draft.filter_report.get('failed', []))}): "
            "it cannot be approved.",
            code="draft_failed_filter",
        )
    audit_record(
        actor=actor,
        action=f"draft.{status}",
        obj_or_type=draft,
        changes={"status": {"before": "draft", "after": status}}
        | ({"decision_note": {"before": "", "after": note}} if note else {}),
    )
    return draft


@transaction.atomic
def draft_approve(*, draft_id: int, actor: str, note: str = "") -> Draft:
    """Approve a draft that passed every guard rail (409 when it failed one, or was decided already)."""
    return _decide(draft_id=draft_id, actor=actor, status=Draft.Status.APPROVED, note=note)


@transaction.atomic
def draft_reject(*, draft_id: int, actor: str, note: str = "") -> Draft:
    """Reject a draft (with or without a failed filter); 409 when it was decided already."""
    return _decide(draft_id=draft_id, actor=actor, status=Draft.Status.REJECTED, note=note)


def _approved(draft_id: int) -> Draft:
    draft = Draft.objects.select_for_update().filter(pk=draft_id).first()
    if draft is None:
        raise NotFoundError(f"No draft {draft_id}.", code="not_found")
    if draft.status != Draft.Status.APPROVED:
        raise ConflictError(
            f"Draft {draft_id} is {draft.status}: only an approved draft can be used.",
            code="draft_not_approved",
        )
    return draft


@transaction.atomic
def draft_use_in_campaign_message(*, draft_id: int, campaign_message_id: int, actor: str) -> CampaignMessage:
    """The approved draft becomes the campaign message's template for the draft's channel."""
    draft = _approved(draft_id)
    message = CampaignMessage.objects.select_for_update().filter(pk=campaign_message_id).first()
    if message is None:
        raise NotFoundError(f"No campaign message {campaign_message_id}.", code="not_found")
    if message.state not in (CampaignMessage.State.DRAFT, CampaignMessage.State.CANCELLED):
        raise ConflictError(
            f"Campaign message {message.pk} is {message.state}: its content cannot change any more.",
            code="campaign_message_started",
        )
    title_field, body_field, html_field = MESSAGE_FIELDS[draft.channel]
    values = {body_field: draft.body}
    if title_field:
        values[title_field] = draft.title
    if html_field:
        values[html_field] = draft.html
    errors = {
        name: problems for name, value in values.items() if (problems := message_template_errors(name, value))
    }
    if errors:
        raise ValidationFailed(errors)
    changes = model_update(message, values)
    validate_model(message, exclude=["campaign", "segment"], validate_constraints=False)
    if changes:
        message.save(update_fields=list(changes))
    audit_record(
        actor=actor,
        action="campaign_message.content_from_draft",
        obj_or_type=message,
        changes={**changes, "draft": {"before": None, "after": draft.pk}},
    )
    return message


@transaction.atomic
def draft_use_in_variant(*, draft_id: int, experiment_id: int, variant_key: str, actor: str) -> Variant:
    """The approved push draft becomes the message (title, body) of a variant no customer has seen yet."""
    draft = _approved(draft_id)
    experiment = Experiment.objects.select_for_update().filter(pk=experiment_id).first()
    if experiment is None:
        raise NotFoundError(f"No experiment {experiment_id}.", code="not_found")
    if draft.channel != "push":
        raise ValidationFailed(
            {"draft": ["A variant's message is the campaign's push notification: use a push draft."]}
        )
    if experiment.status != Experiment.Status.RUNNING:
        raise ConflictError(f"Experiment {experiment.pk} is concluded.", code="experiment_concluded")
    variant = experiment.variants.filter(key=variant_key).first()
    if variant is None:
        raise ValidationFailed({"variant": [f"No variant {variant_key!r} in this experiment."]})
    exposed = VariantTotals.objects.filter(
        experiment=experiment, bucket_version=experiment.bucket_version, variant=variant_key, exposures__gt=0
    ).exists()
    if exposed:
        raise ConflictError(
            f"Customers have already seen variant {variant_key}: its message cannot change under them "
            "(start a new experiment, or re-randomise).",
            code="variant_exposed",
        )
    try:
        validate_notification_templates({"title": draft.title, "body": draft.body})
    except DjangoValidationError as error:
        raise ValidationFailed({"draft": error.message_dict["notification"]}) from error
    changes = model_update(variant, {"message_title": draft.title, "message_body": draft.body})
    validate_model(variant, exclude=["experiment"], validate_constraints=False)
    if changes:
        variant.save(update_fields=list(changes))
    audit_record(
        actor=actor,
        action="variant.content_from_draft",
        obj_or_type=variant,
        changes={**changes, "draft": {"before": None, "after": draft.pk}},
    )
    return variant


@transaction.atomic
def content_settings_update(
    *, actor: str, locale: str, allowed_link_hosts: str, blocked_terms: str, sms_max_segments: int
) -> ContentSettings:
    """The brand's guard-rail settings (the one row, created on first save)."""
    config, _ = ContentSettings.objects.select_for_update().get_or_create(singleton=True)
    hosts = "\n".join(line.lower() for line in ContentSettings.lines(allowed_link_hosts))
    terms = "\n".join(ContentSettings.lines(blocked_terms))
    changes = model_update(
        config,
        {
            "locale": locale,
            "allowed_link_hosts": hosts,
            "blocked_terms": terms,
            "sms_max_segments": sms_max_segments,
        },
    )
    validate_model(config, exclude=["singleton"])
    if changes:
        config.save(update_fields=list(changes))
    audit_record(
        actor=actor,
        action="content_settings.updated",
        obj_or_type=config,
        changes=changes or {"unchanged": {"before": None, "after": True}},
    )
    return config
