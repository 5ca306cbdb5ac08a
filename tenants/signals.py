"""Signals of the tenants app, for the apps above it (tenants imports none of them).

`brand_created` is sent by `tenants.services.brand_create` once a brand's schema and host exist — on
first creation (`created=True`) and again on every harmless re-run (`created=False`), so receivers
that set a brand up must be idempotent, and a re-run completes what an interrupted one left out.
"""

from django.dispatch import Signal

brand_created = Signal()  # kwargs: brand (tenants.models.Brand), created (bool)
