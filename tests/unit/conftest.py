"""Fixtures for the product unit tests: mission metadata and the `slow` marker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from driftline.products import ProductMeta

LAT0, LON0 = 60.0, 4.0  # open sea west of Bergen


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long benchmarks, not part of the default run")


@pytest.fixture
def meta() -> ProductMeta:
    return ProductMeta(
        mission_id="mission-test",
        direction="forward",
        object_description="PIW-1: Person-in-water (PIW), unknown state (mean values)",
        start_time=datetime(2024, 3, 1, tzinfo=UTC),
        lkp_lat=LAT0,
        lkp_lon=LON0,
        forcing_description="currents: on-scene constant 0.3 m/s towards 90°; wind: zero fallback",
        scenario_description="point release at the last known position",
        software_versions={"driftline": "test", "opendrift": "1.14.12"},
        extra_attrs={"institution": "test"},
    )
