"""The CRM's admin for journeys: the flow as a readable, indented list with counts per step, the
settings as typed fields (no JSON), a step editor (one form per step, `journeys/forms.py`) for new
journeys and for the steps of existing ones, activate/pause actions that call the services, and each
enrollment's history (its step runs). The editor writes through the same services as the API,
which check the whole graph at once (ADR 0028); their messages go back on the step they name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.actors import actor_for
from core.exceptions import ApplicationError, ValidationFailed
from journeys import selectors, services
from journeys.forms import NewJourneyForm, StepFormSet, initial_of
from journeys.models import Enrollment, Journey, JourneyStep

SETTINGS_FIELDS = services.JOURNEY_FIELDS


def _describe(step: JourneyStep) -> str:
    if step.kind == "send":
        return f"send {step.channel} ({step.category}): “{step.subject or step.body_text[:60]}”"
    if step.kind == "wait":
        if step.wait_seconds is not None:
            days, rest = divmod(step.wait_seconds, 86400)
            hours, rest = divmod(rest, 3600)
            parts = [
                f"{days} d" if days else "",
                f"{hours} h" if hours else "",
                f"{rest // 60} min" if rest >= 60 else "",
            ]
            return "wait " + (" ".join(p for p in parts if p) or f"{step.wait_seconds} s")
        return f"wait until {step.wait_until_local:%H:%M} local time"
    if step.kind == "wait_for_event":
        return f"wait for “{step.event_name}” up to {step.timeout_seconds // 3600} h"
    if step.kind == "branch":
        return "branch: first matching condition"
    if step.kind == "split":
        return f"split by experiment {step.experiment_id}"
    return "exit"


def _condition_text(condition: Any) -> str:
    if isinstance(condition, dict):
        if "all" in condition:
            return " and ".join(f"({_condition_text(c)})" for c in condition["all"])
        if "any" in condition:
            return " or ".join(f"({_condition_text(c)})" for c in condition["any"])
        if "not" in condition:
            return f"not ({_condition_text(condition['not'])})"
        if "event" in condition:
            count = condition.get("count") or {"op": "gte", "value": 1}
            return f"“{condition['event']}” {count['op']} {count['value']} in {condition.get('within_days')} days"
        if "attr" in condition:
            return f"{condition['attr']} {condition['op']} {condition.get('value')!r}"
        if "geo" in condition:
            return f"within {condition['geo'].get('within_km')} km"
    return str(condition)


def flow_html(journey: Journey, *, version: int | None = None) -> SafeString:
    """The steps in order, the ways out of each indented under it, with entered/waiting/exited."""
    version = version or journey.version
    counts = {row["key"]: row for row in selectors.step_counts(journey, version=version)}
    rows = []
    for step in JourneyStep.objects.filter(journey=journey, version=version).order_by("position"):
        c = counts.get(step.key, {"entered": 0, "waiting": 0, "exited": 0})
        exits: list[tuple[str, str]] = []
        if step.kind == "branch":
            exits += [(f"if {_condition_text(b['condition'])}", b["next"] or "end") for b in step.branches]
            exits.append(("else", step.next_key or "end"))
        elif step.kind == "split":
            exits += [(f"variant {k}", v or step.next_key or "end") for k, v in step.variant_next.items()]
            exits.append(("outside the coverage", step.next_key or "end"))
        elif step.kind == "wait_for_event":
            exits += [
                ("when it arrives", step.next_key or "end"),
                ("on timeout", step.timeout_next_key or "end"),
            ]
        elif step.kind != "exit":
            exits.append(("then", step.next_key or "end"))
        rows.append(
            format_html(
                "<li><strong>{}</strong> — {} <small>(entered {}, waiting {}, exited {})</small><ul>{}</ul></li>",
                step.key,
                _describe(step),
                c["entered"],
                c["waiting"],
                c["exited"],
                format_html_join("", "<li>{} → <code>{}</code></li>", exits),
            )
        )
    return format_html("<ol class='journey-flow'>{}</ol>", format_html_join("", "{}", ((r,) for r in rows)))


def _place_errors(
    fields: dict[str, list[str]], settings: NewJourneyForm | None, step_forms: list[Any], problems: list[str]
) -> None:
    """A service's messages by field (`steps[2].branches[0].condition…`, `name`, `entry.segment`) on the
    form they concern: the step's form, the settings form, or the page."""
    for where, messages_ in fields.items():
        if where.startswith("steps["):
            index_text, _, rest = where[len("steps[") :].partition("]")
            if index_text.isdigit() and int(index_text) < len(step_forms):
                detail = rest.lstrip(".")
                for message in messages_:
                    step_forms[int(index_text)].add_error(None, f"{detail}: {message}" if detail else message)
                continue
        if settings is not None and where.split(".")[0] in settings.fields:
            for message in messages_:
                settings.add_error(where.split(".")[0], message)
            continue
        if settings is not None and where.startswith("entry"):
            for message in messages_:
                settings.add_error(None, message)
            continue
        problems.extend(messages_)


