"""Push notifications of awards to customers, and the device tokens FCM delivers to."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.delivery import DeliveryStatus


class Notification(models.Model):
    """One push notification per award (SPEC §8), in the delivery vocabulary of SPEC §14.

    Status (`core.delivery.DeliveryStatus`): `queued` (not tried yet, or replayed),
    `sending` (claimed: an attempt is in flight until `claimed_until`), `sent` (the
    provider accepted it), `failed` (this attempt failed, another one is scheduled at
    `next_attempt_at`), `dead` (no more attempts: a permanent error, or
    NOTIFICATION_MAX_ATTEMPTS reached; replayable from the admin). Push does not
    produce `delivered`, `skipped` or `deferred` yet; the column accepts them.
    """

    Status = DeliveryStatus

    # A UUID: it is the push gateway's `webhook-id` / `Idempotency-Key`, unique across brands.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer_id = models.CharField(max_length=200, db_index=True)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="notifications")
    award = models.OneToOneField("awards.Award", on_delete=models.CASCADE, related_name="notification")
    title = models.CharField(max_length=255, blank=True, default="")
    body = models.TextField(blank=True, default="")
    provider = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    # Long back-off lives here, swept by beat, never as a Celery countdown.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=500, blank=True, default="")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # fcm: the device tokens that already accepted it, so a retry does not notify them twice.
    delivered_to = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The claim lease (notifications/services.py): a sender owns the row until `claimed_until`;
    # its `claim_token` fences the recording of the outcome.
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("replay_notification", "Can replay dead notifications")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values),
                name="notification_status_valid",
                violation_error_message="Status is not one of the delivery statuses.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due_idx"),
            models.Index(fields=["campaign", "status"], name="notification_campaign_idx"),
        ]

    def __str__(self) -> str:
        return f"notification {self.pk} ({self.status})"


class DeviceToken(models.Model):
    """An FCM registration token of one of a customer's devices (registered by the mobile backend)."""

    class Platform(models.TextChoices):
        ANDROID = "android"
        IOS = "ios"
        WEB = "web"

    customer_id = models.CharField(max_length=200, db_index=True)
    token = models.CharField(max_length=512, unique=True)
    platform = models.CharField(max_length=10, choices=Platform.choices, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer_id", "-updated_at"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.token[:12]}…"


class Channel(models.TextChoices):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    IN_APP = "in_app"


class Category(models.TextChoices):
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class SkipReason(models.TextChoices):
    """SPEC §14's gate reasons, in the gate's order (notifications/gate.py)."""

    SUPPRESSED = "suppressed"
    UNSUBSCRIBED = "unsubscribed"
    NO_ADDRESS = "no_address"
    QUIET_HOURS = "quiet_hours"
    FREQUENCY_CAPPED = "frequency_capped"


class Message(models.Model):
    """One message to one customer on one channel (SPEC §14), in `core.delivery`'s status vocabulary.

    `skipped` and `deferred` carry the gate's `skip_reason`; a deferred message waits for
    `next_attempt_at` (the end of the quiet hours or of the cap window), then passes the gate again.
    """

    Status = DeliveryStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer_id = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    category = models.CharField(max_length=13, choices=Category.choices, default=Category.MARKETING)
    topic = models.CharField(max_length=100, blank=True, default="")
    # The address it goes (or went) to: an email address, an E.164 number, the customer id for push/in_app.
    address = models.CharField(max_length=254, blank=True, default="")
    subject = models.CharField(max_length=255, blank=True, default="")  # email subject / push title
    body_text = models.TextField(blank=True, default="")
    body_html = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    skip_reason = models.CharField(max_length=20, choices=SkipReason.choices, blank=True, default="")
    # For a capped message: skip it (default) or defer it to the end of the cap window.
    defer_when_capped = models.BooleanField(default=False)
    provider = models.CharField(max_length=20, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=500, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    segments = models.PositiveSmallIntegerField(null=True, blank=True)  # sms: GSM-7/UCS-2 segments
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    broadcast = models.ForeignKey(
        "CampaignMessage", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    variant = models.CharField(max_length=100, blank=True, default="")
    journey_step = models.CharField(max_length=100, blank=True, default="")
    read_at = models.DateTimeField(null=True, blank=True)  # in_app inbox
    # Not auto_now_add: the gate's cap window counts from the clock the send was decided on.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values),
                name="message_status_valid",
                violation_error_message="Status is not one of the delivery statuses.",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values),
                name="message_channel_valid",
                violation_error_message="Channel is not one of email, sms, push, in_app.",
            ),
            models.CheckConstraint(
                condition=Q(category__in=Category.values),
                name="message_category_valid",
                violation_error_message="Category is marketing or transactional.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["skipped", "deferred"]) | Q(skip_reason=""),
                name="message_skip_reason_only_when_skipped",
                violation_error_message="Only a skipped or deferred message has a skip reason.",
            ),
        ]
        indexes = [
            # The frequency-cap count: one customer's recent messages.
            models.Index(fields=["customer_id", "created_at"], name="message_customer_idx"),
            # The sweep (queued/failed/deferred due): partial, so it costs O(due).
            models.Index(
                fields=["next_attempt_at"],
                name="message_due_idx",
                # ORed equalities, not `IN`: PostgreSQL's deparse of `varchar IN (…)` does not parse
                # back to itself, and brand schemas are copies of a template (tenants/schema_template.py).
                condition=Q(status="queued")
                | Q(status="failed")
                | Q(status="deferred")
                | Q(status="sending"),
            ),
            models.Index(fields=["campaign", "status"], name="message_campaign_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} message {self.pk} ({self.status})"


class Suppression(models.Model):
    """An address nothing is sent to, not even transactional messages: hard bounce, complaint, manual."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce"
        COMPLAINT = "complaint"
        MANUAL = "manual"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Normalised: emails lower-cased and stripped (notifications/gate.py normalise_address).
    address = models.CharField(max_length=254)
    reason = models.CharField(max_length=12, choices=Reason.choices, default=Reason.MANUAL)
    note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "address"],
                name="suppression_unique_address",
                violation_error_message="This address is already suppressed on this channel.",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values),
                name="suppression_channel_valid",
                violation_error_message="Channel is not one of email, sms, push, in_app.",
            ),
            models.CheckConstraint(
                condition=~Q(address=""),
                name="suppression_address_not_empty",
                violation_error_message="A suppression needs an address.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address} ({self.reason})"


class Preference(models.Model):
    """A customer's consent on one channel, for one topic or (topic "") for all of them."""

    customer_id = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    topic = models.CharField(max_length=100, blank=True, default="")
    opted_in = models.BooleanField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer_id", "channel", "topic"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer_id", "channel", "topic"],
                name="preference_unique",
                violation_error_message="This customer already has a preference for this channel and topic.",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values),
                name="preference_channel_valid",
                violation_error_message="Channel is not one of email, sms, push, in_app.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.channel}/{self.topic or '*'}: {'in' if self.opted_in else 'out'}"


