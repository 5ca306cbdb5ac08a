"""Services recognise a violated constraint by its name: the names they expect must exist."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from campaigns.models import Campaign
from core.db import violated_constraint
from partners.models import Partner
from tests.partners.factories import PartnerFactory


@pytest.mark.parametrize(
    ("model", "constraint"),
    [(Partner, Partner.SLUG_UNIQUE_CONSTRAINT), (Campaign, Campaign.NAME_UNIQUE_CONSTRAINT)],
)
def test_the_constraint_names_services_expect_exist_in_the_brand_schema(brand_a, model, constraint):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE n.nspname = %s AND c.conname = %s",
            [brand_a.schema_name, constraint],
        )
        assert cursor.fetchall() == [(model._meta.db_table,)]


def test_violated_constraint_reads_the_name_off_the_error(brand_a):
    first = PartnerFactory(slug="taken")
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        Partner.objects.create(
            slug="taken",
            name="x",
            submission_url=first.submission_url,
            auth_url=first.auth_url,
            secret=first.secret,
        )
    assert violated_constraint(caught.value) == Partner.SLUG_UNIQUE_CONSTRAINT
