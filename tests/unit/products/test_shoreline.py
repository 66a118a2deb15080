"""Shoreline segments report their length along the coast polyline, not the straight span."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyproj import Geod

from driftline.products.shoreline import LINK_M as LINK
from driftline.products.shoreline import shoreline_segments
from driftline.trajectory import ACTIVE, STRANDED, Trajectories

LAT0, LON0 = 60.0, 5.0
M_PER_DEG = 111_195.0


def stranded_on(x_km: np.ndarray, y_km: np.ndarray) -> Trajectories:
    """Particles floating at t0 and stranded at t1 at the given points (km east/north of LON0/LAT0)."""
    n = x_km.size
    lon = LON0 + x_km * 1000 / (M_PER_DEG * np.cos(np.radians(LAT0)))
    lat = LAT0 + y_km * 1000 / M_PER_DEG
    times = np.array(["2024-01-01T00:00:00", "2024-01-01T01:00:00"], dtype="datetime64[s]")
    state = np.column_stack([np.full(n, ACTIVE), np.full(n, STRANDED)]).astype(np.int8)
    return Trajectories(times, np.column_stack([lon, lon]), np.column_stack([lat, lat]), state,
                        np.zeros(n, np.int16), np.ones(n, np.int16))  # fmt: skip


def test_a_bay_is_measured_along_its_shore():
    """A semicircular bay of radius 1.5 km: span 3 km across, shore π × 1.5 = 4.71 km."""
    theta = np.linspace(0, np.pi, 400)
    (segment,) = shoreline_segments(stranded_on(1.5 * np.cos(theta), 1.5 * np.sin(theta)))
    line = np.asarray(segment.geometry.coords)
    along = Geod(ellps="WGS84").line_length(line[:, 0], line[:, 1]) / 1000
    assert segment.length_km == pytest.approx(along, rel=1e-9)
    assert segment.length_km == pytest.approx(np.pi * 1.5, rel=0.03)  # 20 vertices: within 3 % of the arc
    assert segment.properties()["length_km"] == round(segment.length_km, 3)


def test_a_straight_coast_keeps_its_span_and_a_single_spot_has_no_length():
    (straight,) = shoreline_segments(stranded_on(np.linspace(0, 3, 100), np.zeros(100)))
    assert straight.length_km == pytest.approx(3.0, rel=0.01)
    (spot,) = shoreline_segments(stranded_on(np.zeros(5), np.zeros(5)))
    assert spot.length_km == 0.0


def _partition(groups) -> set[frozenset]:
    return {frozenset(g.tolist()) for g in groups}


@given(
    st.lists(st.tuples(st.floats(0, 6000), st.floats(0, 6000)), min_size=1, max_size=120),
    st.lists(st.tuples(st.integers(0, 119), st.sampled_from([0.0, 1000.0, 999.999, 1000.001, 707.1067811865476])),
             max_size=30),
)  # fmt: skip
def test_stretches_found_cell_by_cell_equal_those_from_every_pair(points, offsets):
    """The same single-linkage clusters either way, with points on cell edges and pairs exactly LINK_M apart."""
    import driftline.products.shoreline as shoreline

    xy = [list(p) for p in points]
    xy += [[xy[i % len(xy)][0] + d, xy[i % len(xy)][1]] for i, d in offsets]  # neighbours at the link distance
    xy = np.array(xy, float)
    every_pair = _partition(shoreline._stretches(xy))
    by_cells = _partition([np.flatnonzero(shoreline._cell_components(xy, LINK) == k)
                           for k in np.unique(shoreline._cell_components(xy, LINK))])  # fmt: skip
    assert by_cells == every_pair


def test_a_crowded_shore_does_not_list_every_linked_pair(monkeypatch):
    """12000 stranding points within 400 m are 72 million linked pairs (1.1 GB as an array, before the graph):
    found cell by cell, the stretch costs a few MB (tracemalloc sees numpy's and scipy's arrays)."""
    import tracemalloc

    import driftline.products.shoreline as shoreline

    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 400, (12000, 2))
    tracemalloc.start()
    try:
        (stretch,) = shoreline._stretches(xy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stretch.size == 12000 and peak < 16 * 2**20, peak
