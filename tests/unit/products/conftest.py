"""Missions shared by the tasking-product tests (built once per module: about 2 s each)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from driftline.products.tasking import build_tasking
from tests.unit.products.tasking_missions import build_mission, fake_land, two_units

ISSUED = datetime(2024, 2, 29, 22, 15, tzinfo=UTC)


@pytest.fixture(scope="session")
def planned(tmp_path_factory):
    """(out_dir, summary) of a two-unit mission with params.tasking, tasking products built."""
    out = tmp_path_factory.mktemp("planned")
    summary = two_units(out)
    build_tasking(summary, out, land_fn=fake_land, issued=ISSUED)
    return out, summary


@pytest.fixture(scope="session")
def unplanned(tmp_path_factory):
    """(out_dir, summary) of a mission without a search plan or tasking."""
    out = tmp_path_factory.mktemp("unplanned")
    summary = build_mission(out)
    build_tasking(summary, out, land_fn=fake_land, issued=ISSUED)
    return out, summary
