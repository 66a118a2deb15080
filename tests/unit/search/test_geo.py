"""Unit tests of driftline/search/geo.py: the local plane, oriented rectangles, positions at a time, axes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.search.geo import LocalPlane, Rect, positions_at, principal_axis, rects_overlap, true_bearing_deg
from driftline.trajectory import ACTIVE, OUT_OF_DOMAIN, Trajectories

finite = st.floats(-50.0, 50.0, allow_nan=False)


def test_plane_scale_at_the_equator_is_the_wgs84_radii():
    """At the equator one degree of longitude spans a·π/180 and one of latitude a(1−e²)·π/180 (WGS84)."""
    p = LocalPlane.at(0.0, 0.0)
    assert p.nm_per_deg_lon == pytest.approx(6378137.0 * math.pi / 180 / 1852, rel=1e-12)
    assert p.nm_per_deg_lat == pytest.approx(6378137.0 * (1 - 0.00669437999014) * math.pi / 180 / 1852, rel=1e-12)
    assert LocalPlane.at(0.0, 60.0).nm_per_deg_lon < p.nm_per_deg_lon / 1.9  # cos 60° = 0.5, N grows slightly


@given(st.floats(-179.0, 179.0), st.floats(-80.0, 80.0), finite, finite)
def test_plane_round_trip_wraps_longitude(lon0, lat0, x, y):
    """to_xy(to_lonlat(x, y)) returns (x, y) and longitudes stay in [-180, 180) even across 180°."""
    p = LocalPlane.at(lon0, lat0)
    lon, lat = p.to_lonlat(x, y)
    assert -180.0 <= lon < 180.0
    bx, by = p.to_xy(lon, lat)
    assert bx == pytest.approx(x, abs=1e-6) and by == pytest.approx(y, abs=1e-6)
    ux, uy = p.to_xy_unwrapped(*p.to_lonlat_unwrapped(x, y))
    assert ux == pytest.approx(x, abs=1e-6) and uy == pytest.approx(y, abs=1e-6)


@given(finite, finite, st.floats(0.0, 2 * math.pi), st.floats(0.1, 20.0), st.floats(0.1, 20.0))
def test_rect_corners_anticlockwise_and_contained(cx, cy, theta, length, width):
    """Corners run anticlockwise (positive shoelace area = length·width); centre inside, a point past the end not."""
    r = Rect(cx, cy, theta, length, width)
    c = r.corners()
    shoelace = 0.5 * sum(c[i, 0] * c[(i + 1) % 4, 1] - c[(i + 1) % 4, 0] * c[i, 1] for i in range(4))
    assert shoelace == pytest.approx(r.area_nm2, rel=1e-6)
    assert r.contains(cx, cy)
    ox, oy = cx + 0.51 * length * math.cos(theta), cy + 0.51 * length * math.sin(theta)
    assert not r.contains(ox, oy)
    u, v = r.local(*r.to_plane(0.3 * length, -0.2 * width))
    assert u == pytest.approx(0.3 * length, abs=1e-6) and v == pytest.approx(-0.2 * width, abs=1e-6)


def test_rects_overlap_touching_is_not_overlapping():
    """Squares sharing an edge do not overlap; shifted by 0.1 they do; a 45° diamond clear of the corner does not."""
    a = Rect(0.0, 0.0, 0.0, 2.0, 2.0).corners()
    assert not rects_overlap(a, Rect(2.0, 0.0, 0.0, 2.0, 2.0).corners())
    assert rects_overlap(a, Rect(1.9, 0.0, 0.0, 2.0, 2.0).corners())
    diamond = Rect(2.5, 2.5, math.pi / 4, 2.0, 2.0).corners()  # reaches 1.09 towards the square's (1, 1) corner
    assert not rects_overlap(a, diamond) and not rects_overlap(diamond, a)
    assert rects_overlap(a, Rect(0.0, 0.0, math.pi / 4, 0.5, 0.5).corners())


def _traj(lon, lat, state):
    times = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(lon.shape[1]) * np.timedelta64(3600, "s")
    n = lon.shape[0]
    return Trajectories(times, lon, lat, state, np.zeros(n, np.int16), np.ones(n, np.int16))


def test_positions_at_interpolates_across_180_and_needs_both_times():
    """Halfway between outputs: the short way across 180°; a particle absent at either output is not present."""
    lon = np.array([[179.0, -179.0], [10.0, 12.0]])
    lat = np.array([[0.0, 2.0], [50.0, 51.0]])
    state = np.full(lon.shape, ACTIVE, np.int8)
    state[1, 1] = OUT_OF_DOMAIN
    traj = _traj(lon, lat, state)
    got_lon, got_lat, present = positions_at(traj, np.datetime64("2024-01-01T00:30:00"))
    assert abs(got_lon[0]) == pytest.approx(180.0) and got_lat[0] == pytest.approx(1.0)
    assert got_lon[1] == pytest.approx(11.0) and got_lat[1] == pytest.approx(50.5)
    assert present.tolist() == [True, False]
    exact = positions_at(traj, np.datetime64("2024-01-01T00:00:00"))
    assert exact[0].tolist() == [179.0, 10.0] and exact[2].tolist() == [True, True]


def test_principal_axis_and_bearing():
    """A cloud along 30° from east has axis π/6 (bearing 060°); a weightless cloud gives 0; east is bearing 090."""
    t = np.linspace(-5.0, 5.0, 41)
    x, y = t * math.cos(math.pi / 6), t * math.sin(math.pi / 6)
    theta = principal_axis(x, y, np.ones_like(t))
    assert theta == pytest.approx(math.pi / 6, abs=1e-9)
    assert true_bearing_deg(theta) == 60.0
    assert principal_axis(x, y, np.zeros_like(t)) == 0.0
    assert true_bearing_deg(0.0) == 90.0 and true_bearing_deg(math.pi / 2) == 0.0 and true_bearing_deg(-0.1) == 95.7
