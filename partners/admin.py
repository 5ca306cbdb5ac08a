from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from core.actors import actor_for
from core.admin import AuditHistoryAdminMixin
from partners import services
from partners.models import Partner

# ---------------------------------------------------------------------------- Partner


class PartnerAdminForm(forms.ModelForm):
    """The secret is never shown in the form: blank keeps it (or, on creation, generates one)."""

    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank: on creation the platform generates a whsec_ secret and shows it once; on "
        "change the current secret is kept. Entering one (whsec_<base64>) replaces it; the previous secret "
        "stays valid for incoming webhooks for 24 h.",
    )

    submission_url = forms.URLField(
        label="Submission URL",
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"size": 60}),
        help_text="Where eligible purchases are sent (a signed POST), e.g. https://partner.example/purchases.",
    )
    auth_url = forms.URLField(
        label="Participation URL",
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"size": 60}),
        help_text="Where the mobile app sends a customer to join, with a signed token added.",
    )

    class Meta:
        model = Partner
        fields = ["slug", "name", "submission_url", "auth_url", "secret", "timeout_seconds", "max_attempts",
                  "is_active"]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["secret"] = ""
        helps = {
            "slug": "A short name in URLs and tokens (letters, digits, hyphens); it cannot change later.",
            "timeout_seconds": "How long to wait for the partner's answer (1–120 seconds).",
            "max_attempts": "Tries before a purchase is given up as a dead letter (replayable).",
            "is_active": "Off: no campaign can be activated with this partner.",
        }
        for name, text in helps.items():
            if name in self.fields:
                self.fields[name].help_text = text
        if self.instance.pk:
            self.fields["slug"].disabled = True  # the slug is the partner's identity (URLs, token audience)

    def clean_secret(self) -> str:
        secret = self.cleaned_data.get("secret") or ""
        if not secret and self.instance.pk:
            return self.instance.secret  # keep the current one
        return secret

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        changed_urls = tuple(f for f in services.URL_FIELDS if f in self.changed_data or not self.instance.pk)
        try:
            services.partner_validate(
                self.instance, check_urls=changed_urls, check_secret=bool(self.instance.secret)
            )
        except DjangoValidationError as exc:
            self._update_errors(exc)


@admin.register(Partner)
class PartnerAdmin(AuditHistoryAdminMixin, admin.ModelAdmin):
    form = PartnerAdminForm
    list_display = ["slug", "name", "submission_url", "is_active", "max_attempts", "timeout_seconds"]
    list_filter = ["is_active"]
    search_fields = ["slug", "name"]
    readonly_fields = ["previous_secret_valid_until", "created_at", "updated_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Partner | None = None) -> bool:
        # Dispatches, awards and campaigns refer to partners; switch one off with "is active" instead
        # (the API has no delete either).
        return False

    def save_model(self, request: HttpRequest, obj: Partner, form: forms.ModelForm, change: bool) -> None:
        actor = actor_for(request.user)
        if change:
            data = {
                field: form.cleaned_data[field]
                for field in form.changed_data
                if field in services.EDITABLE_FIELDS
            }
            if "secret" in data and data["secret"] == Partner.objects.get(pk=obj.pk).secret:
                data.pop("secret")
            services.partner_update(partner_id=obj.pk, actor=actor, data=data)
            obj.refresh_from_db()
            return
        created = services.partner_create(
            actor=actor,
            slug=obj.slug,
            name=obj.name,
            submission_url=obj.submission_url,
            auth_url=obj.auth_url,
            secret=obj.secret or None,
            timeout_seconds=obj.timeout_seconds,
            max_attempts=obj.max_attempts,
            is_active=obj.is_active,
        )
        for field in Partner._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created.partner, field.attname))
        obj._state.adding = False
        # Kept on the request only, for the one page that shows it (response_add); never stored elsewhere.
        request._generated_partner_secret = created.generated_secret

    def response_add(
        self, request: HttpRequest, obj: Partner, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = getattr(request, "_generated_partner_secret", None)
        if not secret:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "partner": obj,
            "secret": secret,
            "continue_url": reverse("admin:partners_partner_change", args=[obj.pk]),
            "title": f"Partner “{obj.name}” created: its secret",
        }
        response = TemplateResponse(request, "admin/partners/partner/secret_once.html", context)
        response["Cache-Control"] = "no-store"
        return response
