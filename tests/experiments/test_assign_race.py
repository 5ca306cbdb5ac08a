"""First asks racing: 8 threads (each its own connection) released by one barrier ask for the same new
customers at once; every thread gets the same variant and one assignment row is stored per customer."""

from __future__ import annotations

import threading

from django.db import connections
from django_tenants.utils import schema_context

from campaigns.models import Campaign
from experiments.models import Assignment, Experiment
from experiments.services import VariantSpec, experiment_assign, experiment_create
from tests.campaigns.factories import CampaignFactory
from tests.support.committed import in_committed_connection

THREADS = 8
CUSTOMERS = [f"race-{i}" for i in range(20)]


def test_concurrent_first_assignments_agree_and_store_one_row(brands, db):
    def create():
        campaign = CampaignFactory(name="Race campaign")
        return experiment_create(
            campaign=campaign,
            actor="system",
            variants=[VariantSpec("A", 1), VariantSpec("B", 1), VariantSpec("C", 1)],
        ).pk

    experiment_id = in_committed_connection(create, schema="brand_a")
    answers: list[dict[str, str | None]] = [{} for _ in range(THREADS)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def asker(index: int) -> None:
        try:
            with schema_context("brand_a"):
                experiment = Experiment.objects.get(pk=experiment_id)
                for customer_id in CUSTOMERS:
                    barrier.wait(timeout=20)
                    answers[index][customer_id] = experiment_assign(
                        experiment=experiment, customer_id=customer_id
                    )
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    try:
        threads = [threading.Thread(target=asker, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert all(a == answers[0] for a in answers)
        assert set(answers[0].values()) <= {"A", "B", "C"}
        stored = in_committed_connection(
            lambda: dict(
                Assignment.objects.filter(experiment_id=experiment_id).values_list("customer_id", "variant")
            ),
            schema="brand_a",
        )
        assert stored == answers[0]
    finally:

        def clean_up():
            for campaign in Campaign.objects.filter(name="Race campaign"):
                partner = campaign.partner
                campaign.delete()
                if partner is not None:
                    partner.delete()

        in_committed_connection(clean_up, schema="brand_a")
