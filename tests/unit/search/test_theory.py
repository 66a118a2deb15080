"""Detection laws, lateral range curves and the optimal-search bounds against hand-derived values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import erf

from driftline.search.theory import (
    koopman_optimal_pos,
    lateral_range_pod,
    optimal_pos_bound,
    pod,
    pod_exponential,
    pod_inverse_cube,
)


def test_the_two_laws_at_coverage_one_are_iamsar_normal_and_ideal_conditions():
    assert pod_exponential(1.0) == pytest.approx(0.632, abs=5e-4)
    assert pod_inverse_cube(1.0) == pytest.approx(0.790, abs=5e-4)  # erf(√π / 2), IAMSAR ideal conditions
    assert pod("inverse_cube", np.array([0.5, 2.0])) == pytest.approx(
        [erf(math.sqrt(math.pi) / 4), erf(math.sqrt(math.pi))]
    )


def test_inverse_cube_lateral_range_curve_integrates_to_the_sweep_width_and_gives_the_erf_sweep():
    x = np.linspace(-400, 400, 1_600_001)
    integral = lateral_range_pod("inverse_cube", x, 1.5).sum() * (x[1] - x[0])
    assert integral == pytest.approx(1.5, rel=2e-3)  # the tails beyond ±400 nm hold 1.5² / (2π 400) nm
    w, c = 1.0, 1.3
    s = w / c
    offsets = np.linspace(0, s, 2001)[:-1]
    k = np.arange(-4000, 4001)[:, None]
    exponent = (w * w / (4 * math.pi) / np.maximum(np.abs(offsets + k * s), 1e-12) ** 2).sum(axis=0)
    assert (-np.expm1(-exponent)).mean() == pytest.approx(pod_inverse_cube(c), abs=2e-4)


def test_exponential_rate_density_under_parallel_tracks_gives_one_minus_exp_minus_c():
    w = 1.0
    for c in (0.5, 1.0, 2.0):
        s = w / c
        sigma = max(w, s) / 2
        offsets = np.linspace(0, s, 401)[:-1]
        k = np.arange(-60, 61)[:, None]
        g = w / (math.sqrt(2 * math.pi) * sigma) * np.exp(-((offsets + k * s) ** 2) / (2 * sigma**2))
        pod_mean = (-np.expm1(-g.sum(axis=0))).mean()
        assert pod_mean == pytest.approx(pod_exponential(c), rel=0.02 if c < 1 else 2e-3)


def test_koopman_bound_is_stones_optimum_for_the_exponential_law():
    """Numerical Stone optimum: density c(r) = (r0² − r²)/2σ² (p·e^(−c) = λ), effort and POS by quadrature."""
    sigma = 5.0
    for z in (20.0, 100.0, 400.0):
        u = math.sqrt(z / (math.pi * sigma**2))
        r0 = sigma * math.sqrt(2 * u)
        r = np.linspace(0, r0, 200_001)
        c = (r0**2 - r**2) / (2 * sigma**2)
        dr = r[1] - r[0]
        effort = np.trapezoid(2 * math.pi * r * c, dx=dr)
        density = np.exp(-(r**2) / (2 * sigma**2)) / (2 * math.pi * sigma**2)
        found = np.trapezoid(2 * math.pi * r * density * -np.expm1(-c), dx=dr)
        assert effort == pytest.approx(z, rel=1e-6)
        assert koopman_optimal_pos(z, sigma) == pytest.approx(found, rel=1e-6)
    assert koopman_optimal_pos(100, 5) == pytest.approx(0.311, abs=5e-4)  # the two-unit case


@settings(max_examples=40, deadline=None)
@given(st.floats(0.01, 2000), st.floats(0.2, 20))
def test_bounds_are_probabilities_growing_with_effort_and_ideal_beats_normal(z, sigma):
    for law in ("exponential", "inverse_cube"):
        b = optimal_pos_bound(law, z, sigma)
        assert 0 <= b <= 1
        assert optimal_pos_bound(law, z * 1.5, sigma) >= b - 1e-9
    assert optimal_pos_bound("inverse_cube", z, sigma) >= optimal_pos_bound("exponential", z, sigma) - 1e-6
