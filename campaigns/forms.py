"""The campaign form a CRM person fills in: no JSON, every field with a label and a help text.

The reward is a type, a value and a description; the push is a title and a body (with the
variables listed and a preview); the currency is a select of ISO 4217 codes; amounts read as
money (`25.00`, not `25.0000`). The form composes `reward` and `notification` from those fields
and leaves every rule to `services.campaign_validate`, so the API and the admin say the same.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.html import format_html

from campaigns import services
from campaigns.models import Campaign, ItemRule
from core.db import constraint_for_message
from core.money import ISO_4217_MINOR_UNITS, is_iso_4217, to_minor_unit

REWARD_TYPE_CHOICES = [("", "— no reward yet —"), ("voucher", "Voucher"), ("special_offer", "Special offer")]
CURRENCY_CHOICES = [(code, code) for code in sorted(ISO_4217_MINOR_UNITS)]


class CurrencyField(forms.ChoiceField):
    """A select of ISO 4217 codes; typed input is accepted in any case (`eur` is EUR)."""

    def to_python(self, value: Any) -> str:
        return super().to_python(value).strip().upper()


class MoneyInput(forms.TextInput):
    """A text input followed by the campaign's currency code (kept in step with the currency select)."""

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None) -> str:
        field = super().render(name, value, attrs, renderer)
        return format_html(
            '{} <span class="currency-of-campaign" data-currency-of="id_currency">{}</span>',
            field,
            self.attrs.get("data-currency", ""),
        )


def money_initial(value: Decimal | None, currency: str) -> Decimal | None:
    """`25.0000` in EUR → `Decimal("25.00")`: shown as money, and equal to the posted value, so an
    untouched field is not "changed" (History once said "Changed minimum purchase value")."""
    if value is None or not is_iso_4217(currency or ""):
        return value
    return to_minor_unit(value, currency)


def plain_number(value: Decimal | None) -> Decimal | None:
    """`2.0000` → `Decimal("2")`, `100.0000` → `Decimal("100")`: a multiplier reads as typed."""
    return None if value is None else Decimal(format(value.normalize(), "f"))


