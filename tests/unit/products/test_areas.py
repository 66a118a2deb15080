"""Unit tests of driftline/products/areas.py: area times, search areas of the floating cloud, member statistics."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
import shapely

from driftline.products.areas import area_time_indices, cells_area_km2, compute_search_areas, member_stats
from driftline.products.grid import EARTH_RADIUS_M, Grid
from driftline.products.shares import time_shares
from driftline.trajectory import ACTIVE, NOT_RELEASED, Trajectories

T0 = np.datetime64("2024-01-01T00:00:00", "s")


def _traj(lon, lat, state=None, member=None, names=("main",)):
    n, t = lon.shape
    times = T0 + np.arange(t) * np.timedelta64(3600, "s")
    state = np.full(lon.shape, ACTIVE, np.int8) if state is None else state
    member = np.zeros(n, np.int16) if member is None else member
    return Trajectories(times, lon, lat, state, member, np.ones(n, np.int16), member_names=list(names))


def test_area_time_indices_intervals_extras_and_final():
    """Nearest outputs to every interval, to each extra time (aware or not) and the final one; backward runs too."""
    times = T0 + np.arange(11) * np.timedelta64(3600, "s")
    assert area_time_indices(times, 3.0) == [3, 6, 9, 10]
    assert area_time_indices(times, 0.0, (datetime(2024, 1, 1, 4, 20, tzinfo=UTC),)) == [4, 10]
    assert area_time_indices(times, 0.0, (np.datetime64("2024-01-01T01:40:00"),)) == [2, 10]
    assert area_time_indices(times[::-1], 4.0) == [4, 8, 10]


def test_cells_area_of_all_cells_is_the_sphere():
    """Every cell of a global 2° grid adds up to 4πR²; one equatorial cell is (2° · R)² · sin-weighted."""
    g = Grid(-90.0, -180.0, 2.0, 2.0, 90, 180, 222_000.0)
    assert cells_area_km2(g, np.arange(90 * 180)) == pytest.approx(4 * math.pi * EARTH_RADIUS_M**2 / 1e6, rel=1e-12)
    row45 = 45 * 180  # the cell whose lower edge is the equator
    expected = EARTH_RADIUS_M**2 * math.radians(2.0) * math.sin(math.radians(2.0)) / 1e6
    assert cells_area_km2(g, np.array([row45, row45 + 7])) == pytest.approx(2 * expected, rel=1e-12)


def test_search_areas_are_nested_and_hold_their_level():
    """50/90/95 % regions nest, each holds at least its share of the floating particles; no floating: no datum."""
    rng = np.random.default_rng(7)
    n = 3000
    lon = np.column_stack([4.0 + 0.05 * rng.standard_normal(n), np.full(n, 4.0)])
    lat = np.column_stack([60.0 + 0.02 * rng.standard_normal(n), np.full(n, 60.0)])
    state = np.full((n, 2), ACTIVE, np.int8)
    state[:, 1] = NOT_RELEASED
    traj = _traj(lon, lat, state)
    first, empty = compute_search_areas(traj, [0, 1], time_shares(traj))
    assert first.datum == pytest.approx((lat[:, 0].mean(), lon[:, 0].mean()))
    areas = [first.area_km2[lv] for lv in (0.5, 0.9, 0.95)]
    assert areas[0] < areas[1] < areas[2]
    for lv in (0.5, 0.9, 0.95):
        inside = shapely.contains_xy(first.regions[lv], lon[:, 0], lat[:, 0]).mean()
        assert lv <= inside < lv + 0.05
    assert first.regions[0.9].buffer(1e-9).contains(first.regions[0.5])
    s = first.summary()
    assert s["area_nm2"]["90"] == pytest.approx(areas[1] / 1.852**2, rel=1e-3) and s["counts"]
    assert empty.datum is None and empty.regions == {} and empty.summary()["shares"]["not_released"] == 1.0


def test_member_stats_centres_and_antimeridian():
    """One member: None. Two: weighted centre per member and time; a member across 180° averages to ±180, not 0."""
    lon = np.array([[10.0, 11.0], [12.0, 13.0], [179.0, 179.0], [-179.0, -179.0]])
    lat = np.array([[50.0, 51.0], [52.0, 53.0], [0.0, 0.0], [2.0, 2.0]])
    assert member_stats(_traj(lon, lat)) is None
    stats = member_stats(_traj(lon, lat, member=np.array([0, 0, 1, 1], np.int16), names=("a", "b")), [])
    assert stats.names == ["a", "b"]
    assert stats.centre_lon[0].tolist() == pytest.approx([11.0, 12.0])
    assert stats.centre_lat[0].tolist() == pytest.approx([51.0, 52.0])
    assert abs(stats.centre_lon[1, 0]) == pytest.approx(180.0) and stats.centre_lat[1, 1] == pytest.approx(1.0)
    assert np.isnan(stats.area_90_km2).all()  # no area times asked for
    assert [r["name"] for r in stats.final(T0 + np.arange(2) * np.timedelta64(3600, "s"))] == ["a", "b"]
