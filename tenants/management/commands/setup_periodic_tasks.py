import json

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from core import task_names
from tenants.schedules import PERIODIC_JOBS


class Command(BaseCommand):
    help = "Create or update the beat schedule (django-celery-beat) of every platform job. Safe to re-run."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        for job in PERIODIC_JOBS:
            if job.in_tick:
                # Run by the maintenance tick (ADR 0008): no beat entry of its own; drop an old one.
                if PeriodicTask.objects.filter(name=job.name).delete()[0]:
                    self.stdout.write(f"removed: {job.name} (now run by the maintenance tick)")
                continue
            per_brand = job.scope == "tenant"
            defaults = {
                "task": task_names.FOR_EACH_TENANT if per_brand else job.tenant_task,
                "args": json.dumps([job.tenant_task] if per_brand else []),
                "description": job.description,
                "interval": None,
                "crontab": None,
            }
            if job.every_seconds:
                defaults["interval"], _ = IntervalSchedule.objects.get_or_create(
                    every=job.every_seconds, period=IntervalSchedule.SECONDS
                )
            else:
                minute, hour, day_of_month, month_of_year, day_of_week = job.crontab.split()
                defaults["crontab"], _ = CrontabSchedule.objects.get_or_create(
                    minute=minute,
                    hour=hour,
                    day_of_month=day_of_month,
                    month_of_year=month_of_year,
                    day_of_week=day_of_week,
                    timezone="UTC",
                )
            _, created = PeriodicTask.objects.update_or_create(name=job.name, defaults=defaults)
            self.stdout.write(f"{'created' if created else 'updated'}: {job.name} → {job.tenant_task}")
