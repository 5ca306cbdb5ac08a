"""Property tests of the item-rule CSV import (SPEC §2): all-or-nothing, exact round trip, never a 500.

Any well-formed file whose rows are valid imports exactly those rules (values byte for byte,
through PostgreSQL COPY); any other input — arbitrary text or bytes — is a 400 that names
what is wrong and imports nothing.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import ItemRule
from tests.campaigns.factories import CampaignFactory

PROPERTY_SETTINGS = settings(
    max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Values as a CRM export could hold them: any printable text, quotes, commas, tabs, backslashes, unicode.
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
).filter(lambda v: v.strip() == v and v != "")
decimals = st.decimals(min_value=1, max_value=100, places=2, allow_nan=False, allow_infinity=False)
bonuses = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)
rows = st.lists(
    st.tuples(
        st.sampled_from(["blacklist", "whitelist"]),
        st.sampled_from(["sku", "category"]),
        values,
        decimals,
        bonuses,
    ),
    min_size=1,
    max_size=15,
    unique_by=lambda row: (row[0], row[1], row[2]),
)


class _Rollback(Exception):
    pass


EXAMPLES: dict[str, list[int]] = {"round_trip": [], "arbitrary": []}  # status codes seen, per property


def _post(client, campaign_id: int, content: bytes):
    return client.post(
        f"/api/v1/campaigns/{campaign_id}/item-rules/import/", data=content, content_type="text/csv"
    )


@PROPERTY_SETTINGS
@given(rows=rows)
def test_valid_rows_round_trip_exactly(crm_client, brand_a, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["kind", "match", "value", "multiplier", "bonus_per_unit"])
    for row in rows:
        writer.writerow([row[0], row[1], row[2], str(row[3]), str(row[4])])
    try:
        with transaction.atomic():
            campaign = CampaignFactory()
            response = _post(crm_client, campaign.pk, buffer.getvalue().encode())
            connection.set_tenant(brand_a)
            EXAMPLES["round_trip"].append(response.status_code)
            assert response.status_code in (200, 201, 400), response.content[:300]
            if response.status_code == 400:
                # Only a value the rules refuse (e.g. too long) may fail; the file itself was sound.
                assert "rows" in response.json()["error"]["fields"], response.json()
                assert not ItemRule.objects.filter(campaign=campaign).exists()
            else:
                stored = {
                    (r.kind, r.match, r.value, r.multiplier.normalize(), r.bonus_per_unit.normalize())
                    for r in ItemRule.objects.filter(campaign=campaign)
                }
                expected = {
                    (k, m, v, Decimal(mu).normalize(), Decimal(b).normalize()) for k, m, v, mu, b in rows
                }
                assert stored == expected
            raise _Rollback
    except _Rollback:
        pass


@PROPERTY_SETTINGS
@given(
    content=st.one_of(
        st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
    )
)
def test_arbitrary_input_is_a_clean_400_or_an_import(crm_client, brand_a, content):
    try:
        with transaction.atomic():
            campaign = CampaignFactory()
            response = _post(crm_client, campaign.pk, content)
            connection.set_tenant(brand_a)
            EXAMPLES["arbitrary"].append(response.status_code)
            assert response.status_code in (200, 201, 400, 413), (
                response.status_code,
                response.content[:300],
            )
            if response.status_code == 400:
                assert set(response.json()["error"]) == {"code", "message", "fields"}
                assert not ItemRule.objects.filter(campaign=campaign).exists()
            raise _Rollback
    except _Rollback:
        pass


def test_record_the_property_figures(reliability):
    """Runs after the two properties (file order): their example counts go to the reliability table."""
    for name, statuses in EXAMPLES.items():
        reliability.record(
            f"CSV import property ({name.replace('_', ' ')}): hypothesis examples through the API",
            cases=len(statuses),
            five_xx=sum(status >= 500 for status in statuses),
        )