class FrequencyRule(models.Model):
    """ "At most `max_messages` marketing messages per `window_hours`", on one channel or (blank) any."""

    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True, default="")
    max_messages = models.PositiveIntegerField()
    window_hours = models.PositiveIntegerField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["channel", "window_hours"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_messages__gte=1),
                name="frequency_rule_max_positive",
                violation_error_message="A rule allows at least one message (suppress instead).",
            ),
            models.CheckConstraint(
                condition=Q(window_hours__gte=1),
                name="frequency_rule_window_positive",
                violation_error_message="The window is at least one hour.",
            ),
            models.CheckConstraint(
                condition=Q(channel="") | Q(channel__in=Channel.values),
                name="frequency_rule_channel_valid",
                violation_error_message="Channel is empty (any) or one of email, sms, push, in_app.",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.max_messages} per {self.window_hours} h on {self.channel or 'any channel'}"
        )


class MessagingSettings(models.Model):
    """The brand's quiet hours (one row per brand schema): no marketing message between start and end.

    Local time of the customer (`customers.Customer.timezone`), else the brand's `timezone`;
    the window may wrap midnight (22:00–08:00). Per-channel costs feed analytics.
    """

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    quiet_hours_enabled = models.BooleanField(default=False)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    cost_email = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    cost_sms_segment = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    cost_push = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    cost_in_app = models.DecimalField(max_digits=12, decimal_places=6, default=0)

    class Meta:
        verbose_name = "messaging settings"
        verbose_name_plural = "messaging settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(singleton=True),
                name="messaging_settings_singleton",
                violation_error_message="A brand has one messaging settings row.",
            ),
            models.CheckConstraint(
                condition=Q(quiet_hours_enabled=False)
                | (
                    Q(quiet_start__isnull=False)
                    & Q(quiet_end__isnull=False)
                    & ~Q(quiet_start=models.F("quiet_end"))
                ),
                name="messaging_settings_quiet_window",
                violation_error_message="Quiet hours need a start and an end that differ.",
            ),
        ]

    def __str__(self) -> str:
        return "messaging settings"


