"""Generated content (SPEC §17): the brand's content settings, generations (one request) and their drafts."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from content.phrases import TONES
from content.wordlists import LOCALES

CHANNELS = ("email", "sms", "push", "in_app")
LOCALE_CHOICES = [("en", "English"), ("es", "Spanish"), ("pt", "Portuguese")]


class ContentSettings(models.Model):
    """The brand's guard-rail settings (one row per brand schema): language, link hosts, block list."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    locale = models.CharField(
        max_length=5, choices=LOCALE_CHOICES, default="en", help_text="The language drafts are written in."
    )
    allowed_link_hosts = models.TextField(
        blank=True,
        default="",
        help_text="One host a line (its subdomains are allowed too), e.g. shop.example.com. Links to any "
        "other host fail the filter.",
    )
    blocked_terms = models.TextField(
        blank=True, default="", help_text="One word or phrase a line; case and accents do not matter."
    )
    sms_max_segments = models.PositiveSmallIntegerField(
        "SMS segments at most", default=1, help_text="1 segment: 160 GSM-7 or 70 UCS-2 characters."
    )

    class Meta:
        verbose_name = "content settings"
        verbose_name_plural = "content settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(singleton=True),
                name="content_settings_singleton",
                violation_error_message="A brand has one content settings row.",
            ),
            models.CheckConstraint(
                condition=Q(locale__in=list(LOCALES)),
                name="content_settings_locale_valid",
                violation_error_message="Locale is one of en, es, pt.",
            ),
            models.CheckConstraint(
                condition=Q(sms_max_segments__gte=1, sms_max_segments__lte=10),
                name="content_settings_sms_segments_range",
                violation_error_message="An SMS may take 1 to 10 segments.",
            ),
        ]

    def __str__(self) -> str:
        return "content settings"

    @staticmethod
    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]


class Generation(models.Model):
    """One request to generate drafts: what was asked, which provider answered, why offline stood in."""

    channel = models.CharField(max_length=10, choices=[(c, c) for c in CHANNELS])
    brief = models.TextField()
    facts = models.JSONField(default=dict, blank=True)
    tone = models.CharField(max_length=20, choices=[(t, t) for t in TONES], default="friendly")
    locale = models.CharField(max_length=5, choices=LOCALE_CHOICES, default="en")
    variants = models.PositiveSmallIntegerField(default=1)
    provider = models.CharField(max_length=20, help_text="The provider asked first.")
    model = models.CharField(max_length=100, blank=True, default="")
    prompt_hash = models.CharField(max_length=64)
    fallback_reason = models.CharField(
        max_length=30, blank=True, default="", help_text="Why the offline provider wrote the drafts instead."
    )
    fallback_detail = models.CharField(max_length=500, blank=True, default="")
    campaign_message = models.ForeignKey(
        "notifications.CampaignMessage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="content_generations",
        help_text="The campaign message the drafts were generated for (the admin's action), if any.",
    )
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=list(CHANNELS)),
                name="generation_channel_valid",
                violation_error_message="Channel is one of email, sms, push, in_app.",
            ),
            models.CheckConstraint(
                condition=Q(variants__gte=1, variants__lte=50),
                name="generation_variants_range",
                violation_error_message="Between 1 and 50 variants.",
            ),
        ]

    def __str__(self) -> str:
        return f"generation {self.pk} ({self.channel}, {self.variants})"


class Draft(models.Model):
    """One generated text with its filter report. Only an approved draft (which passed) can be used."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        APPROVED = "approved"
        REJECTED = "rejected"

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="drafts")
    position = models.PositiveSmallIntegerField(default=0)
    channel = models.CharField(max_length=10, choices=[(c, c) for c in CHANNELS])
    title = models.CharField(max_length=500, blank=True, default="")
    body = models.TextField(blank=True, default="")
    html = models.TextField(blank=True, default="", help_text="Email only; sanitised with nh3.")
    provider = models.CharField(max_length=20, help_text="The provider that wrote this draft.")
    prompt_hash = models.CharField(max_length=64)
    filter_report = models.JSONField(default=dict)
    passed = models.BooleanField(help_text="Every guard rail passed.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    decided_by = models.CharField(max_length=200, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "position"],
                name="draft_unique_position",
                violation_error_message="This generation already has a draft at this position.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "approved", "rejected"]),
                name="draft_status_valid",
                violation_error_message="Status is one of draft, approved, rejected.",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(passed=True),
                name="draft_approved_only_if_passed",
                violation_error_message="A draft that failed the filter cannot be approved.",
            ),
            models.CheckConstraint(
                condition=Q(status="draft", decided_at__isnull=True)
                | (~Q(status="draft") & Q(decided_at__isnull=False)),
                name="draft_decided_iff_dated",
                violation_error_message="A decided draft has a decision date, an open one none.",
            ),
        ]
        indexes = [models.Index(fields=["status", "channel"], name="draft_status_channel_idx")]

    def __str__(self) -> str:
        return f"draft {self.pk} ({self.channel}, {self.status})"
