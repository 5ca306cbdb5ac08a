"""The journey editor's forms: one form per step, typed fields per kind, no JSON to type.

A step form turns into the step document the API takes (`journeys/steps.py`), and a document back
into a form's initial values, so the admin and the API write through the same service
(`journey_create` / `journey_update`), which checks the whole graph at once. Waits are given in
days, hours and minutes. Timeouts are given in hours. A branch condition is built from fields:
an event counted over days, or a customer value compared with a value. A condition the fields
cannot express (written through the API, say) stays in an optional "advanced" box as it is. A
split's variants are routed one per line: `A: thanks`.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from customers.models import Segment
from experiments.models import Experiment
from journeys.models import Journey, StepKind
from journeys.services import JOURNEY_FIELDS
from journeys.steps import KEY, MAX_BRANCHES, MAX_WAIT_FOR_EVENT_SECONDS

BRANCH_ROWS = 3
BLANK = [("", "—")]
KEY_VALIDATOR = RegexValidator(KEY, "Letters, digits, - and _ only (at most 50).")
# One list for both kinds of condition: an event count takes the first six, a value all of them.
OPS = [
    ("gte", "at least"),
    ("lte", "at most"),
    ("eq", "is / exactly"),
    ("ne", "is not"),
    ("gt", "more than"),
    ("lt", "less than"),
    ("contains", "contains"),
    ("exists", "is set"),
]
COUNT_OPS = {"gte", "lte", "eq", "ne", "gt", "lt"}
ATTR_OPS = {op for op, _label in OPS}
CHANNELS = [("email", "Email"), ("sms", "SMS"), ("push", "Push"), ("in_app", "In-app")]
CATEGORIES = [("marketing", "Marketing"), ("transactional", "Transactional")]


def _key_field(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label, required=False, max_length=50, validators=[KEY_VALIDATOR], help_text=help_text
    )


def _typed(path: str, raw: str) -> Any:
    """The value a CRM person typed, as the DSL compares it: numbers for stats and numeric
    attributes, booleans for true/false attributes, text otherwise (country, locale)."""
    text = raw.strip()
    if path.startswith("stats.") or path.startswith("attributes."):
        if path.startswith("attributes.") and text.lower() in ("true", "false"):
            return text.lower() == "true"
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number
    return text


class StepForm(forms.Form):
    key = forms.CharField(
        label="Step name", max_length=50, validators=[KEY_VALIDATOR], help_text="e.g. welcome, wait-2-days"
    )
    # A blank first choice: the empty forms at the end post nothing, so they stay unchanged and are skipped.
    kind = forms.ChoiceField(label="Kind", choices=[*BLANK, *StepKind.choices])
    next_key = _key_field("Then go to", "The next step's name; empty: the journey ends here.")
    # send
    channel = forms.ChoiceField(label="Channel", choices=BLANK + CHANNELS, required=False)
    category = forms.ChoiceField(label="Category", choices=CATEGORIES, required=False, initial="marketing")
    topic = forms.CharField(label="Topic", max_length=100, required=False)
    subject = forms.CharField(label="Subject / title", max_length=255, required=False)
    body_text = forms.CharField(
        label="Text",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="May use {{ customer.customer_id }}, {{ customer.country }}, {{ campaign.name }}, {{ unsubscribe_url }}…",
    )
    # wait
    wait_days = forms.IntegerField(label="Wait days", min_value=0, required=False)
    wait_hours = forms.IntegerField(label="hours", min_value=0, required=False)
    wait_minutes = forms.IntegerField(label="minutes", min_value=0, required=False)
    until_local_time = forms.TimeField(
        label="…or until (local time)", required=False, help_text="HH:MM in the customer's timezone"
    )
    # wait_for_event
    event_name = forms.CharField(label="Wait for the event", max_length=100, required=False)
    timeout_hours = forms.IntegerField(
        label="for at most (hours)", min_value=1, max_value=MAX_WAIT_FOR_EVENT_SECONDS // 3600, required=False
    )
    timeout_next_key = _key_field("On timeout go to")
    # split
    experiment = forms.ModelChoiceField(
        label="Experiment", queryset=Experiment.objects.order_by("name"), required=False
    )
    variant_routes = forms.CharField(
        label="Variants go to",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One line per variant: `A: thanks`",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = self._row_count()
        for n in range(1, self.rows + 1):
            self.fields[f"if{n}_type"] = forms.ChoiceField(
                label=f"If {n}",
                required=False,
                choices=[*BLANK, ("event", "the customer had the event"), ("attr", "the customer's value")],
            )
            self.fields[f"if{n}_name"] = forms.CharField(
                label="event or value",
                max_length=100,
                required=False,
                help_text="an event name (purchase, click…) or country, attributes.tier, stats.orders_total…",
            )
            self.fields[f"if{n}_op"] = forms.ChoiceField(
                label="compared", required=False, choices=BLANK + OPS
            )
            self.fields[f"if{n}_value"] = forms.CharField(
                label="value", max_length=200, required=False, help_text="for an event: how many (default 1)"
            )
            self.fields[f"if{n}_days"] = forms.IntegerField(
                label="in the last (days)", min_value=1, max_value=3650, required=False
            )
            self.fields[f"if{n}_advanced"] = forms.CharField(
                label="or an advanced condition",
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
                help_text="Optional: a condition of the segment language, kept as it was written.",
            )
            self.fields[f"if{n}_next"] = _key_field("then go to")

    def _row_count(self) -> int:
        """Three condition rows, or as many as the step already has (a journey written through the API
        may have up to MAX_BRANCHES): editing never drops a branch."""
        rows = BRANCH_ROWS
        for n in range(1, MAX_BRANCHES + 1):
            if f"if{n}_next" in self.initial or any(
                self.add_prefix(f"if{n}_{part}") in self.data for part in ("type", "advanced")
            ):
                rows = max(rows, n)
        return rows

    def branch_rows(self) -> list[list[forms.BoundField]]:
        """The condition rows' fields, for the template."""
        parts = ("type", "name", "op", "value", "days", "advanced", "next")
        return [[self[f"if{n}_{part}"] for part in parts] for n in range(1, self.rows + 1)]

    # ------------------------------------------------------------------ form → document

    def _condition(self, n: int) -> dict[str, Any] | None:
        data = self.cleaned_data
        advanced = (data.get(f"if{n}_advanced") or "").strip()
        if advanced:
            try:
                value = json.loads(advanced)
            except ValueError:
                self.add_error(f"if{n}_advanced", "This advanced condition is not valid JSON.")
                return None
            return value
        kind, name = data.get(f"if{n}_type"), (data.get(f"if{n}_name") or "").strip()
        op, raw, days = data.get(f"if{n}_op") or "", data.get(f"if{n}_value") or "", data.get(f"if{n}_days")
        if not kind:
            return None
        if not name:
            self.add_error(f"if{n}_name", "Name the event or the value.")
            return None
        if kind == "event":
            if op not in COUNT_OPS:
                self.add_error(
                    f"if{n}_op", "For an event: at least, at most, exactly, not, more or less than."
                )
                return None
            if days is None:
                self.add_error(f"if{n}_days", "Say over how many days the events count.")
                return None
            try:
                count = int(raw or "1")
            except ValueError:
                self.add_error(f"if{n}_value", "The number of events is a whole number.")
                return None
            return {"event": name, "within_days": days, "count": {"op": op, "value": count}}
        if op not in ATTR_OPS:
            self.add_error(f"if{n}_op", "For a value: is, is not, more or less than, contains or is set.")
            return None
        if op == "exists":
            return {"attr": name, "op": "exists"}
        return {"attr": name, "op": op, "value": _typed(name, raw)}

    def document(self) -> dict[str, Any]:
        """The step as the API writes it (call on a valid form)."""
        data = self.cleaned_data
        kind = data["kind"]
        step: dict[str, Any] = {"key": data["key"], "kind": kind}
        if kind == StepKind.SEND:
            step.update(
                channel=data.get("channel") or "",
                category=data.get("category") or "marketing",
                topic=data.get("topic") or "",
                subject=data.get("subject") or "",
                body_text=data.get("body_text") or "",
            )
        elif kind == StepKind.WAIT:
            parts = [data.get("wait_days"), data.get("wait_hours"), data.get("wait_minutes")]
            if data.get("until_local_time") is not None:
                step["until_local_time"] = data["until_local_time"].strftime("%H:%M")
            if any(p is not None for p in parts):
                days, hours, minutes = (p or 0 for p in parts)
                step["duration_seconds"] = days * 86400 + hours * 3600 + minutes * 60
        elif kind == StepKind.WAIT_FOR_EVENT:
            hours = data.get("timeout_hours")
            step.update(
                event=data.get("event_name") or "",
                timeout_seconds=hours * 3600 if hours else None,
                timeout_next=data.get("timeout_next_key") or None,
            )
        elif kind == StepKind.BRANCH:
            step["branches"] = [
                {"condition": condition, "next": data.get(f"if{n}_next") or None}
                for n in range(1, self.rows + 1)
                if (condition := self._condition(n)) is not None
            ]
        elif kind == StepKind.SPLIT:
            experiment = data.get("experiment")
            step["experiment_id"] = experiment.pk if experiment else None
            step["variants"] = self._routes()
        if kind != StepKind.EXIT:
            step["next"] = data.get("next_key") or None
        return step

    def _routes(self) -> dict[str, str | None]:
        routes: dict[str, str | None] = {}
        for number, line in enumerate((self.cleaned_data.get("variant_routes") or "").splitlines(), 1):
            if not line.strip():
                continue
            variant, sep, target = line.partition(":")
            if not sep or not variant.strip():
                self.add_error("variant_routes", f"Line {number}: write `variant: step name`.")
                continue
            routes[variant.strip()] = target.strip() or None
        return routes