class CampaignMessage(models.Model):
    """A broadcast (SPEC §14): a campaign's message to every member of a segment.

    Each member gets it on the first channel of `channels` (in order) where they have an address
    and have not opted out; the gate decides the rest. Sent in batches of `batch_size`, at most
    `rate_per_second` messages a second (0: the channel's default, MESSAGE_RATE_PER_SECOND).
    """

    class State(models.TextChoices):
        DRAFT = "draft"
        SCHEDULED = "scheduled"
        SENDING = "sending"
        DONE = "done"
        CANCELLED = "cancelled"

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="campaign_messages"
    )
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=13, choices=Category.choices, default=Category.MARKETING)
    topic = models.CharField(max_length=100, blank=True, default="")
    segment = models.ForeignKey(
        "customers.Segment", on_delete=models.PROTECT, null=True, blank=True, related_name="campaign_messages"
    )
    # Fallback order: the first channel that can reach the customer. Chosen from the four channels.
    first_channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    second_channel = models.CharField(max_length=10, choices=Channel.choices, blank=True, default="")
    third_channel = models.CharField(max_length=10, choices=Channel.choices, blank=True, default="")
    # Templates per channel (the sandbox of core/templating.py; variables: customer.*, campaign.*).
    email_subject = models.CharField(max_length=255, blank=True, default="")
    email_text = models.TextField(blank=True, default="")
    email_html = models.TextField(blank=True, default="")
    sms_text = models.TextField(blank=True, default="")
    push_title = models.CharField(max_length=255, blank=True, default="")
    push_body = models.TextField(blank=True, default="")
    in_app_title = models.CharField(max_length=255, blank=True, default="")
    in_app_body = models.TextField(blank=True, default="")
    send_at = models.DateTimeField(null=True, blank=True)
    defer_when_capped = models.BooleanField(default=False)
    batch_size = models.PositiveIntegerField(default=500)
    rate_per_second = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    # Progress: members are walked in customer primary-key order; the cursor is the last one done.
    cursor = models.BigIntegerField(default=0)
    recipients_done = models.PositiveIntegerField(default=0)
    next_batch_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(batch_size__gte=1) & Q(batch_size__lte=5000),
                name="campaign_message_batch_size_range",
                violation_error_message="A batch holds 1 to 5,000 customers.",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["draft", "scheduled", "sending", "done", "cancelled"]),
                name="campaign_message_state_valid",
                violation_error_message="State is one of draft, scheduled, sending, done, cancelled.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_batch_at"],
                name="campaign_message_due_idx",
                condition=Q(state="scheduled") | Q(state="sending"),  # not IN: see message_due_idx
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    @property
    def channels(self) -> list[str]:
        return [c for c in (self.first_channel, self.second_channel, self.third_channel) if c]


class MessageEvent(models.Model):
    """A delivery event of a message (SPEC §14): from the ESP's webhooks, the open pixel, a click."""

    class Kind(models.TextChoices):
        DELIVERED = "delivered"
        OPENED = "opened"
        CLICKED = "clicked"
        BOUNCED = "bounced"
        COMPLAINED = "complained"
        UNSUBSCRIBED = "unsubscribed"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    url = models.CharField(max_length=2000, blank=True, default="")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=["delivered", "opened", "clicked", "bounced", "complained", "unsubscribed"]
                ),
                name="message_event_kind_valid",
                violation_error_message="Kind is one of delivered, opened, clicked, bounced, complained, unsubscribed.",
            )
        ]
        indexes = [models.Index(fields=["message", "kind"], name="message_event_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.message_id}"
