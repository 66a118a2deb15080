"""Detection along a track: closed-form segment integrals against the lateral range curve and a quadrature."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from driftline.search.geo import LocalPlane
from driftline.search.theory import lateral_range_pod, pod_exponential, pod_inverse_cube
from driftline.search.track import Kinematics, Track, pod_along
from tests.unit.search.helpers import LAT0, LON0, recount_track, trajectories


def _kin(x, y):
    return Kinematics.of(trajectories(np.asarray(x, float), np.asarray(y, float)), LocalPlane.at(LON0, LAT0))


@pytest.mark.parametrize("law", ["exponential", "inverse_cube"])
def test_one_long_pass_detects_with_the_lateral_range_curve(law):
    offsets = np.array([0.05, 0.3, 0.7, 1.5, 3.0])
    kin = _kin(np.zeros((5, 2)), np.tile(offsets[:, None], (1, 2)))
    track = Track(np.array([[-200.0, 0.0], [200.0, 0.0]]), np.array([0.0, 3600.0]), 1.0, law)
    expected = lateral_range_pod(law, offsets, 1.0)
    assert pod_along(track, kin) == pytest.approx(expected, rel=2e-3, abs=1e-6)


@pytest.mark.parametrize("law, formula", [("exponential", pod_exponential), ("inverse_cube", pod_inverse_cube)])
def test_parallel_sweep_over_still_particles_gives_the_laws_pod_inside(law, formula):
    w, legs, spacing = 1.0, 40, 0.8
    ys = np.linspace(10, 22, 97)  # well inside the 32 nm wide sweep
    kin = _kin(np.zeros((97, 2)), np.tile(ys[:, None], (1, 2)))
    pts = []
    for k in range(legs):
        y = spacing * (k + 0.5)
        pts += [[-300.0, y], [300.0, y]] if k % 2 == 0 else [[300.0, y], [-300.0, y]]
    xy = np.array(pts)
    t = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))]) / 1000 * 3600  # 1000 kn: still
    track = Track(xy, t * 1e-3, w, law, spacing / 2 if law == "exponential" else None)
    assert pod_along(track, kin).mean() == pytest.approx(formula(w / spacing), abs=3e-3)


def test_a_particle_passed_between_output_steps_is_where_its_own_trajectory_puts_it():
    """A particle moving 6 kn north crosses an east-west leg at 00:30; frozen at 00:00 or 01:00 it is 3 nm off."""
    kin = _kin(np.zeros((1, 2)), np.array([[-3.0, 3.0]]))
    track = Track(np.array([[-5.0, 0.0], [5.0, 0.0]]), np.array([1800 - 180.0, 1800 + 180.0]), 0.5, "exponential")
    assert pod_along(track, kin)[0] > 0.3  # passed within a fraction of W
    frozen = Track(track.xy, np.array([0.0, 360.0]), 0.5, "exponential")
    assert pod_along(frozen, kin)[0] < 1e-6


@settings(max_examples=25, deadline=None)
@example("inverse_cube", 0.0, 0.25, 2.0, 0.0, 10.0)  # a close pass: a coarse quadrature was 0.02 off
@given(
    st.sampled_from(["exponential", "inverse_cube"]),
    st.floats(-2, 2), st.floats(-2, 2), st.floats(0.2, 2.0), st.floats(0, 360), st.floats(10, 30),
)  # fmt: skip
def test_closed_form_matches_a_quadrature_for_moving_particles(law, vx, vy, w, heading, speed):
    rng = np.random.default_rng(0)
    x0, y0 = rng.uniform(-3, 3, 60), rng.uniform(-3, 3, 60)
    kin = _kin(np.column_stack([x0, x0 + vx, x0 + 2 * vx]), np.column_stack([y0, y0 + vy, y0 + 2 * vy]))
    h = math.radians(90 - heading)
    xy = np.array([[-4 * math.cos(h), -4 * math.sin(h)], [0.0, 0.0], [3.0, -2.0], [-1.0, 3.0]])
    t = 1200 + np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))]) / speed * 3600
    smear = max(w, 0.7) / 2
    track = Track(xy, t, w, law, smear if law == "exponential" else None)
    fast = pod_along(track, kin)
    slow = recount_track(kin, xy, t, w, law, 0.7 if law == "exponential" else 0.0)
    assert fast == pytest.approx(np.minimum(slow, 0.999999), abs=0.01)