class JourneySettingsForm(forms.ModelForm):
    class Meta:
        model = Journey
        fields = SETTINGS_FIELDS


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    form = JourneySettingsForm
    list_display = ["name", "status", "version", "entry_segment", "entry_event", "re_entry", "activated_at"]
    list_filter = ["status", "re_entry"]
    search_fields = ["name", "entry_event", "exit_event"]
    actions = ["activate", "pause"]
    readonly_fields = ["status", "version", "flow", "activated_at", "created_at", "updated_at"]

    def get_fields(self, request: HttpRequest, obj: Journey | None = None) -> list[str]:
        return [*SETTINGS_FIELDS, *self.readonly_fields]

    @admin.display(description="Flow (current version)")
    def flow(self, obj: Journey) -> SafeString:
        if not obj.pk:
            return format_html("—")
        url = reverse("admin:journeys_journey_steps", args=[obj.pk])
        return format_html('{}<p><a class="button" href="{}">Edit the steps</a></p>', flow_html(obj), url)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/steps/", view(self.steps_view), name="journeys_journey_steps"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """A new journey: its settings and its steps on one page (a journey needs steps to exist)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._editor(request, None)

    def steps_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        journey = get_object_or_404(Journey, pk=object_id)
        if not self.has_view_or_change_permission(request, journey):
            raise PermissionDenied
        return self._editor(request, journey)

    def _editor(self, request: HttpRequest, journey: Journey | None) -> HttpResponse:
        can_change = (
            self.has_add_permission(request)
            if journey is None
            else self.has_change_permission(request, journey)
        )
        settings = NewJourneyForm(request.POST or None) if journey is None else None
        initial = [initial_of(step) for step in services.steps_of(journey)] if journey else []
        steps = StepFormSet(request.POST or None, initial=initial, prefix="steps")
        problems: list[str] = []
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            if steps.is_valid() and (settings is None or settings.is_valid()):
                documents = steps.documents()
                if not any(form.errors for form in steps.step_forms):
                    saved = self._save_steps(request, journey, settings, documents, steps, problems)
                    if saved is not None:
                        return HttpResponseRedirect(reverse("admin:journeys_journey_change", args=[saved.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Steps of {journey.name}" if journey else "Add journey",
            "journey": journey,
            "settings": settings,
            "steps": steps,
            "problems": problems,
            "can_change": can_change,
            "new_version": journey is not None and journey.status != Journey.Status.DRAFT,
        }
        return TemplateResponse(request, "admin/journeys/journey/editor.html", context)

    def _save_steps(
        self,
        request: HttpRequest,
        journey: Journey | None,
        settings: NewJourneyForm | None,
        documents: list[dict[str, Any]],
        steps: Any,
        problems: list[str],
    ) -> Journey | None:
        actor = actor_for(request.user)
        try:
            if journey is not None:
                saved = services.journey_update(journey_id=journey.pk, data={"steps": documents}, actor=actor)
                self.message_user(
                    request, f"The steps of “{saved.name}” were saved (version {saved.version})."
                )
            else:
                data = settings.service_data() if settings is not None else {}
                saved = services.journey_create(data={**data, "steps": documents}, actor=actor)
                self.message_user(
                    request, f"The journey “{saved.name}” was added, as a draft.", messages.SUCCESS
                )
        except ValidationFailed as error:
            _place_errors(error.fields or {}, settings, steps.step_forms, problems)
            return None
        return saved

    def save_model(self, request: HttpRequest, obj: Journey, form: forms.ModelForm, change: bool) -> None:
        data: dict[str, Any] = {}
        for name in form.changed_data:
            value = form.cleaned_data[name]
            if name == "entry_segment" or name == "entry_event":
                continue
            data[name] = value.pk if name == "campaign" and value is not None else value
        if {"entry_segment", "entry_event"} & set(form.changed_data):
            segment = form.cleaned_data.get("entry_segment")
            data["entry"] = (
                {"segment": segment.pk} if segment else {"event": form.cleaned_data.get("entry_event")}
            )
        try:
            services.journey_update(journey_id=obj.pk, data=data, actor=actor_for(request.user))
        except ApplicationError as error:
            self.message_user(request, f"{error.message} {error.fields or ''}", messages.ERROR)

    def _each(self, request: HttpRequest, queryset: QuerySet[Journey], service: Any, verb: str) -> None:
        done = 0
        for journey in queryset:
            try:
                service(journey_id=journey.pk, actor=actor_for(request.user))
                done += 1
            except ApplicationError as error:
                self.message_user(request, f"{journey}: {error.message}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} journey(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Activate the selected journeys", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        self._each(request, queryset, services.journey_activate, "activated")

    @admin.action(description="Pause the selected journeys", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        self._each(request, queryset, services.journey_pause, "paused")


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["customer_id", "journey", "version", "state", "step_key", "next_run_at", "entered_at"]
    list_filter = ["state", "journey"]
    search_fields = ["customer_id"]
    list_select_related = ["journey"]
    fields = [
        "journey",
        "version",
        "customer_id",
        "state",
        "step_key",
        "next_run_at",
        "variant",
        "exit_reason",
        "entered_at",
        "finished_at",
        "history",
    ]
    readonly_fields = fields

    @admin.display(description="History (step runs)")
    def history(self, obj: Enrollment) -> SafeString:
        rows = selectors.enrollment_history(obj)
        return format_html(
            "<table><tr><th>step</th><th>kind</th><th>outcome</th><th>detail</th><th>next</th><th>started</th>"
            "<th>finished</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        r["step"],
                        r["kind"],
                        r["outcome"],
                        r["detail"] or "",
                        r["next"] or "",
                        r["started_at"],
                        r["finished_at"] or "",
                    )
                    for r in rows
                ),
            ),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Enrollment | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Enrollment | None = None) -> bool:
        return False
