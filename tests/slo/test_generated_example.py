"""The example domain's SLO membership: which of its routes count toward which SLO, and the
generated promtool tests catching one of them dropped from the selectors."""

from __future__ import annotations

import pytest

from app.web.openapi import AVAILABILITY, LATENCY
from tests.slo.test_generated import declared, served  # noqa: F401 (a fixture)
from tests.slo.test_mutations import drop_route, promtool_fails


def test_membership_today(served):  # noqa: F811
    """Latency: the reads the extension makes."""
    assert declared(served, LATENCY) == {"/catalog", "/content", "/content/{id}", "/meta"}
    assert declared(served, AVAILABILITY) >= {"/auth/refresh", "/admin/content", "/me"}


@pytest.mark.parametrize("path", ["/content", "/content/{id}"])
def test_dropping_a_route_from_the_selectors_fails_the_generated_tests(path, tmp_path):
    assert promtool_fails(tmp_path, drop_route(path))