class CampaignAdminForm(forms.ModelForm):
    purchase_channels = forms.MultipleChoiceField(
        label="Purchase channels",
        choices=Campaign.Channel.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Which purchases count: in a store, online, or both.",
    )
    currency = CurrencyField(
        choices=CURRENCY_CHOICES,
        initial="EUR",
        help_text="ISO 4217. Purchases in another currency do not count (reason: currency mismatch).",
    )
    min_purchase_value = forms.DecimalField(
        label="Minimum purchase value",
        min_value=Decimal(0),
        initial=Decimal(0),
        widget=MoneyInput(attrs={"size": 12}),
        help_text="The counted value (after blacklist and whitelist) a purchase needs. 0 = any purchase.",
    )
    reward_type = forms.ChoiceField(label="Reward type", choices=REWARD_TYPE_CHOICES, required=False)
    reward_value = forms.CharField(
        label="Reward value",
        required=False,
        max_length=services.REWARD_VALUE_MAX_LENGTH,
        widget=MoneyInput(attrs={"size": 20}),
        help_text="A voucher's amount in the campaign's currency (10.00), or a special offer's wording "
        "(2 for 1).",
    )
    reward_description = forms.CharField(
        label="Reward description",
        required=False,
        max_length=services.REWARD_DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="What the partner and the customer read, e.g. “10 € off your next purchase”.",
    )
    notification_title = forms.CharField(
        label="Push title",
        required=False,
        max_length=services.NOTIFICATION_TITLE_MAX_LENGTH,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Leave title and body empty for the default texts. Variables: see the list below.",
    )
    notification_body = forms.CharField(
        label="Push body",
        required=False,
        max_length=services.NOTIFICATION_BODY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="e.g. You won {{ award.value }} {{ award.currency }} at {{ campaign.name }}!",
    )

    class Meta:
        model = Campaign
        fields = [field for field in services.EDITABLE_FIELDS if field not in ("reward", "notification")]

    # The admin sets the brand's zone (CampaignAdmin.get_form); dates are shown and read in it.
    timezone_name = "UTC"

    def clean_attribution_window_hours(self) -> int:
        value = self.cleaned_data.get("attribution_window_hours")
        return self.instance.attribution_window_hours if value in (None, "") else value

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        timezone_name = self.timezone_name
        instance = self.instance
        currency = instance.currency or "EUR"
        for name in ("min_purchase_value", "reward_value"):
            if name in self.fields:  # read-only once the campaign is closed
                self.fields[name].widget.attrs["data-currency"] = currency
        if "attribution_window_hours" in self.fields:
            # Left empty, the campaign keeps its window (72 hours for a new one).
            self.fields["attribution_window_hours"].required = False
        if instance.pk:
            self.initial["min_purchase_value"] = money_initial(instance.min_purchase_value, instance.currency)
        reward = instance.reward or {}
        notification = instance.notification or {}
        self.initial.setdefault("reward_type", reward.get("type", ""))
        self.initial.setdefault("reward_value", reward.get("value", ""))
        self.initial.setdefault("reward_description", reward.get("description", ""))
        self.initial.setdefault("notification_title", notification.get("title", ""))
        self.initial.setdefault("notification_body", notification.get("body", ""))
        for name in ("starts_at", "ends_at"):
            if name in self.fields:
                self.fields[
                    name
                ].help_text = f"In {timezone_name} time (the brand's time zone); stored in UTC."
        if "ends_at" in self.fields:
            self.fields["ends_at"].help_text += " Purchases up to, not including, this moment count."
        if "partner" in self.fields:
            self.fields[
                "partner"
            ].help_text = (
                "Where eligible purchases are sent. A draft may have none yet; activating needs one."
            )

    # ---------------------------------------------------------------- composing reward and notification

    def reward_from_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        parts = (data.get("reward_type"), data.get("reward_value"), data.get("reward_description"))
        if not any(parts):
            return {}
        reward = {"type": parts[0] or "", "value": (parts[1] or "").strip(), "description": parts[2] or ""}
        if reward["type"] == "voucher" and is_iso_4217(data.get("currency") or ""):
            try:  # a voucher amount reads as money: "10" EUR is "10.00"
                reward["value"] = format(to_minor_unit(Decimal(reward["value"]), data["currency"]), "f")
            except (ArithmeticError, ValueError):
                pass  # not a number: campaign_validate accepts wording, the partner reads it
        return reward

    def notification_from_fields(self) -> dict[str, str]:
        title = self.cleaned_data.get("notification_title") or ""
        body = self.cleaned_data.get("notification_body") or ""
        return {"title": title, "body": body} if (title or body) else {}

    def validate_unique(self) -> None:
        """Constraints and uniqueness are checked once, by `campaign_validate` (one message per error)."""

    def _post_clean(self) -> None:
        super()._post_clean()
        # The model's own clean reports violated constraints form-wide; campaign_validate reports
        # them again next to their field. Keep the one next to the field.
        form_wide = self._errors.get(NON_FIELD_ERRORS)
        if form_wide is not None:
            kept = [m for m in form_wide if constraint_for_message(Campaign, m) is None]
            if kept:
                self._errors[NON_FIELD_ERRORS] = self.error_class(kept, error_class="nonfield")
            else:
                del self._errors[NON_FIELD_ERRORS]
        self.instance.reward = self.reward_from_fields()
        self.instance.notification = self.notification_from_fields()
        try:
            services.campaign_validate(self.instance)
        except DjangoValidationError as exc:
            fresh: dict[str, list[str]] = {}
            for field, messages in exc.message_dict.items():
                target = {"reward": "reward_type", "notification": "notification_body"}.get(field, field)
                if target in self._errors or (target not in self.fields and target != "__all__"):
                    continue
                fresh[target] = [_without_prefix(message) for message in messages]
            if fresh:
                self._update_errors(DjangoValidationError(fresh))

    @property
    def configuration_changed(self) -> list[str]:
        """The EDITABLE_FIELDS this form changes (reward and notification from their parts)."""
        changed = [name for name in self.changed_data if name in services.EDITABLE_FIELDS]
        if any(name.startswith("reward_") for name in self.changed_data):
            changed.append("reward")
        if any(name.startswith("notification_") for name in self.changed_data):
            changed.append("notification")
        return changed

    def configuration(self) -> dict[str, Any]:
        values = {name: self.cleaned_data.get(name) for name in services.EDITABLE_FIELDS}
        values["reward"] = self.instance.reward
        values["notification"] = self.instance.notification
        return values


def _without_prefix(message: str) -> str:
    """`body: {{ award.valu }} is not a variable…` → the sentence (the field's label says which)."""
    for prefix in ("title: ", "body: "):
        if message.startswith(prefix):
            return f"{prefix[:-2].capitalize()}: {message[len(prefix) :]}"
    return message[:1].upper() + message[1:]


class ItemRuleInlineForm(forms.ModelForm):
    """One inline row; multipliers and bonuses read `2` and `0.5`, not `2.0000`."""

    class Meta:
        model = ItemRule
        fields = ["kind", "match", "value", "multiplier", "bonus_per_unit"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["multiplier"] = plain_number(self.instance.multiplier)
            self.initial["bonus_per_unit"] = plain_number(self.instance.bonus_per_unit)

    def validate_unique(self) -> None:
        """Duplicates are reported by the service, once, on Value."""


class CsvUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Comma, semicolon or tab separated; UTF-8.")
    remove_missing = forms.BooleanField(
        label="Also remove the rules the file does not list",
        required=False,
        help_text="Off: the file adds rules and updates multipliers and bonuses; nothing is removed.",
    )


class CampaignImportForm(forms.Form):
    """The campaign import page: a JSON export file and what to do with names already taken."""

    file = forms.FileField(label="JSON export file", help_text="A file made by “Export selected campaigns”.")
    on_conflict = forms.ChoiceField(
        label="Names already taken",
        choices=[("error", "Stop and tell me"), ("rename", "Import under a new name, like “Summer (2)”")],
        initial="error",
    )


class CancelCampaignForm(forms.Form):
    note = forms.CharField(
        label="Why (kept in the lifecycle history; required to cancel)",
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"size": 60}),
    )
