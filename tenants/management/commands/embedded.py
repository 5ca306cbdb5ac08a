from django.core.management.base import BaseCommand

from config import embedded


class Command(BaseCommand):
    help = "Status of, or stop, the embedded PostgreSQL and Redis used when DATABASE_URL/REDIS_URL are unset."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["status", "stop", "start"])

    def handle(self, *args, action: str, **options) -> None:
        if action == "start":
            embedded.database_url()
            embedded.redis_url()
        lines = embedded.stop() if action == "stop" else embedded.status()
        for line in lines:
            self.stdout.write(line)
