from campaigns.services import campaigns_complete_expired
from config.celery import tenant_task
from core import task_names


@tenant_task(name=task_names.COMPLETE_EXPIRED_CAMPAIGNS)
def campaigns_complete_expired_task() -> int:
    """Per-brand (beat, every minute, via tenants.for_each_tenant): close campaigns past `ends_at`."""
    return campaigns_complete_expired()
