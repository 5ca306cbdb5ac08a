"""Input of the journeys API; the steps are validated by journeys/steps.py (pydantic) in the service."""

from __future__ import annotations

from rest_framework import serializers

from journeys.models import Journey


class JourneyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    entry = serializers.JSONField(help_text='`{"segment": <segment id>}` or `{"event": "<event name>"}`.')
    re_entry = serializers.ChoiceField(choices=Journey.ReEntry.choices, default=Journey.ReEntry.NEVER)
    re_entry_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)
    exit_event = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    campaign = serializers.IntegerField(
        required=False, allow_null=True, help_text="Messages are attributed to it."
    )
    steps = serializers.ListField(
        child=serializers.JSONField(),
        help_text="The steps in order (the first is where enrollments start): kinds `send`, `wait`, "
        "`wait_for_event`, `branch`, `split`, `exit`, each naming the next step by `key`.",
    )


class EnrollSerializer(serializers.Serializer):
    customer_id = serializers.CharField(max_length=200)
