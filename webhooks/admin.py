"""Outgoing webhooks in the brand admin: endpoints with forms (event types as checkboxes), deliveries.

Every write goes through `webhooks.services` (the API and the admin cannot disagree). The secret is
shown once, on its own page, after creation or rotation.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from core.actors import actor_for
from core.admin import AuditHistoryAdminMixin
from core.exceptions import ApplicationError
from outbox.events import SUBSCRIBABLE_EVENT_TYPES
from webhooks import services
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

EVENT_TYPE_HELP = {
    "purchase.evaluated": "a purchase was evaluated against the campaigns",
    "dispatch.sent": "a partner accepted an eligible purchase",
    "dispatch.dead": "a partner dispatch was given up (dead letter)",
    "award.created": "a partner granted a customer an award",
    "campaign.status_changed": "a campaign was activated, paused, completed, …",
    "budget.threshold": "a campaign budget crossed a threshold",
    "redemption.committed": "a promo code redemption was committed",
    "redemption.rolled_back": "a promo code redemption was rolled back",
    "message.bounced": "a message to a customer bounced",
    "experiment.concluded": "an experiment reached its result",
    "segment.computed": "a segment's size was computed",
}


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"size": 60}),
        help_text="Where events are POSTed (signed), e.g. https://crm.example/hooks. Must be public.",
    )
    event_types = forms.MultipleChoiceField(
        choices=[(t, f"{t} — {EVENT_TYPE_HELP[t]}") for t in SUBSCRIBABLE_EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="The events this endpoint receives.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "is_enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[
            "is_enabled"
        ].help_text = "Off: nothing is sent. Switching it on again forgets the failure streak."

    def _post_clean(self) -> None:
        # The model's checks run in the service on save (event types, constraints; the secret is the
        # platform's): here only what the CRM person typed, with the service's own URL guard.
        if "url" not in self.cleaned_data or (self.instance.pk and "url" not in self.changed_data):
            return
        try:
            services.check_url(self.cleaned_data["url"])
        except DjangoValidationError as exc:
            self._update_errors(exc)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "attempted_at", "status_code", "latency_ms", "outcome", "error"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AuditHistoryAdminMixin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["id", "url", "is_enabled", "disabled_reason", "failing_since", "created_at"]
    list_filter = ["is_enabled", "disabled_reason"]
    search_fields = ["url", "description"]
    readonly_fields = ["disabled_reason", "disabled_at", "failing_since", "previous_secret_expires_at",
                       "created_at", "updated_at"]  # fmt: skip
    actions = ["send_test", "rotate_secret"]

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: forms.ModelForm, change: bool
    ) -> None:
        actor = actor_for(request.user)
        data = {
            field: form.cleaned_data[field]
            for field in services.EDITABLE_FIELDS
            if field in form.cleaned_data
        }
        if change:
            services.webhook_endpoint_update(endpoint_id=obj.pk, actor=actor, data=data)
            obj.refresh_from_db()
            return
        created = services.webhook_endpoint_create(actor=actor, **data)
        for field in WebhookEndpoint._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created.endpoint, field.attname))
        obj._state.adding = False
        request._webhook_secret = created.secret

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        services.webhook_endpoint_delete(endpoint_id=obj.pk, actor=actor_for(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint_id in queryset.values_list("pk", flat=True):
            services.webhook_endpoint_delete(endpoint_id=endpoint_id, actor=actor_for(request.user))

    def _secret_page(
        self, request: HttpRequest, endpoint: WebhookEndpoint, secret: str, intro: str
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "endpoint": endpoint,
            "secret": secret,
            "intro": intro,
            "continue_url": reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]),
            "title": f"Webhook endpoint {endpoint.pk}: its secret",
        }
        response = TemplateResponse(request, "admin/webhooks/webhookendpoint/secret_once.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def response_add(
        self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue=None
    ) -> HttpResponse:
        secret = getattr(request, "_webhook_secret", None)
        if not secret:
            return super().response_add(request, obj, post_url_continue)
        return self._secret_page(request, obj, secret, "The platform generated this signing secret.")

    @admin.action(description="Send a webhook.test to the selected endpoints", permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            result = services.webhook_endpoint_test(endpoint_id=endpoint.pk, actor=actor_for(request.user))
            if result.ok:
                self.message_user(
                    request,
                    f"Endpoint {endpoint.pk}: HTTP {result.status_code} in {result.latency_ms} ms.",
                    messages.SUCCESS,
                )
            else:
                self.message_user(request, f"Endpoint {endpoint.pk}: {result.error}", messages.ERROR)

    @admin.action(
        description="Rotate the secret (the old one keeps signing for 24 h)", permissions=["change"]
    )
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(
                request, "Rotate one endpoint at a time: its new secret is shown once.", messages.ERROR
            )
            return None
        rotated = services.webhook_endpoint_rotate_secret(
            endpoint_id=queryset.get().pk, actor=actor_for(request.user)
        )
        return self._secret_page(
            request,
            rotated.endpoint,
            rotated.secret,
            "This is the endpoint's new signing secret; for 24 h every event also carries a signature with the old one.",
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "endpoint", "event_type", "status", "attempts", "next_attempt_at", "last_status_code",
                    "created_at"]  # fmt: skip
    list_filter = ["status", "event_type", "is_test"]
    search_fields = ["id", "event_type"]
    list_select_related = ["endpoint"]
    inlines = [WebhookAttemptInline]
    actions = ["replay"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.replay_webhookdelivery")

    @admin.action(description="Replay the selected deliveries (sent or dead)", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet) -> None:
        replayed, refused = 0, []
        for delivery_id in queryset.values_list("pk", flat=True):
            try:
                services.webhook_delivery_replay(delivery_id=delivery_id, actor=actor_for(request.user))
                replayed += 1
            except ApplicationError as exc:
                refused.append(f"{delivery_id}: {exc.message}")
        if replayed:
            self.message_user(request, f"{replayed} deliveries queued again.", messages.SUCCESS)
        for message in refused[:10]:
            self.message_user(request, message, messages.WARNING)
