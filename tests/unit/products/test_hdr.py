"""Unit tests of driftline/products/hdr.py: Scott's bandwidth, highest-density regions, land, split clouds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.products.grid import M_PER_DEG, Grid
from driftline.products.hdr import (
    MIN_BANDWIDTH_M,
    cells_polygon,
    highest_density_regions,
    robust_scale,
    scott_bandwidth_m,
    weighted_quantile,
)

LAT0 = 60.0
COS0 = math.cos(math.radians(LAT0))


def _cloud(n, sigma_m, seed, dx_m=0.0):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(n) * sigma_m + dx_m, rng.standard_normal(n) * sigma_m
    return 5.0 + x / (M_PER_DEG * COS0), LAT0 + y / M_PER_DEG


def test_quantiles_spread_and_scott_rule():
    """Median of equal weights; spread = IQR/1.349 when an outlier inflates the std; h = n^(-1/6)·σ, ≥ 50 m."""
    v = np.arange(1.0, 10.0)
    assert weighted_quantile(v, np.ones(9), [0.5])[0] == pytest.approx(5.0)
    with_outlier = np.concatenate([np.linspace(-1, 1, 99), [1000.0]])
    assert robust_scale(with_outlier, np.ones(100)) < 1.0 < np.std(with_outlier)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(4096) * 1000.0, rng.standard_normal(4096) * 4000.0
    expected = 4096 ** (-1 / 6) * math.sqrt(robust_scale(x, np.ones(4096)) * robust_scale(y, np.ones(4096)))
    assert scott_bandwidth_m(x, y, np.ones(4096)) == pytest.approx(expected) and expected == pytest.approx(500, rel=0.1)
    w = np.zeros(4096)
    w[:64] = 1.0  # n_eff = 64
    assert scott_bandwidth_m(x, y, w) == pytest.approx(64 ** (-1 / 6) * math.sqrt(1000 * 4000), rel=0.25)
    assert scott_bandwidth_m(x * 1e-6, y * 1e-6, np.ones(4096)) == MIN_BANDWIDTH_M


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([(0.5, 0.9), (0.25, 0.5, 0.95)]))
def test_regions_hold_their_level_and_match_the_smoothed_normal(seed, levels):
    """Each region holds ≥ its share of the particles (nearly exactly); the 50 % area of a normal cloud smoothed
    with bandwidth h is 2π(σ² + h²)·ln 2 (the HDR of a bivariate normal)."""
    lon, lat = _cloud(4000, 2000.0, seed)
    reg = highest_density_regions(lon, lat, None, levels)
    for lv, poly in zip(levels, reg.polygons, strict=True):
        inside = shapely.contains_xy(poly, lon, lat).mean()
        assert lv - 1e-9 <= inside < lv + 0.03
    assert all(a < b for a, b in zip(reg.area_km2, reg.area_km2[1:], strict=False))
    if levels[1] == 0.5:
        return
    expected = 2 * math.pi * (2000.0**2 + reg.bandwidth_m**2) * math.log(2) / 1e6
    assert reg.area_km2[0] == pytest.approx(expected, rel=0.2)  # sampling noise of 4000 particles: about ±13 %


def test_land_is_left_out_and_particles_on_land_still_count():
    """With land west of 5°E the sea area shrinks, the coastal strip, which gets the land weight, is inside, and
    no part of the region lies on land (land weight once moved into cells whose land was never looked up)."""
    lon, lat = _cloud(3000, 2000.0, 5)

    def land(x, y):
        return np.asarray(x) < 5.0

    free = highest_density_regions(lon, lat, None, (0.9,))
    coast = highest_density_regions(lon, lat, None, (0.9,), land)
    assert coast.area_km2[0] < free.area_km2[0]
    strip = (lon > 5.005) & (lon < 5.02) & (np.abs(lat - LAT0) < 0.02)  # near the coast, where land weight goes
    assert strip.sum() > 100 and shapely.contains_xy(coast.polygons[0], lon[strip], lat[strip]).all()
    west = shapely.box(-180.0, -90.0, 5.0 - 0.001, 90.0)  # one sub-cell of slack at the coast
    assert shapely.intersection(coast.polygons[0], west).area == 0.0


def test_split_cloud_parts_weights_and_empty_input():
    """Two lobes 30 km apart are two parts with their shares; weights move the datum; no valid particle: empty."""
    a, b = _cloud(3000, 1000.0, 1), _cloud(1000, 1000.0, 2, dx_m=30_000.0)
    lon, lat = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
    reg = highest_density_regions(lon, lat)
    shares = [p["weight"] / 4000 for p in reg.parts]  # the particles of each part inside the 95 % region
    assert len(shares) == 2 and sum(shares) == pytest.approx(0.95, abs=0.01)
    assert 0.7 < shares[0] <= 0.75 and 0.18 < shares[1] <= 0.25
    assert reg.parts[0]["lon"] < reg.parts[1]["lon"]
    heavy = highest_density_regions(lon, lat, np.concatenate([np.ones(3000), np.full(1000, 3.0)]))
    assert heavy.datum[1] == pytest.approx(0.5 * (a[0].mean() + b[0].mean()), abs=1e-3)
    assert reg.datum[1] < heavy.datum[1]
    empty = highest_density_regions(np.array([np.nan, 1.0]), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    assert empty.datum is None and empty.polygons == [] and empty.grid is None


def test_weight_beyond_the_looked_up_cells_stays_where_it_is():
    """Only cells found to be land give their weight away: with a land mask that finds no land, a few far
    particles in cells whose land was never looked up (beyond the candidates) keep their weight, and the region
    holding all the weight reaches them as without a mask (their weight was once moved into the cloud's edge)."""
    lon, lat = _cloud(3000, 2000.0, 7)
    far_lon, far_lat = _cloud(3, 300.0, 8, dx_m=40_000.0)  # 40 km east, 0.01 % of the weight
    lon, lat = np.concatenate([lon, far_lon]), np.concatenate([lat, far_lat])
    w = np.concatenate([np.ones(3000), np.full(3, 0.1)])
    looked_up = []

    def no_land(x, y):
        looked_up.append(np.size(x))
        return np.zeros(np.size(x), bool)

    levels = (0.5, 0.9, 1.0)
    plain = highest_density_regions(lon, lat, w, levels)
    masked = highest_density_regions(lon, lat, w, levels, no_land)
    assert sum(looked_up) < 4 * plain.grid.nlat * plain.grid.nlon  # the far cells were not looked up
    assert shapely.contains_xy(masked.polygons[-1], far_lon, far_lat).all()
    for a, b in zip(plain.cells, masked.cells, strict=True):
        assert np.array_equal(a, b)
    assert masked.area_km2 == plain.area_km2


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.data())
def test_cells_polygon_is_the_union_of_the_cell_boxes(nlat, nlon, data):
    """The traced outline of any set of cells (holes, cells touching at a corner, several parts) is a valid
    polygon with the point set, area and parts of the union of one box per cell."""
    cells = np.array(sorted(data.draw(st.sets(st.integers(0, nlat * nlon - 1), min_size=1))), np.int64)
    grid = Grid(lat0=60.0, lon0=-1.0, dlat=0.25, dlon=0.5, nlat=nlat, nlon=nlon, resolution_m=27_800.0)
    poly = cells_polygon(grid, cells)
    row, col = np.divmod(cells, nlon)
    lon0, lat0 = -1.0 + col * 0.5, 60.0 + row * 0.25
    boxes = shapely.unary_union(shapely.box(lon0, lat0, lon0 + 0.5, lat0 + 0.25))
    assert poly.is_valid and poly.equals(boxes)
    assert poly.area == pytest.approx(cells.size * 0.125, rel=1e-12)
    assert len(getattr(poly, "geoms", [poly])) == len(getattr(boxes, "geoms", [boxes]))
