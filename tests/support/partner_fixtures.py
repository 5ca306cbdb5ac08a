"""The `partner` fixture: a partner of brand_a whose submission_url is a real local HTTP server."""

from __future__ import annotations

import pytest

from tests.partners.factories import PartnerFactory


@pytest.fixture
def partner(brand_a, httpserver):
    """A partner of brand_a that submits to pytest-httpserver's `/submissions` (1 s timeout, 3 attempts)."""
    return PartnerFactory(
        slug="acme-rewards",
        submission_url=httpserver.url_for("/submissions"),
        auth_url=httpserver.url_for("/participate"),
        timeout_seconds=1,
        max_attempts=3,
    )
