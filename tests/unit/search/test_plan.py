"""The joint plan: never below the pooled split or sequential replanning, never above Stone's bound, the claimed POS
recounted along the flown tracks, free orientation, time windows, the antimeridian, patterns and speed."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.search.plan import plan_search
from driftline.search.theory import optimal_pos_bound
from tests.unit.search.helpers import (
    LAT0,
    LON0,
    normal_cloud,
    raft_cloud,
    recount,
    trajectories,
    unit,
)  # fmt: skip

SIGMA = 5.0


def _noise(p: float, n: int) -> float:
    return 3 * math.sqrt(max(p * (1 - p), 1e-4) / n) + 0.005


@pytest.mark.parametrize("k", [2, 4])
def test_identical_units_beat_the_pooled_split_and_stay_within_a_few_percent_of_the_bound(k):
    n = 6000
    traj = normal_cloud(n=n, sigma_nm=SIGMA, hours=8)
    units = tuple(unit(f"U{i}", 10, 1.0, 5.0, 1.0) for i in range(k))
    plan = plan_search(traj, units, (LON0, LAT0))
    bound = optimal_pos_bound("exponential", sum(u.effort_nm2 for u in units), SIGMA)
    c = plan.candidates
    assert plan.cumulative_pos >= max(c["pooled split"], c["sequential"]) - 1e-12
    assert 0.94 * bound <= plan.cumulative_pos <= bound + _noise(bound, n)
    # the same tracks flown over an independent cloud from the same distribution: no overfit to these particles
    fresh = recount(plan, normal_cloud(n=n, sigma_nm=SIGMA, hours=8, seed=99))
    assert 0.93 * bound <= fresh <= bound + _noise(bound, n)
    # units searching at the same time keep to their own areas
    polys = [shapely.Polygon(p.corners_lonlat) for p in plan.units]
    assert all(a.intersection(b).area < 1e-9 * a.area for i, a in enumerate(polys) for b in polys[i + 1 :])


def test_a_raft_drifting_over_one_knot_is_counted_where_it_is_when_passed():
    traj = raft_cloud(n=3000, hours=14)
    units = (unit("V1", 10, 0.5, 6.0, 4.0), unit("V2", 10, 0.5, 6.0, 4.0))
    plan = plan_search(traj, units, (LON0, LAT0))
    assert recount(plan, traj) == pytest.approx(plan.cumulative_pos, rel=0.03)
    for p in plan.units:
        assert math.hypot(*p.pattern.drift_kn) > 1.0  # the waypoints follow the drift
        assert p.pattern.hours <= p.unit.search_hours * (1 + 1e-9)
        flown = np.hypot(*np.diff(p.pattern.waypoints, axis=0).T) / np.diff(p.pattern.times_s) * 3600
        assert flown == pytest.approx(p.unit.speed_kn, rel=1e-6)  # the unit holds its speed over ground


def test_a_later_unit_may_search_where_an_earlier_one_did_and_the_plan_beats_sequential_replanning():
    traj = raft_cloud(n=3000, hours=18)
    units = (unit("V1", 10, 0.5, 6.0, 4.0), unit("V2", 10, 0.5, 6.0, 11.0))
    plan = plan_search(traj, units, (LON0, LAT0))
    assert plan.cumulative_pos >= plan.candidates["sequential"] - 1e-12
    assert plan.cumulative_pos >= plan.candidates["pooled split"] - 1e-12
    again = plan_search(traj, units, (LON0, LAT0))
    assert [p.pattern.waypoints.tolist() for p in again.units] == [p.pattern.waypoints.tolist() for p in plan.units]


def test_orientation_is_free_per_unit_on_a_cloud_of_two_lobes():
    """Two lobes along directions 40° apart: each unit's area lies along its own lobe, not the whole cloud's axis."""
    traj = raft_cloud(n=4000, hours=16, divergence_kn=0.45, sigma_nm=0.8)
    units = (unit("V1", 12, 0.6, 5.0, 10.0), unit("V2", 12, 0.6, 5.0, 10.0))
    plan = plan_search(traj, units, (LON0, LAT0))
    thetas = sorted(p.rect.theta % math.pi for p in plan.units)
    assert plan.cumulative_pos > 0.3
    assert len({round(t, 3) for t in thetas}) == 2  # not one shared axis


def test_search_endurance_factor_derates_the_effort_and_the_track():
    traj = normal_cloud(n=2000, sigma_nm=2.0, hours=8)
    full = plan_search(traj, (unit("U", 10, 0.5, 4.0, 1.0),), (LON0, LAT0))
    derated = plan_search(traj, (unit("U", 10, 0.5, 4.0, 1.0, search_endurance_factor=0.85),), (LON0, LAT0))
    assert derated.units[0].unit.effort_nm2 == pytest.approx(0.85 * full.units[0].unit.effort_nm2)
    assert derated.units[0].pattern.hours <= 0.85 * 4.0 * (1 + 1e-9) < full.units[0].pattern.hours + 1e-9
    assert derated.cumulative_pos < full.cumulative_pos


def test_the_same_job_at_170_east_and_across_the_antimeridian_gives_the_same_plan_translated():
    units = (unit("A", 12, 1.0, 4.0, 1.0), unit("B", 80, 1.5, 2.0, 2.0))
    plans = []
    for lon0 in (170.0, 179.97):
        rng = np.random.default_rng(2)
        x, y = rng.standard_normal(3000) * 3, rng.standard_normal(3000) * 2
        steps = np.arange(9)
        plans.append(plan_search(trajectories(x[:, None] + 1.2 * steps, y[:, None] + 0.4 * steps, lon0, -40), units,
                                 (lon0, -40.0)))  # fmt: skip
    a, b = plans
    assert b.cumulative_pos == pytest.approx(a.cumulative_pos, rel=0.01)
    for p, q in zip(a.units, b.units):
        assert q.poc == pytest.approx(p.poc, rel=0.01)
        xa, ya = a.plane.to_xy_unwrapped(*p.corners_lonlat.T)
        xb, yb = b.plane.to_xy_unwrapped(*q.corners_lonlat.T)
        assert np.hypot(xa - xb, ya - yb).max() < 0.01  # nm
        assert shapely.Polygon(q.corners_lonlat).area < 1.0  # degrees²: no rectangle around the globe


def test_expanding_square_and_sector_search_on_a_small_datum():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(3000) * 0.4, rng.standard_normal(3000) * 0.4
    steps = np.arange(5)
    traj = trajectories(x[:, None] + 0.17 * steps, y[:, None] + 0.1 * steps)
    for u, kind in (
        (unit("RHIB", 15, 0.3, 1.0, 0.5, pattern="SS"), "SS"),
        (unit("H", 60, 0.4, 0.5, 0.5, pattern="VS"), "VS"),
    ):
        plan = plan_search(traj, (u,), (LON0, LAT0))
        p = plan.units[0]
        assert p.pattern.kind == kind and p.pattern.hours <= u.search_hours * (1 + 1e-9)
        assert plan.cumulative_pos > 0.4
        assert recount(plan, traj) == pytest.approx(plan.cumulative_pos, rel=0.03)
        legs = p.pattern.leg_lengths_nm
        if kind == "SS":  # legs S, S, 2S, 2S, … in the drifting frame
            rel = np.hypot(*np.diff(p.pattern.rel, axis=0).T)
            s = p.pattern.spacing_nm
            assert rel[:4] == pytest.approx([s, s, 2 * s, 2 * s], rel=1e-6)
        else:
            assert len(legs) == 9 * round(len(legs) / 9)


def test_track_line_return_flies_out_and_back_along_the_route():
    rng = np.random.default_rng(6)
    s, c = rng.uniform(0, 40, 3000), rng.standard_normal(3000)
    x, y = s * math.cos(0.35) - c * math.sin(0.35), s * math.sin(0.35) + c * math.cos(0.35)
    traj = trajectories(np.tile(x[:, None], (1, 4)), np.tile(y[:, None], (1, 4)))
    from driftline.search.geo import LocalPlane

    lon, lat = LocalPlane.at(LON0, LAT0).to_lonlat(
        np.array([0, 40 * math.cos(0.35)]), np.array([0, 40 * math.sin(0.35)])
    )
    route = tuple(zip(lon.tolist(), lat.tolist()))
    plan = plan_search(traj, (unit("Air", 150, 2.0, 0.5, 1.0, pattern="TSR"),), (LON0, LAT0), route)
    p = plan.units[0]
    assert p.pattern.kind == "TSR" and p.pattern.track_length_nm <= 75 * (1 + 1e-9)
    assert recount(plan, traj) == pytest.approx(plan.cumulative_pos, rel=0.03)
    start, end = p.pattern.waypoints[0], p.pattern.waypoints[-1]
    assert math.hypot(*(start - end)) < 3.0  # back where it started, the other side of the route


def test_ten_units_on_ten_thousand_particles_well_under_two_seconds():
    traj = normal_cloud(n=10_000, sigma_nm=5.0, hours=12, drift_kn=(1.0, 0.3), stretch=1.5)
    units = tuple(
        unit(f"U{i}", [10, 90, 15, 140][i % 4], [1.0, 1.5, 0.5, 2.0][i % 4], 4.0, 1 + i % 3) for i in range(10)
    )
    best = math.inf
    for _ in range(2):
        started = time.perf_counter()
        plan_search(traj, units, (LON0, LAT0))
        best = min(best, time.perf_counter() - started)
    assert best < 2.0, f"plan took {best:.2f} s"


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 3), st.floats(5, 40), st.floats(0.2, 2.0), st.floats(0.5, 4.0), st.floats(0.0, 1.5),
       st.sampled_from(["exponential", "inverse_cube"]))  # fmt: skip
def test_pos_is_a_probability_below_the_bound_and_not_below_the_pooled_split(k, speed, sweep, hours, drift, law):
    n = 1500
    traj = normal_cloud(n=n, sigma_nm=2.0, hours=8, drift_kn=(drift, 0.0))
    units = tuple(unit(f"U{i}", speed, sweep, hours, 1.0 + i, detection=law) for i in range(k))
    plan = plan_search(traj, units, (LON0, LAT0))
    assert 0.0 <= plan.cumulative_pos <= 1.0
    assert plan.cumulative_pos >= max(plan.candidates.values()) - 1e-12
    bound = optimal_pos_bound(law, sum(u.effort_nm2 for u in units), 2.0)
    assert plan.cumulative_pos <= bound + _noise(bound, n) + 0.02  # spreading particles: the bound is for σ = 2
    for p in plan.units:
        assert 0 <= p.poc <= 1 and 0 <= p.pod < 1 and p.pattern.hours <= p.unit.search_hours * (1 + 1e-9)


@settings(max_examples=8, deadline=None)
@given(st.floats(-179.99, 179.99), st.floats(-60, 60), st.floats(0, 2 * math.pi))
def test_a_plan_is_the_same_wherever_the_cloud_lies_in_longitude(lon0, lat0, heading):
    """The same cloud (in nm around its centre) planned at 10°E and at lon0: the same POS, the same plan moved."""
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal(1500) * 3, rng.standard_normal(1500) * 2
    steps = np.arange(7)
    vx, vy = 1.1 * math.cos(heading), 1.1 * math.sin(heading)
    units = (unit("A", 12, 1.0, 3.0, 1.0), unit("B", 60, 1.0, 1.0, 3.0))
    plans = [plan_search(trajectories(x[:, None] + vx * steps, y[:, None] + vy * steps, lon, lat0), units, (lon, lat0))
             for lon in (10.0, lon0)]  # fmt: skip
    a, b = plans
    assert b.cumulative_pos == pytest.approx(a.cumulative_pos, rel=0.01, abs=1e-9)
    for p, q in zip(a.units, b.units):
        xa, ya = a.plane.to_xy_unwrapped(*p.corners_lonlat.T)
        xb, yb = b.plane.to_xy_unwrapped(*q.corners_lonlat.T)
        assert np.hypot(xa - xb, ya - yb).max() < 0.05
