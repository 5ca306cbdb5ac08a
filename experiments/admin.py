"""The CRM's admin for experiments: a form and a variants inline (no JSON), results on the page.

Creating one calls `experiments.services.experiment_create` with the inline's rows (the first row is the
control); after that the set-up is read-only (changing it mid-test would bias the results: start a new
experiment, or re-randomise). Actions call the services: conclude (roll the winner out), re-randomise.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from core.actors import actor_for
from core.exceptions import ApplicationError
from experiments import selectors, services
from experiments.models import Experiment, Variant
from experiments.services import VariantSpec

SETUP_FIELDS = ["campaign", "name", "primary_metric", "coverage", "confidence", "min_sample_per_variant"]


class VariantFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        rows = [f.cleaned_data for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if len(rows) < 2:
            raise forms.ValidationError(
                "An experiment needs at least two variants: the first is the control."
            )
        keys = [row["key"] for row in rows]
        if len(set(keys)) != len(keys):
            raise forms.ValidationError("Variant keys must be different from each other.")


class VariantInline(admin.TabularInline):
    model = Variant
    formset = VariantFormSet
    extra = 2
    min_num = 0
    fields = [
        "key",
        "weight",
        "message_title",
        "message_body",
        "reward_type",
        "reward_value",
        "reward_description",
    ]
    formfield_overrides = {}

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        return list(self.fields) if obj is not None else []

    def get_extra(self, request: HttpRequest, obj: Experiment | None = None, **kwargs: Any) -> int:
        return 0 if obj is not None else 2

    def has_add_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        return obj is None and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        return False


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "campaign", "status", "primary_metric", "coverage", "winner", "created_at"]
    list_filter = ["status", "primary_metric"]
    search_fields = ["name", "campaign__name"]
    list_select_related = ["campaign"]
    inlines = [VariantInline]
    actions = ["conclude", "rerandomise"]

    def get_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        if obj is None:
            return SETUP_FIELDS
        return [*SETUP_FIELDS, "status", "winner", "bucket_version", "concluded_at", "results"]

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        if obj is None:
            return []
        return [*SETUP_FIELDS, "status", "winner", "bucket_version", "concluded_at", "results"]

    @admin.display(description="results")
    def results(self, experiment: Experiment) -> str:
        data = selectors.results_data(experiment, selectors.experiment_results(experiment=experiment))

        def pct(value: float | None) -> str:
            return "—" if value is None else f"{value * 100:.2f} %"

        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    v["key"] + (" (control)" if v["control"] else ""),
                    v["exposures"],
                    v["conversions"],
                    pct(v["rate"]),
                    "—" if v["ci95"] is None else f"{pct(v['ci95'][0])} – {pct(v['ci95'][1])}",
                    pct(v["lift"]),
                    "—" if v["p_value"] is None else f"{v['p_value']:.4f}",
                    pct(v["p_best"]),
                )
                for v in data["variants"]
            ),
        )
        return format_html(
            '<table class="experiment-results"><thead><tr><th>variant</th><th>exposed</th><th>converted</th>'
            "<th>rate</th><th>95 % interval</th><th>lift</th><th>p-value</th><th>P(best)</th></tr></thead>"
            '<tbody>{}</tbody></table><p>Sample ratio check p = {}{}</p><p class="recommendation">'
            "<strong>{}</strong></p>",
            rows,
            f"{data['srm']['p_value']:.4g}",
            " — mismatch: no winner until the assignment is fixed" if data["srm"]["mismatch"] else "",
            data["recommendation"],
        )

    def save_model(self, request: HttpRequest, obj: Experiment, form: forms.ModelForm, change: bool) -> None:
        if change:
            return  # the set-up is read-only once created
        # Created with its variants in save_related, by the service (one audit row, both together).

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        if change:
            return
        (formset,) = formsets
        specs = [
            VariantSpec(
                key=row["key"], weight=row["weight"], message_title=row.get("message_title", ""),
                message_body=row.get("message_body", ""), reward_type=row.get("reward_type", ""),
                reward_value=row.get("reward_value"), reward_description=row.get("reward_description", ""),
            )
            for row in (f.cleaned_data for f in formset.forms)
            if row and not row.get("DELETE")
        ]  # fmt: skip
        data = form.cleaned_data
        experiment = services.experiment_create(
            campaign=data["campaign"], variants=specs, actor=actor_for(request.user), name=data["name"],
            coverage=data["coverage"], primary_metric=data["primary_metric"], confidence=data["confidence"],
            min_sample_per_variant=data["min_sample_per_variant"],
        )  # fmt: skip
        # The admin goes on with the object it built (log entry, redirect): make it the saved one.
        form.instance.__dict__.update({k: v for k, v in experiment.__dict__.items() if k != "_state"})
        form.instance._state.adding = False
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    @admin.action(description="Conclude: roll the winner out to everyone", permissions=["change"])
    def conclude(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in queryset:
            try:
                done = services.experiment_conclude(
                    experiment_id=experiment.pk, actor=actor_for(request.user)
                )
            except ApplicationError as error:
                self.message_user(request, f"{experiment}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{experiment}: {done.winner} rolled out.", messages.SUCCESS)

    @admin.action(description="Re-randomise (everyone assigned afresh)", permissions=["change"])
    def rerandomise(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in queryset:
            try:
                services.experiment_rerandomise(experiment_id=experiment.pk, actor=actor_for(request.user))
            except ApplicationError as error:
                self.message_user(request, f"{experiment}: {error.message}", messages.ERROR)
