import sys

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, schema_context
from tqdm import tqdm

from campaigns.models import Campaign
from core.actors import SYSTEM_ACTOR
from dispatches.models import Dispatch
from dispatches.services import dispatch_replay_dead
from tenants.models import Brand


class Command(BaseCommand):
    help = (
        "Replay a brand's dead dispatches (all, or one campaign's): each goes back to pending and is "
        "sent again with the same webhook-id / Idempotency-Key."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--schema", required=True, help="the brand's schema, e.g. brand_a")
        parser.add_argument("--campaign", type=int, help="only this campaign's dead dispatches")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")

    def handle(self, *args, schema: str, campaign: int | None, no_progress: bool, **options) -> None:
        if schema == get_public_schema_name() or not Brand.objects.filter(schema_name=schema).exists():
            raise CommandError(f"No brand with schema {schema!r}.")
        with schema_context(schema):
            if campaign is not None and not Campaign.objects.filter(pk=campaign).exists():
                raise CommandError(f"No campaign {campaign} in {schema}.")
            dead = Dispatch.objects.filter(status=Dispatch.Status.DEAD)
            if campaign is not None:
                dead = dead.filter(campaign_id=campaign)
            with tqdm(
                total=dead.count(), unit="dispatch", desc="replaying", disable=no_progress, file=sys.stderr
            ) as bar:
                replayed = dispatch_replay_dead(campaign_id=campaign, actor=SYSTEM_ACTOR, progress=bar.update)
        scope = f"campaign {campaign}" if campaign is not None else "all campaigns"
        self.stdout.write(f"Replayed {replayed} dead dispatch(es) of {schema} ({scope}).")
