from django.apps import AppConfig


class TenantsConfig(AppConfig):
    """Shared app (public schema): brands, their host names, onboarding commands, fan-out."""

    name = "tenants"
    verbose_name = "Brands"

    def ready(self) -> None:
        # Registers `migrate_schemas --executor=parallel` (django-tenants finds executors by subclass).
        from celery.signals import task_postrun

        from tenants import migration_executor  # noqa: F401
        from tenants.work_due import on_tenant_task_run

        task_postrun.connect(on_tenant_task_run, weak=False, dispatch_uid="tenants.work_due")
