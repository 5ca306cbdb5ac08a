"""The CRM's admin for generated content: drafts readable (the filter report as a table), approve and
reject actions, a page to use an approved draft, the generator's form, the brand's content settings.

The "generate variants" action sits on the campaign messages' admin: notifications is below content
and does not know of it, so this module adds the action to `CampaignMessageAdmin` (as notifications
adds its inline to the campaign admin).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import formset_factory
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from content import services
from content.models import CHANNELS, LOCALE_CHOICES, ContentSettings, Draft
from content.phrases import TONES
from content.selectors import content_settings
from core.actors import actor_for
from core.exceptions import ApplicationError
from experiments.models import Experiment
from notifications.admin import CampaignMessageAdmin
from notifications.models import CampaignMessage

FACT_ROWS = 8


# ----------------------------------------------------------------------------- the generator's form


class GenerateForm(forms.Form):
    channel = forms.ChoiceField(choices=[(c, c.replace("_", "-")) for c in CHANNELS])
    brief = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=services.MAX_BRIEF_LENGTH,
        help_text="What the message is about, who it is for. Numbers and dates go in the facts below.",
    )
    tone = forms.ChoiceField(choices=[(t, t) for t in TONES])
    variants = forms.IntegerField(min_value=1, max_value=10, initial=3, label="how many variants")
    locale = forms.ChoiceField(choices=LOCALE_CHOICES, help_text="Default: the brand's content settings.")


class FactForm(forms.Form):
    name = forms.CharField(max_length=services.MAX_FACT_KEY_LENGTH, required=False)
    value = forms.CharField(max_length=services.MAX_FACT_VALUE_LENGTH, required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("value") and not cleaned.get("name"):
            self.add_error("name", "A fact needs a name (discount, price, ends_at, product, code, url …).")
        return cleaned


FactFormSet = formset_factory(FactForm, extra=FACT_ROWS, max_num=services.MAX_FACTS)


def facts_of(formset) -> dict[str, str]:
    return {f.cleaned_data["name"].strip(): f.cleaned_data.get("value", "") for f in formset.forms
            if f.cleaned_data.get("name")}  # fmt: skip


# ----------------------------------------------------------------------------- using a draft


class UseDraftForm(forms.Form):
    campaign_message = forms.ModelChoiceField(
        queryset=CampaignMessage.objects.filter(state__in=["draft", "cancelled"]).select_related("campaign"),
        required=False,
        help_text="The draft becomes this message's template for the draft's channel.",
    )
    experiment = forms.ModelChoiceField(
        queryset=Experiment.objects.filter(status="running").select_related("campaign"),
        required=False,
        help_text="Or: a push draft becomes a variant's message (before any customer saw it).",
    )
    variant = forms.CharField(max_length=50, required=False, help_text="The variant's key, like B.")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if bool(cleaned.get("campaign_message")) == bool(cleaned.get("experiment")):
            raise forms.ValidationError("Choose a campaign message, or an experiment and a variant.")
        if cleaned.get("experiment") and not cleaned.get("variant"):
            self.add_error("variant", "Which variant gets this message.")
        return cleaned


def report_table(report: dict[str, Any]) -> str:
    rows = format_html_join(
        "",
        '<tr class="{}"><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            ("passed" if c.get("passed") else "failed", c.get("reason", ""), "passed" if c.get("passed") else "FAILED",
             c.get("detail", "") or "—")
            for c in report.get("checks", [])
        ),
    )  # fmt: skip
    return format_html(
        '<table class="filter-report"><thead><tr><th>rule</th><th>result</th><th>what it found</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        rows,
    )


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "excerpt", "provider", "passed", "status", "created_at"]
    list_filter = ["status", "channel", "passed", "provider"]
    search_fields = ["title", "body"]
    list_select_related = ["generation"]
    actions = ["approve", "reject"]
    fields = ["channel", "title", "body", "html_source", "report", "provider", "generation_summary", "facts",
              "prompt_hash", "status", "decided_by", "decided_at", "decision_note", "use_link"]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Draft | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Draft, form: forms.ModelForm, change: bool) -> None:
        return  # read-only: decisions go through the actions

    @admin.display(description="text")
    def excerpt(self, draft: Draft) -> str:
        text = f"{draft.title} — {draft.body}" if draft.title else draft.body
        return text[:90] + ("…" if len(text) > 90 else "")

    @admin.display(description="HTML (sanitised)")
    def html_source(self, draft: Draft) -> str:
        return format_html("<pre>{}</pre>", draft.html) if draft.html else "—"

    @admin.display(description="filter report")
    def report(self, draft: Draft) -> str:
        verdict = (
            "passed every rule"
            if draft.passed
            else "failed: " + ", ".join(draft.filter_report.get("failed", []))
        )
        return format_html("<p><strong>{}</strong></p>{}", verdict, report_table(draft.filter_report))

    @admin.display(description="generation")
    def generation_summary(self, draft: Draft) -> str:
        g = draft.generation
        fallback = (
            f" — offline stood in: {g.fallback_reason} ({g.fallback_detail})" if g.fallback_reason else ""
        )
        return format_html(
            "#{} · {} · tone {} · {} · asked {} {}{}<br>brief: {}", g.pk, g.channel, g.tone, g.locale, g.provider,
            g.model, fallback, g.brief,
        )  # fmt: skip

    @admin.display(description="facts")
    def facts(self, draft: Draft) -> str:
        facts = draft.generation.facts or {}
        if not facts:
            return "—"
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((k, v) for k, v in facts.items()))
        return format_html(
            "<table><thead><tr><th>fact</th><th>value</th></tr></thead><tbody>{}</tbody></table>", rows
        )

    @admin.display(description="use")
    def use_link(self, draft: Draft) -> str:
        if draft.status != Draft.Status.APPROVED:
            return "Only an approved draft can become a template or a variant."
        return format_html('<a class="button" href="{}">Use this draft…</a>',
                           reverse("admin:content_draft_use", args=[draft.pk]))  # fmt: skip

    def _decide(self, request: HttpRequest, queryset: QuerySet[Draft], service, done: str) -> None:
        for pk in queryset.values_list("pk", flat=True):
            try:
                service(draft_id=pk, actor=actor_for(request.user))
            except ApplicationError as error:
                self.message_user(request, f"Draft {pk}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"Draft {pk} {done}.", messages.SUCCESS)

    @admin.action(
        description="Approve the selected drafts (only those that passed the filter)", permissions=["change"]
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[Draft]) -> None:
        self._decide(request, queryset, services.draft_approve, "approved")

    @admin.action(description="Reject the selected drafts", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Draft]) -> None:
        self._decide(request, queryset, services.draft_reject, "rejected")

    def get_urls(self):
        return [
            path("generate/", self.admin_site.admin_view(self.generate_view), name="content_draft_generate"),
            path("<int:draft_id>/use/", self.admin_site.admin_view(self.use_view), name="content_draft_use"),
            *super().get_urls(),
        ]

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("content.add_draft"):
            raise PermissionDenied
        message = None
        message_id = request.GET.get("campaign_message", "")
        if message_id.isdigit():
            message = get_object_or_404(CampaignMessage, pk=int(message_id))
        initial = {"channel": message.first_channel if message else "push", "tone": "friendly",
                   "variants": 3, "locale": content_settings().locale}  # fmt: skip
        form = GenerateForm(request.POST or None, initial=initial)
        facts = FactFormSet(request.POST or None, prefix="facts")
        if request.method == "POST" and form.is_valid() and facts.is_valid():
            data = form.cleaned_data
            try:
                generation = services.drafts_generate(
                    channel=data["channel"], brief=data["brief"], facts=facts_of(facts), tone=data["tone"],
                    variants=data["variants"], locale=data["locale"], actor=actor_for(request.user),
                    campaign_message_id=message.pk if message else None,
                )  # fmt: skip
            except ApplicationError as error:
                for name, problems in (error.fields or {"__all__": [error.message]}).items():
                    for problem in problems:
                        form.add_error(name if name in form.fields else None, problem)
            else:
                passed = generation.drafts.filter(passed=True).count()
                note = (
                    f" (offline stood in: {generation.fallback_reason})" if generation.fallback_reason else ""
                )
                self.message_user(
                    request, f"{generation.variants} drafts written by {generation.provider}{note}; {passed} passed "
                    "the filter. Approve the ones you want, then use them.", messages.SUCCESS,
                )  # fmt: skip
                url = reverse("admin:content_draft_changelist") + f"?generation__id__exact={generation.pk}"
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Generate variants{f' for {message}' if message else ''}",
            "form": form,
            "facts": facts,
            "campaign_message": message,
        }
        return TemplateResponse(request, "admin/content/draft/generate.html", context)

    def use_view(self, request: HttpRequest, draft_id: int) -> HttpResponse:
        if not request.user.has_perm("content.change_draft"):
            raise PermissionDenied
        draft = get_object_or_404(Draft, pk=draft_id)
        form = UseDraftForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data, actor = form.cleaned_data, actor_for(request.user)
            try:
                if data.get("campaign_message"):
                    target = services.draft_use_in_campaign_message(
                        draft_id=draft.pk, campaign_message_id=data["campaign_message"].pk, actor=actor
                    )
                    done = f"Draft {draft.pk} is now the {draft.channel} template of {target}."
                else:
                    target = services.draft_use_in_variant(
                        draft_id=draft.pk,
                        experiment_id=data["experiment"].pk,
                        variant_key=data["variant"],
                        actor=actor,
                    )
                    done = f"Draft {draft.pk} is now the message of variant {target.key}."
            except ApplicationError as error:
                form.add_error(None, error.message)
                for name, problems in error.fields.items():
                    for problem in problems:
                        form.add_error(None, f"{name}: {problem}")
            else:
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:content_draft_change", args=[draft.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Use draft {draft.pk}",
            "form": form,
            "draft": draft,
        }
        return TemplateResponse(request, "admin/content/draft/use.html", context)


class ContentSettingsForm(forms.ModelForm):
    class Meta:
        model = ContentSettings
        fields = ["locale", "allowed_link_hosts", "blocked_terms", "sms_max_segments"]
        widgets = {
            "allowed_link_hosts": forms.Textarea(attrs={"rows": 4}),
            "blocked_terms": forms.Textarea(attrs={"rows": 6}),
        }


@admin.register(ContentSettings)
class ContentSettingsAdmin(admin.ModelAdmin):
    form = ContentSettingsForm
    list_display = ["__str__", "locale", "sms_max_segments"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not ContentSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: ContentSettings | None = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: ContentSettings, form: forms.ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        saved = services.content_settings_update(
            actor=actor_for(request.user), locale=data["locale"], allowed_link_hosts=data["allowed_link_hosts"],
            blocked_terms=data["blocked_terms"], sms_max_segments=data["sms_max_segments"],
        )  # fmt: skip
        obj.pk = saved.pk
        obj._state.adding = False


@admin.action(description="Generate content variants for the selected message…", permissions=["view"])
def generate_variants(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[CampaignMessage]
):
    ids = list(queryset.values_list("pk", flat=True)[:2])
    if len(ids) != 1:
        modeladmin.message_user(
            request, "Select one campaign message to generate variants for.", messages.ERROR
        )
        return None
    return HttpResponseRedirect(reverse("admin:content_draft_generate") + f"?campaign_message={ids[0]}")


CampaignMessageAdmin.actions = [*CampaignMessageAdmin.actions, generate_variants]
