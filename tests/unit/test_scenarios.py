"""Weighted scenarios: the contract, the particle split, prior weights and the Bayes posterior weights.
No services, no OpenDrift (tests/e2e/test_model_scenario_missions.py runs them through the daemon)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import Settings
from driftline.contract.parse import parse_job
from driftline.contract.scenarios import MIN_PARTICLES_PER_SCENARIO
from driftline.errors import InvalidJob
from driftline.scenarios import (
    latest_entry,
    prior_weights,
    scenario_counts,
    scenario_index,
    scenario_weights,
    split_counts,
)
from driftline.search.contract import SearchDone
from driftline.search.done import apply_searches_done
from driftline.trajectory import ACTIVE, Trajectories

MID = "550e8400-e29b-41d4-a716-446655440000"
SETTINGS = Settings.from_env({})
T0 = datetime(2024, 1, 1, tzinfo=UTC)
BASE = {"start_time": "2024-01-01T00:00:00Z", "duration_hours": 6, "num_particles": 1000}
A = {"name": "A", "weight": 0.7, "latitude": 60.0, "longitude": -3.0}
B = {"name": "B", "weight": 0.3, "latitude": 60.0, "longitude": -2.64}
TRIANGLE = {"type": "Polygon", "coordinates": [[[-3, 60], [-2.9, 60], [-2.9, 60.1], [-3, 60]]]}


def parse(**params):
    return parse_job(json.dumps({"mission_id": MID, "params": {**BASE, **params}}), SETTINGS).params


def reject(**params) -> str:
    with pytest.raises(InvalidJob) as info:
        parse(**params)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_scenarios_get_normalised_weights_their_own_seeding_and_the_shared_keys():
    p = parse(
        wind={"speed_ms": 8, "from_deg": 270}, radius_m=500, object_type="PIW-1",
        scenarios=[{**A, "weight": 7}, {**B, "weight": 3, "object_type": "LIFE-RAFT-NB-1",
                                         "release_end_time": "2024-01-01T02:00:00Z"}],
    )  # fmt: skip
    a, b = p.scenarios
    assert (a.name, b.name) == ("A", "B") and a.weight == pytest.approx(0.7) and b.weight == pytest.approx(0.3)
    assert (a.params.latitude, a.params.longitude, a.params.radius_m) == (60.0, -3.0, 500)  # inherited radius
    assert b.params.objects[0].obj.key == "LIFE-RAFT-NB-1" and a.params.objects[0].obj.key == "PIW-1"
    assert b.params.release_end_time == T0 + timedelta(hours=2) and a.params.release_end_time is None
    assert (p.latitude, p.longitude) == (60.0, -3.0)  # the heaviest scenario's position is the reference
    assert {s.obj.key: round(s.weight, 6) for s in p.objects} == {"PIW-1": 0.7, "LIFE-RAFT-NB-1": 0.3}
    assert latest_entry(p) == T0 + timedelta(hours=2)
    record = p.as_record()["scenarios"]
    assert record[1] == {"name": "B", "weight": 0.3, "latitude": 60.0, "longitude": -2.64,
                         "object_type": "LIFE-RAFT-NB-1", "release_end_time": "2024-01-01T02:00:00Z"}  # fmt: skip


def test_a_scenario_may_start_later_and_use_a_track_or_an_area():
    area = {
        "type": "Polygon",
        "coordinates": [[[-3.1, 59.95], [-2.9, 59.95], [-2.9, 60.05], [-3.1, 60.05], [-3.1, 59.95]]],
    }
    p = parse(scenarios=[A, {"name": "track", "weight": 1, "latitude": 60, "longitude": -3, "end_latitude": 60.1,
                             "end_longitude": -2.8, "start_time": "2024-01-01T02:00:00Z",
                             "end_time": "2024-01-01T05:00:00Z"},
                         {"name": "area", "weight": 1, "area": area}], num_particles=600)  # fmt: skip
    track, box = p.scenarios[1].params, p.scenarios[2].params
    assert track.start_time == T0 + timedelta(hours=2) and track.end_of_run == p.end_of_run
    assert box.area is not None and latest_entry(p) == T0 + timedelta(hours=5)


@pytest.mark.parametrize(
    "params,words",
    [
        (dict(scenarios=[]), ["scenarios must be a list of 1 to 10"]),
        (dict(scenarios=[{**A, "name": f"s{i}"} for i in range(11)]), ["1 to 10"]),
        (dict(scenarios=[A, {**B, "name": "A"}]), ["scenarios[1].name 'A' is used twice"]),
        (dict(scenarios=[A, {**B, "weight": 0}]), ["scenarios[1].weight must be greater than 0"]),
        (dict(scenarios=[A, {**B, "weight": "0.3"}]), ["scenarios[1].weight must be a number"]),
        (dict(scenarios=[{**A, "forcing": []}]), ["scenarios[0]: forcing cannot be set per scenario"]),
        (dict(scenarios=[{**A, "duration_hours": 3}]), ["scenarios[0]: duration_hours cannot be set per scenario"]),
        (dict(scenarios=[A, {**B, "latitude": 95}]), ["scenarios[1] (B): latitude must be between -90 and 90"]),
        (dict(radius_m=500, scenarios=[A, {**B, "area": TRIANGLE}]), ["scenarios[1] (B): conflicting params: area",
                                                                       "cannot be combined with radius_m"]),
        (dict(scenarios=[A, {**B, "release_end_time": "2024-01-01T02:00:00Z", "end_time": "2024-01-01T03:00:00Z",
          "end_latitude": 60.1, "end_longitude": -2.6}]), ["scenarios[1] (B)", "release_end_time", "end_time"]),
        (dict(scenarios=[A, {**B, "start_time": "2024-01-01T07:00:00Z"}]), ["scenarios[1] (B): start_time"]),
        (dict(scenarios=[{**A, "start_time": "2024-01-01T01:00:00Z"}]), ["at least one scenario must start"]),
        (dict(num_particles=99, scenarios=[A, B]), ["num_particles (99) must be at least 50 per scenario (100"]),
        (dict(capsizing={}, scenarios=[A, B]), ["capsizing applies to life rafts only"]),
        (dict(scenarios=[{"weight": 1, "latitude": 60, "longitude": -3}]), ["scenarios[0].name must be"]),
        (dict(scenarios=[{"name": "x", "weight": 1}]), ["scenarios[0] (x): latitude and longitude (or area)"]),
    ],
)  # fmt: skip
def test_contradictions_and_bad_scenarios_are_refused_naming_the_keys(params, words):
    message = reject(**params)
    assert all(w in message for w in words), message


def test_the_old_single_scenario_body_has_no_scenarios_and_no_weights():
    p = parse(latitude=60, longitude=-3)
    assert p.scenarios == () and scenario_counts(p, 1000) == [(p, 1000)]
    assert scenario_index(p, [1000]) is None and prior_weights(p, None) is None
    assert "scenarios" not in p.as_record()


def test_split_keeps_the_minimum_and_prior_weights_restore_the_weights():
    assert split_counts(1000, [0.7, 0.3]) == [700, 300]
    assert split_counts(1000, [0.98, 0.01, 0.01]) == [900, 50, 50]
    p = parse(scenarios=[{**A, "weight": 0.98}, {**B, "weight": 0.02}])
    index = scenario_index(p, [1000])
    assert np.bincount(index).tolist() == [950, 50]
    w = prior_weights(p, index)
    assert np.bincount(index, w / w.sum()).tolist() == pytest.approx([0.98, 0.02])


def test_ensemble_members_split_the_scenarios_each():
    p = parse(scenarios=[A, B], ensemble=[{"current": {"speed_ms": 0.1, "to_deg": 0}},
                                          {"current": {"speed_ms": 0.1, "to_deg": 90}}])  # fmt: skip
    index = scenario_index(p, [500, 500])
    assert index[:500].tolist() == [0] * 350 + [1] * 150 and index[500:].tolist() == index[:500].tolist()


names = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
scenario_lists = st.lists(
    st.tuples(names, st.floats(0.001, 1000), st.floats(-60, 60), st.floats(-179, 179)),
    min_size=1, max_size=10, unique_by=lambda s: s[0],
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario_lists, st.integers(500, 5000))
def test_any_scenario_list_parses_splits_and_weighs_consistently(items, n):
    scenarios = [{"name": s, "weight": w, "latitude": lat, "longitude": lon} for s, w, lat, lon in items]
    p = parse(num_particles=n, scenarios=scenarios)
    weights = [s.weight for s in p.scenarios]
    assert sum(weights) == pytest.approx(1.0) and [s.name for s in p.scenarios] == [s[0] for s in items]
    counts = split_counts(n, weights)
    assert sum(counts) == n and min(counts) >= MIN_PARTICLES_PER_SCENARIO
    free = [c for c in counts if c > MIN_PARTICLES_PER_SCENARIO]  # not held at the minimum: proportional
    index = scenario_index(p, [n])
    w = prior_weights(p, index)
    assert np.bincount(index, w / w.sum(), minlength=len(weights)) == pytest.approx(weights, abs=1e-12)
    assert len(free) <= len(counts)
    heaviest = max(p.scenarios, key=lambda s: s.weight)
    assert (p.latitude, p.longitude) == (heaviest.params.latitude, heaviest.params.longitude)


def two_clouds(n_a=700, n_b=300, hours=4):
    """Scenario A at 3°W, B 20 km east of it, both still: (Trajectories, index)."""
    rng = np.random.default_rng(2)
    lon = np.concatenate([-3.0 + rng.normal(0, 0.02, n_a), -2.64 + rng.normal(0, 0.02, n_b)])
    lat = 60.0 + rng.normal(0, 0.01, n_a + n_b)
    times = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(hours + 1) * np.timedelta64(3600, "s")
    n = n_a + n_b
    state = np.full((n, hours + 1), ACTIVE, np.int8)
    lons, lats = np.repeat(lon[:, None], hours + 1, 1), np.repeat(lat[:, None], hours + 1, 1)
    return Trajectories(times, lons, lats, state, np.zeros(n, np.int16), np.ones(n, np.int16))


def test_posterior_weights_after_a_fruitless_search_over_one_scenario_equal_the_hand_calculation():
    p = parse(scenarios=[A, B])
    traj = two_clouds()
    traj.scenario = scenario_index(p, [1000])
    traj.weight = prior = prior_weights(p, traj.scenario)
    box = {"type": "Polygon", "coordinates": [[[-2.8, 59.8], [-2.4, 59.8], [-2.4, 60.2], [-2.8, 60.2], [-2.8, 59.8]]]}
    apply_searches_done(traj, (SearchDone(box, T0 + timedelta(hours=1), T0 + timedelta(hours=2), 0.6),))
    rows = scenario_weights(p, traj, prior)
    hand_b = 0.3 * (1 - 0.6) / (0.7 + 0.3 * (1 - 0.6))  # all of B searched with POD 0.6, none of A
    assert [r["posterior_weight"] for r in rows] == pytest.approx([1 - hand_b, hand_b], abs=1e-6)
    assert rows[1]["searched_pod_share"] == pytest.approx(0.6) and rows[0]["searched_pod_share"] == 0
    assert [r["weight"] for r in rows] == [0.7, 0.3] and [r["particles"] for r in rows] == [700, 300]
    got = f"{rows[0]['posterior_weight']:.6f} / {rows[1]['posterior_weight']:.6f}"
    print(f"posterior weights after POD 0.6 over B: {got} (hand: {1 - hand_b:.6f} / {hand_b:.6f})")
