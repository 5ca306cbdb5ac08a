"""`manage.py replay_dead_notifications --schema S [--campaign ID]`: queue dead notifications again."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from core.actors import SYSTEM_ACTOR
from notifications.services import notifications_replay_dead
from tenants.models import Brand


class Command(BaseCommand):
    help = "Replay the dead push notifications of a brand (optionally of one campaign)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--schema", required=True)
        parser.add_argument("--campaign", type=int, default=None)

    def handle(self, *args, schema: str, campaign: int | None, **options) -> None:
        if not Brand.objects.filter(schema_name=schema).exclude(schema_name="public").exists():
            raise CommandError(f"No brand with schema {schema!r}.")
        with schema_context(schema):
            replayed = notifications_replay_dead(actor=SYSTEM_ACTOR, campaign_id=campaign)
        self.stdout.write(f"{replayed} dead notification(s) queued again in {schema}.")
