"""The name of every Celery task, once: the wire names in the broker, the outbox and the beat schedule.

A task's name is a contract with messages already queued and beat entries already
written, so it outlives refactors (`partners.*` names belong to tasks that now
live in `dispatches`). Senders that sit below the task's app in the layers (the
outbox, the beat schedule in `tenants`) name it from here instead of importing it.
"""

from __future__ import annotations

# campaigns
COMPLETE_EXPIRED_CAMPAIGNS = "campaigns.complete_expired"
# customers
COMPUTE_SEGMENT = "customers.compute_segment"
REFRESH_CUSTOMER_STATS = "customers.refresh_stats"
# purchases
EVALUATE_PURCHASES = "purchases.evaluate_batch"
SWEEP_UNEVALUATED_PURCHASES = "purchases.sweep_unevaluated"
# dispatches
SEND_DISPATCHES = "partners.send_dispatches"
SEND_DUE_DISPATCHES = "partners.send_due_dispatches"
SEND_RETRACTIONS = "dispatches.send_retractions"
# promotions
GENERATE_CODES = "promotions.generate_codes"
EXPIRE_RESERVATIONS = "promotions.expire_reservations"
# notifications
SEND_NOTIFICATION = "notifications.send"
RETRY_DUE_NOTIFICATIONS = "notifications.retry_due"
SEND_MESSAGE = "notifications.send_message"
# outbox
RELAY_OUTBOX = "outbox.relay"
DRAIN_LANE = "outbox.drain_lane"
# tenants
FOR_EACH_TENANT = "tenants.for_each_tenant"
MAINTENANCE_DISPATCH = "tenants.maintenance_dispatch"
SCHEMA_PROBE = "tenants.schema_probe"
# analytics
ANALYTICS_REFRESH = "analytics.refresh"
EXPERIMENTS_REFRESH = "experiments.refresh"
# journeys
RUN_DUE_JOURNEYS = "journeys.run_due"
# archive
RUN_DUE_ARCHIVES = "archive.run_due"
ARCHIVE_CAMPAIGN = "archive.archive_campaign"
ARCHIVE_EXPIRED_PURCHASES = "archive.archive_expired_purchases"
# monitoring
MAINTENANCE_TICK = "maintenance.tick"
MONITORING_TICK = "monitoring.tick"
REFRESH_TENANT_GAUGES = "metrics.refresh_tenant_gauges"
REFRESH_QUEUE_GAUGES = "metrics.refresh_queue_gauges"
# webhooks
FAN_OUT_WEBHOOK_EVENTS = "webhooks.fan_out_events"
SEND_WEBHOOK_DELIVERIES = "webhooks.send_deliveries"
SEND_DUE_WEBHOOK_DELIVERIES = "webhooks.send_due_deliveries"
