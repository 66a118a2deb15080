"""Unit tests of driftline/products/meta.py: ProductMeta is an immutable record with per-instance defaults."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from driftline.products.meta import ProductMeta


def _meta(**kw) -> ProductMeta:
    return ProductMeta("m", "forward", "raft", datetime(2024, 1, 1, tzinfo=UTC), 60.0, 5.0, "f", "s", **kw)


def test_defaults_and_independent_mutable_fields():
    """Documented defaults; the dict defaults are fresh per instance (one mission's attrs never leak to another)."""
    a, b = _meta(), _meta()
    assert (a.grid_resolution_m, a.search_area_interval_hours, a.density_min_cells) == (None, 6.0, 50)
    assert a.search_area_times == () and a.scenarios == () and a.title is None and a.search_plan is None
    a.extra_attrs["k"] = "v"
    a.software_versions["x"] = "1"
    assert b.extra_attrs == {} and b.software_versions == {}


def test_frozen_and_replace():
    """Fields cannot be reassigned; dataclasses.replace gives a changed copy and leaves the original alone."""
    a = _meta()
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.direction = "backward"
    b = dataclasses.replace(a, direction="backward", title="T")
    assert (a.direction, a.title, b.direction, b.title) == ("forward", None, "backward", "T")
    assert b.mission_id == a.mission_id and a == _meta() and a != b
