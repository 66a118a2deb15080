"""Unit tests of driftline/search/pattern.py: leg counts, pattern geometry and drift-compensated flying."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.search.geo import Rect
from driftline.search.pattern import (
    expanding_square_rel,
    fly,
    legs_for,
    parallel_sweep,
    sector_rel,
    track_line_rel,
)


def test_legs_for_rules():
    """n = ⌊track/L⌋; a single leg needs L ≥ 2W; non-positive sides give 0."""
    assert legs_for(10.0, 4.0, 35.0) == 3
    assert legs_for(10.0, 4.0, 30.0) == 3  # exactly three full legs (rounding guard)
    assert legs_for(10.0, 6.0, 15.0) == 0  # one leg of L − S = 4 < S = 6
    assert legs_for(10.0, 5.0, 15.0) == 1
    assert legs_for(10.0, 4.0, 9.9) == 0
    assert legs_for(0.0, 4.0, 100.0) == 0 and legs_for(10.0, -1.0, 100.0) == 0


@given(
    st.floats(2.0, 30.0), st.floats(1.0, 20.0), st.floats(0.0, 2 * math.pi), st.integers(1, 12),
    st.sampled_from([(1, 1), (-1, 1), (1, -1), (-1, -1)]),
)  # fmt: skip
def test_parallel_sweep_track_margins_and_start(length, width, theta, legs, corner):
    """Track = legs·(L − S) + (legs − 1)·S, every waypoint S/2 inside the edges, start at the corner nearest `near`."""
    rect = Rect(3.0, -2.0, theta, max(length, 2 * width / legs + 0.1), width)
    near = tuple(np.column_stack(rect.to_plane(corner[0] * 1e3, corner[1] * 1e3))[0])
    p = parallel_sweep(rect, legs, near)
    s = rect.width_nm / legs
    assert p.spacing_nm == pytest.approx(s)
    assert p.track_length_nm == pytest.approx(legs * (rect.length_nm - s) + (legs - 1) * s, rel=1e-9)
    u, v = rect.local(p.waypoints[:, 0], p.waypoints[:, 1])
    assert np.all(np.abs(u) <= rect.length_nm / 2 - s / 2 + 1e-9)
    assert np.all(np.abs(v) <= rect.width_nm / 2 - s / 2 + 1e-9)
    assert np.sign(u[0]) == corner[0] and (legs == 1 or np.sign(v[0]) == corner[1])  # one leg runs on the axis
    assert p.waypoints.shape == (2 * legs, 2)


def test_expanding_square_legs_and_turns():
    """Legs S, S, 2S, 2S, 3S… turning 90° right; the last leg is cut so the track is used up exactly."""
    pts = expanding_square_rel(np.array([1.0, 1.0]), 0.0, 2.0, 17.0)
    seg = np.diff(pts, axis=0)
    assert np.hypot(*seg.T).tolist() == pytest.approx([2.0, 2.0, 4.0, 4.0, 5.0])
    assert pts[0].tolist() == [1.0, 1.0]
    cross = seg[:-1, 0] * seg[1:, 1] - seg[:-1, 1] * seg[1:, 0]
    dot = (seg[:-1] * seg[1:]).sum(axis=1)
    assert np.all(cross < 0) and np.allclose(dot, 0.0)  # every turn is a right angle to the right


@pytest.mark.parametrize("patterns", [1, 2])
def test_sector_ends_on_datum_with_radius_legs(patterns):
    """9 legs of the radius per pattern, 120° right turns, each pattern back on the datum; the second turned 30°."""
    centre = np.array([5.0, -3.0])
    pts = sector_rel(centre, 0.3, 2.5, patterns)
    assert len(pts) == 1 + 9 * patterns
    assert np.allclose(np.hypot(*np.diff(pts, axis=0).T), 2.5)
    for p in range(patterns):
        assert np.allclose(pts[9 * (p + 1)], centre)
        first = pts[9 * p + 1] - centre
        assert math.atan2(first[1], first[0]) == pytest.approx(0.3 - p * math.pi / 6)


@given(st.floats(5.0, 20.0), st.floats(0.0, 0.85), st.floats(0.0, 2 * math.pi), st.floats(0.0, 2 * math.pi))
def test_fly_holds_ground_speed_and_frame(v, drift_frac, drift_dir, theta):
    """Flown with drift d, every leg is made at ground speed V, and at t_mid the ground equals the relative path."""
    drift = v * drift_frac * np.array([math.cos(drift_dir), math.sin(drift_dir)])
    rel = expanding_square_rel(np.zeros(2), theta, 1.5, 12.0)
    t_mid = 1800.0
    p = fly("SS", rel, 0, 1.5, v, drift, t_mid)
    ground_speed = p.leg_lengths_nm / (np.diff(p.times_s) / 3600.0)
    assert np.allclose(ground_speed, v, rtol=1e-6)
    back = p.waypoints - drift[None, :] * ((p.times_s - t_mid) / 3600.0)[:, None]
    assert np.allclose(back, rel)
    if drift_frac == 0.0:
        assert p.hours == pytest.approx(12.0 / v)


def test_track_line_return_offsets_and_direction():
    """TSR: out at +S/2 (left of the route), back at −S/2, along the sub-route from `start_nm` for `length_nm`."""
    route = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    pts = track_line_rel(route, 2.0, 6.0, [0.5, -0.5])
    assert np.allclose(pts, [[2.0, 0.5], [8.0, 0.5], [8.0, -0.5], [2.0, -0.5]])
    bent = track_line_rel(route, 8.0, 4.0, [0.0])
    assert np.allclose(bent, [[8.0, 0.0], [10.0, 0.0], [10.0, 2.0]])
