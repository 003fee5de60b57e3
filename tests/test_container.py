"""The Dockerfile keeps the promises the README makes (no Docker engine here to build it)."""

import re

from tests.service import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def final_stage() -> str:
    return DOCKERFILE.rsplit("\nFROM ", 1)[1]


def test_multi_stage_and_slim():
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert len(stages) >= 2
    assert all("slim" in image for image in stages)


def test_runs_as_non_root():
    users = re.findall(r"^USER (\S+)", final_stage(), flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")


def test_healthcheck_is_liveness_on_the_configured_port():
    # /livez depends on nothing: a database outage must not mark every container unhealthy.
    joined = final_stage().replace("\\\n", " ")  # fold continuation lines
    (check,) = re.findall(r"^HEALTHCHECK .*", joined, flags=re.MULTILINE)
    assert "/livez'" in check and "PORT" in check
    assert "/health" not in check and "/ready" not in check


def test_serves_the_package_in_production_mode():
    stage = final_stage()
    assert 'CMD ["python", "-m", "app"]' in stage
    assert "APP_ENV=production" in stage
