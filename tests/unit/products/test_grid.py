"""Unit tests of driftline/products/grid.py: cell areas, cell indexing, antimeridian unwrapping, grid sizing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.products.grid import (
    EARTH_RADIUS_M,
    MARGIN_CELLS,
    MAX_CELLS_PER_AXIS,
    MIN_CELL_M,
    Grid,
    make_grid,
    present_positions,
)
from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories


def _traj(lon, lat, state=None):
    lon, lat = np.atleast_2d(np.asarray(lon, float)), np.atleast_2d(np.asarray(lat, float))
    times = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(lon.shape[1]) * np.timedelta64(3600, "s")
    state = np.full(lon.shape, ACTIVE, np.int8) if state is None else np.asarray(state, np.int8)
    n = lon.shape[0]
    return Trajectories(times, lon, lat, state, np.zeros(n, np.int16), np.ones(n, np.int16))


def test_cell_areas_of_a_global_grid_add_up_to_the_sphere():
    """A 1° grid over the whole globe has cells totalling 4πR²; rows shrink towards the poles."""
    g = Grid(-90.0, -180.0, 1.0, 1.0, 180, 360, 111_000.0)
    rows = g.cell_area_km2()
    assert rows.sum() * g.nlon == pytest.approx(4 * math.pi * EARTH_RADIUS_M**2 / 1e6, rel=1e-12)
    assert rows[90] > rows[150] > rows[179] > 0 and rows[0] == pytest.approx(rows[179])


@given(st.integers(0, 19), st.integers(0, 19), st.floats(0.01, 0.99), st.floats(0.01, 0.99))
def test_index_matches_the_cell_edges(col, row, fx, fy):
    """A position inside cell (row, col) gets row·nlon + col, whether given wrapped to ±180 or as lon > 180."""
    g = Grid(-5.0, 170.0, 0.5, 1.0, 20, 20, 1.0)  # lon 170 .. 190 (= -170): across the antimeridian
    x, lat = 170.0 + col + fx, -5.0 + 0.5 * (row + fy)
    wrapped = (x + 180.0) % 360.0 - 180.0
    assert g.index(np.array([wrapped]), np.array([lat])).tolist() == [row * g.nlon + col]
    assert g.index(np.array([[x, wrapped]]), np.array([[lat, lat]])).tolist() == [[row * g.nlon + col] * 2]


def test_index_is_minus_one_off_grid_and_for_nan():
    """NaN positions and positions off the grid get -1; the result is int32."""
    g = Grid(0.0, 0.0, 1.0, 1.0, 3, 4, 1.0)
    got = g.index(np.array([0.5, np.nan, 4.0, 3.5, -0.01]), np.array([2.5, 1.0, 1.0, 3.0, 0.5]))
    assert got.dtype == np.int32
    assert got.tolist() == [2 * 4 + 0, -1, -1, -1, -1]


def test_present_positions_masks_and_unwraps():
    """Not-present particles become NaN; a plume straddling 180° is unwrapped around the first counted longitude."""
    state = [[ACTIVE, STRANDED], [NOT_RELEASED, OUT_OF_DOMAIN]]
    lon, lat = present_positions(_traj([[179.5, -179.5], [10.0, 11.0]], [[1.0, 2.0], [3.0, 4.0]], state))
    assert lon[0].tolist() == [179.5, 180.5] and lat[0].tolist() == [1.0, 2.0]
    assert np.isnan(lon[1]).all() and np.isnan(lat[1]).all()


def test_make_grid_covers_the_cloud_with_margin_and_resolution_rules():
    """Every counted position lies ≥ MARGIN_CELLS cells inside; cell = spread / min_cells (≥ 50 m) or the override."""
    rng = np.random.default_rng(3)
    lon, lat = 5.0 + 0.1 * rng.standard_normal((500, 3)), 60.0 + 0.05 * rng.standard_normal((500, 3))
    traj = _traj(lon, lat)
    g = make_grid(traj, min_cells=40)
    x, y = g.xy(lon, lat)
    assert x.min() >= MARGIN_CELLS and x.max() <= g.nlon - MARGIN_CELLS
    assert y.min() >= MARGIN_CELLS and y.max() <= g.nlat - MARGIN_CELLS
    spread_ns = max(np.diff(np.percentile(lat[:, t], [1, 99]))[0] for t in range(3)) * EARTH_RADIUS_M * math.pi / 180
    assert g.resolution_m >= spread_ns / 40 * (1 - 1e-9)
    assert g.dlon == pytest.approx(g.dlat / math.cos(math.radians(60.0)), rel=0.01)
    assert make_grid(traj, resolution_m=777.0).resolution_m == 777.0
    one = make_grid(_traj([[5.0]], [[60.0]]))
    assert one.resolution_m == MIN_CELL_M and one.nlat == one.nlon == 1 + 2 * MARGIN_CELLS


def test_make_grid_caps_cells_and_places_an_empty_run():
    """A fine override over a wide cloud is coarsened to ≤ MAX_CELLS_PER_AXIS; no counted particle: grid at `where`."""
    g = make_grid(_traj([[0.0], [20.0]], [[0.0], [0.0]]), resolution_m=10.0)
    assert max(g.nlat, g.nlon) <= MAX_CELLS_PER_AXIS and g.resolution_m > 10.0
    empty = make_grid(_traj([[1.0]], [[1.0]], [[NOT_RELEASED]]), where=(-30.0, 45.0))
    assert empty.index(np.array([-30.0]), np.array([45.0]))[0] >= 0
    assert empty.lat0 < 45.0 < empty.lat0 + empty.nlat * empty.dlat
