from campaigns.services import campaigns_complete_expired
from config.celery import tenant_task


@tenant_task(name="campaigns.complete_expired")
def campaigns_complete_expired_task() -> int:
    """Per-brand (beat, every minute, via tenants.for_each_tenant): close campaigns past `ends_at`."""
    return campaigns_complete_expired()
