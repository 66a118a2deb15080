"""A unit left with only a few stray particles is not squeezed into a saturated sliver (with the default
forcing uncertainty the daemon mission's second unit got a 0.15 × 0.14 NM box at coverage 1113 whose POD rounded
to 1.0, and searches_done then refused the plan flown back; on this cloud the i22 planner still gave 0.56 × 0.22 NM
at coverage 193, legs 4 m apart). Coverage stops at theory.max_coverage: the effort goes to a larger area."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.search.plan import plan_search
from driftline.search.theory import max_coverage, pod
from tests.unit.search.helpers import trajectories, unit


def stray_cloud(n: int = 600, strays: int = 3, hours: int = 8, seed: int = 5):
    """A tight cloud the first unit covers, and three particles together 3.7 NM away from its centre."""
    rng = np.random.default_rng(seed)
    x0, y0 = rng.standard_normal((2, n)) * 0.9
    x0[:strays], y0[:strays] = 2.6 + 0.02 * rng.standard_normal(strays), 2.6 + 0.02 * rng.standard_normal(strays)
    steps = np.arange(hours + 1)
    grow = 0.5 + steps / 8
    return trajectories(x0[:, None] * grow + 0.4 * steps, y0[:, None] * grow + 0.4 * steps)


UNITS = (unit("Rescue 51", 90, 1.0, 2, 2.0), unit("MRB Kirkwall", 15, 0.4, 4, 3.0))


@pytest.fixture(scope="module")
def plan():
    return plan_search(stray_cloud(), UNITS, (2.0, 65.0))


def test_no_unit_is_planned_beyond_the_saturation_coverage(plan):
    for up in plan.units:
        cap = max_coverage(up.unit.detection)
        assert up.coverage <= cap * 1.03, (up.unit.name, up.coverage)  # W/S; (track + S)/track above the area's
        assert up.pod_nominal < 1 - 5e-4 and round(up.pod, 6) < 1.0, up.unit.name
        assert min(up.rect.length_nm, up.rect.width_nm) >= up.unit.sweep_width_nm, (up.unit.name, up.rect)


def test_the_cap_costs_almost_nothing_and_the_first_unit_still_finds_the_cloud(plan):
    first = plan.units[0]
    assert first.poc > 0.99 and first.pod > 0.99
    assert plan.cumulative_pos > 0.99


def test_max_coverage_is_where_the_law_reaches_a_pod_of_0_999():
    for law in ("exponential", "inverse_cube"):
        assert pod(law, max_coverage(law)) == pytest.approx(0.999, abs=1e-9)
    assert max_coverage("exponential") == pytest.approx(6.9078, abs=1e-4)
