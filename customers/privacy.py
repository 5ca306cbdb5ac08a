"""Where a brand keeps a customer's id outside this app, and the pseudonym an erase gives it.

Apps above this one (purchases, awards, notifications, partner tokens…) keep the customer as text
in a field named `customer_id`; this app cannot import them (ADR 0011), so it finds them through the
app registry: every tenant model with a `customer_id` text field. A new model that stores a customer
id under that name is exported and pseudonymised without a change here
(tests/customers/test_privacy.py lists the ones it expects).
"""

from __future__ import annotations

import hashlib
import hmac

from django.apps import apps
from django.conf import settings
from django.db import models

ERASED_PREFIX = "erased-"


def pseudonym(*, schema: str, customer_id: str) -> str:
    """The stable salted hash that replaces an erased customer's id (same input → same pseudonym)."""
    digest = hmac.new(
        settings.CUSTOMER_ERASURE_SALT.encode(), f"{schema}\x00{customer_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"{ERASED_PREFIX}{digest[:40]}"


def customer_id_holders() -> list[type[models.Model]]:
    """Tenant models outside `customers` that name a customer by a `customer_id` text field."""
    tenant_apps = {app.split(".")[0] for app in settings.TENANT_APPS}
    holders = []
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label == "customers" or meta.app_config.name.split(".")[0] not in tenant_apps:
            continue
        field = next((f for f in meta.concrete_fields if f.name == "customer_id"), None)
        if isinstance(field, models.CharField) and not field.is_relation:
            holders.append(model)
    return sorted(holders, key=lambda model: model._meta.label_lower)
