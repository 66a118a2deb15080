"""Shoreline segments report their length along the coast polyline, not the straight span."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

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