def initial_of(document: dict[str, Any]) -> dict[str, Any]:
    """A step form's initial values from a step document (the inverse of `StepForm.document`)."""
    initial: dict[str, Any] = {
        "key": document["key"],
        "kind": document["kind"],
        "next_key": document.get("next"),
    }
    kind = document["kind"]
    if kind == StepKind.SEND:
        initial.update(
            {name: document.get(name) for name in ("channel", "category", "topic", "subject", "body_text")}
        )
    elif kind == StepKind.WAIT:
        if document.get("duration_seconds") is not None:
            days, rest = divmod(document["duration_seconds"], 86400)
            hours, rest = divmod(rest, 3600)
            initial.update(wait_days=days, wait_hours=hours, wait_minutes=rest // 60)
        else:
            initial["until_local_time"] = document.get("until_local_time")
    elif kind == StepKind.WAIT_FOR_EVENT:
        initial.update(
            event_name=document.get("event"),
            timeout_hours=(document.get("timeout_seconds") or 0) // 3600 or None,
            timeout_next_key=document.get("timeout_next"),
        )
    elif kind == StepKind.BRANCH:
        for n, branch in enumerate(document.get("branches", []), 1):
            initial[f"if{n}_next"] = branch.get("next")
            initial.update(_condition_initial(n, branch["condition"]))
    elif kind == StepKind.SPLIT:
        initial["experiment"] = document.get("experiment_id")
        initial["variant_routes"] = "\n".join(
            f"{variant}: {target or ''}" for variant, target in document.get("variants", {}).items()
        )
    return initial


def _condition_initial(n: int, condition: dict[str, Any]) -> dict[str, Any]:
    """The builder's fields for a condition they can express; else the advanced box, as written."""
    count = condition.get("count") or {"op": "gte", "value": 1}
    if (
        "event" in condition
        and set(condition) <= {"event", "within_days", "count"}
        and count["op"] in COUNT_OPS
    ):
        return {
            f"if{n}_type": "event",
            f"if{n}_name": condition["event"],
            f"if{n}_op": count["op"],
            f"if{n}_value": str(count["value"]),
            f"if{n}_days": condition["within_days"],
        }
    value = condition.get("value")
    if (
        "attr" in condition
        and set(condition) <= {"attr", "op", "value"}
        and condition.get("op") in ATTR_OPS
        and not isinstance(value, (list, dict))
    ):
        shown = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        return {
            f"if{n}_type": "attr",
            f"if{n}_name": condition["attr"],
            f"if{n}_op": condition["op"],
            f"if{n}_value": shown,
        }
    return {f"if{n}_advanced": json.dumps(condition)}


class BaseStepFormSet(forms.BaseFormSet):
    def documents(self) -> list[dict[str, Any]]:
        """The steps in the order shown (then by the order numbers typed), deleted and empty ones left out."""
        kept = [
            form
            for index, form in enumerate(self.forms)
            if (index < self.initial_form_count() or form.has_changed())
            and not (self.can_delete and form.cleaned_data.get("DELETE"))
        ]
        if self.can_order:
            kept.sort(
                key=lambda form: (form.cleaned_data.get("ORDER") is None, form.cleaned_data.get("ORDER") or 0)
            )
        documents = [form.document() for form in kept]
        self.step_forms = kept
        return documents


StepFormSet = forms.formset_factory(
    StepForm, formset=BaseStepFormSet, extra=2, can_delete=True, can_order=True
)


class NewJourneyForm(forms.ModelForm):
    """The settings of a new journey, entry as a choice (a segment, or an event name) rather than JSON."""

    class Meta:
        model = Journey
        fields = JOURNEY_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entry_segment"].queryset = Segment.objects.order_by("name")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("entry_segment")) == bool((data.get("entry_event") or "").strip()):
            raise forms.ValidationError("Customers enter by a segment or by an event: choose one of them.")
        return data

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        segment = data.get("entry_segment")
        return {
            "name": data["name"],
            "entry": {"segment": segment.pk} if segment else {"event": data["entry_event"].strip()},
            "re_entry": data["re_entry"],
            "re_entry_days": data.get("re_entry_days"),
            "exit_event": data.get("exit_event") or "",
            "campaign": data["campaign"].pk if data.get("campaign") else None,
        }
