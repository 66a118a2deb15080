"""Search theory, plan, patterns, searches done and survival on hand-made particle clouds (no services)."""

from __future__ import annotations

import json
import math
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import shapely

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from driftline.search.contract import SearchDone, SearchUnit
from driftline.search.done import apply_searches_done
from driftline.search.geo import LocalPlane, Rect, deg_min, position_dm, positions_at, rects_overlap
from driftline.search.output import feature_collection, write_kml
from driftline.search.pattern import legs_for, parallel_sweep
from driftline.search.plan import plan_search
from driftline.search.survival import survival_summary
from driftline.search.theory import combined_pos, coverage, effort_nm2, koopman_optimal_pos, pod_exponential
from driftline.trajectory import ACTIVE, Trajectories

T0 = datetime(2024, 1, 1, tzinfo=UTC)
LON0, LAT0 = 2.0, 65.0
SETTINGS = Settings.from_env({})
KML = "{http://www.opengis.net/kml/2.2}"


def cloud(n: int = 10_000, sigma_nm: float = 2.0, hours: int = 8, drift_kn=(0.0, 0.0), stretch: float = 1.0, seed=1):
    """Circular (or stretched along x) normal cloud at LON0/LAT0 drifting at a constant velocity, hourly outputs."""
    rng = np.random.default_rng(seed)
    plane = LocalPlane.at(LON0, LAT0)
    x, y = rng.standard_normal(n) * sigma_nm * stretch, rng.standard_normal(n) * sigma_nm
    steps = np.arange(hours + 1)
    lon, lat = plane.to_lonlat(x[:, None] + drift_kn[0] * steps, y[:, None] + drift_kn[1] * steps)
    times = np.datetime64("2024-01-01T00:00:00", "s") + steps * np.timedelta64(3600, "s")
    state = np.full(lon.shape, ACTIVE, np.int8)
    return Trajectories(times, lon, lat, state, np.zeros(n, np.int16), np.ones(n, np.int16))


def unit(name="A", speed=10.0, sweep=0.5, hours=2.0, commence_h=1.0) -> SearchUnit:
    return SearchUnit(name, speed, sweep, hours, T0 + timedelta(hours=commence_h))


# --- theory, hand-computed ---------------------------------------------------------------------------------------


def test_theory_functions_match_hand_computed_values():
    assert effort_nm2(90, 1.2, 2.5) == pytest.approx(270.0)
    assert coverage(1.2, 0.4) == pytest.approx(3.0)
    assert pod_exponential(1.0) == pytest.approx(1 - math.exp(-1))  # 0.632121
    assert pod_exponential(3.0) == pytest.approx(0.950213, abs=1e-6)
    # u = 1 when Z = π σ²: POS* = 1 − 2/e
    assert koopman_optimal_pos(math.pi * 4.0, 2.0) == pytest.approx(1 - 2 / math.e)
    w = np.ones(4)
    a, b = np.array([1, 1, 0, 0], bool), np.array([0, 1, 1, 0], bool)
    # left weights 0.5, 0.25, 0.5, 1 -> 2.25 of 4
    assert combined_pos(w, [(a, 0.5), (b, 0.5)]) == pytest.approx(1 - 2.25 / 4)


def test_degrees_and_decimal_minutes_as_read_over_the_radio():
    assert deg_min(60.5, "N", "S", 2) == "60°30.000'N"
    assert deg_min(-3.0411, "E", "W", 3) == "003°02.466'W"
    assert deg_min(59.9999999, "N", "S", 2) == "60°00.000'N"
    assert position_dm(-170.25, -45.125) == "45°07.500'S 170°15.000'W"


def test_local_plane_round_trip_and_rectangles():
    plane = LocalPlane.at(179.5, 60.0)
    x, y = plane.to_xy(np.array([-179.9, 179.0]), np.array([60.1, 59.9]))
    assert x[0] > 0 > x[1]  # across the antimeridian the plane stays continuous
    lon, lat = plane.to_lonlat(x, y)
    assert np.allclose(lon, [-179.9, 179.0]) and np.allclose(lat, [60.1, 59.9])
    assert plane.nm_per_deg_lat == pytest.approx(60.0, rel=0.01)  # one minute of latitude ~ one nautical mile
    r = Rect(0, 0, math.pi / 4, 4, 2)
    assert r.contains(np.array([1.3, 0.0, 1.0]), np.array([1.3, 1.6, -1.0])).tolist() == [True, False, False]
    touching = Rect(0, 0, 0, 2, 2).corners(), Rect(2, 0, 0, 2, 2).corners()
    assert not rects_overlap(*touching)
    assert rects_overlap(Rect(0, 0, 0, 2, 2).corners(), Rect(1.9, 0, 0.3, 2, 2).corners())


def test_positions_between_output_times_are_interpolated():
    traj = cloud(n=5, hours=2, drift_kn=(6.0, 0.0))
    lon, lat, ok = positions_at(traj, T0 + timedelta(minutes=30))
    assert ok.all() and np.allclose(lon, (traj.lon[:, 0] + traj.lon[:, 1]) / 2)
    assert np.array_equal(positions_at(traj, T0 + timedelta(hours=1))[0], traj.lon[:, 1])


# --- parallel sweep ----------------------------------------------------------------------------------------------


def test_parallel_sweep_legs_spacing_and_track_length():
    assert legs_for(10, 3, 50) == 5 and legs_for(10, 3, 49.9) == 4 and legs_for(10, 6, 12) == 0
    rect = Rect(0, 0, 0, 10, 3)
    pat = parallel_sweep(rect, 5, near=(-100, -100))
    assert pat.spacing_nm == pytest.approx(0.6) and len(pat.waypoints) == 10
    assert pat.track_length_nm == pytest.approx(5 * 10 - 0.6)  # legs·(L − S) + (legs − 1)·S
    assert pat.waypoints[0] == pytest.approx([-5 + 0.3, -1.5 + 0.3])  # CSP S/2 inside the corner nearest `near`
    assert rect.contains(*pat.waypoints.T).all()
    legs = pat.waypoints.reshape(5, 2, 2)
    assert np.allclose(legs[:, 0, 1], legs[:, 1, 1])  # legs run along the long side


# --- the plan (joint allocation, along-track detection: tests/unit/search/test_plan.py) ---------------------------


def test_plan_for_ten_thousand_particles_and_four_units_is_fast():
    traj = cloud(sigma_nm=4.0, drift_kn=(1.0, 0.3), stretch=1.8)
    units = (
        unit("A", 90, 1.2, 2.5, 1.0), unit("B", 20, 0.4, 4.0, 2.0), unit("C", 140, 2.0, 2.0, 1.5),
        unit("D", 12, 0.3, 3.0, 3.0),
    )  # fmt: skip
    best = min(_timed(lambda: plan_search(traj, units, (LON0, LAT0))) for _ in range(2))
    assert best < 1.0, f"plan took {best:.2f} s"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- searches done -------------------------------------------------------------------------------------------------


def test_searches_done_multiply_the_weight_inside_by_one_minus_pod():
    traj = cloud(n=2000, drift_kn=(1.0, 0.0))
    plane = LocalPlane.at(LON0, LAT0)
    lon, lat = plane.to_lonlat(np.array([-1, 1, 1, -1, -1]), np.array([-1, -1, 1, 1, -1]))
    square = {"type": "Polygon", "coordinates": [np.column_stack([lon, lat]).tolist()]}
    first = SearchDone(square, T0, T0 + timedelta(hours=2), 0.6)  # mid 01:00: the cloud has moved 1 nm east
    second = SearchDone(square, T0 + timedelta(hours=2), T0 + timedelta(hours=4), 0.5)  # mid 03:00
    report = apply_searches_done(traj, (second, first))
    in1 = shapely.contains_xy(shapely.Polygon(square["coordinates"][0]), traj.lon[:, 1], traj.lat[:, 1])
    in3 = shapely.contains_xy(shapely.Polygon(square["coordinates"][0]), traj.lon[:, 3], traj.lat[:, 3])
    expected = np.where(in1, 0.4, 1.0) * np.where(in3, 0.5, 1.0)
    assert np.array_equal(traj.weight, expected)
    assert report["weight_left"] == pytest.approx(expected.mean(), abs=1e-6)
    assert report["cumulative_pos"] == pytest.approx(1 - expected.mean(), abs=1e-6)
    assert [r["index"] for r in report["searches"]] == [1, 0]  # applied in time order
    assert report["searches"][0]["poc"] == pytest.approx(in1.mean(), abs=1e-6)
    shares = traj.shares()
    assert shares.sum() == pytest.approx(1.0) and shares[in1].max() < shares[~in1 & ~in3].min()


# --- survival ------------------------------------------------------------------------------------------------------


# (survival: tests/unit/search/test_survival.py)


# --- job contract --------------------------------------------------------------------------------------------------

UNIT = {"name": "Rescue 51", "speed_kn": 90, "sweep_width_nm": 1.2, "endurance_hours": 2.5}
SQUARE = {"type": "Polygon", "coordinates": [[[1.9, 64.9], [2.1, 64.9], [2.1, 65.1], [1.9, 65.1], [1.9, 64.9]]]}
C6 = "2024-01-01T06:00:00Z"
DONE = {"area": SQUARE, "start_time": "2024-01-01T02:00:00Z", "end_time": "2024-01-01T03:00:00Z"}


def job(**params) -> str:
    base = {"latitude": LAT0, "longitude": LON0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 12}
    return json.dumps({"mission_id": "550e8400-e29b-41d4-a716-446655440000", "params": {**base, **params}})


def test_search_keys_are_parsed_with_defaults_and_recorded():
    body = job(
        search={"commence_time": C6, "units": [UNIT, {**UNIT, "name": "B", "commence_time": "2024-01-01T07:00:00Z"}]},
        searches_done=[{**DONE, "sweep_width_nm": 1.0, "track_spacing_nm": 1.0}, {**DONE, "pod": 0.5}],
        water_temperature_c=8,
    )  # fmt: skip
    p = parse_job(body, SETTINGS).params
    assert [u.commence_time.hour for u in p.search.units] == [6, 7]
    assert p.searches_done[0].pod == pytest.approx(1 - math.exp(-1)) and p.searches_done[1].pod == 0.5
    record = json.loads(json.dumps(p.as_record()))
    assert record["search"]["units"][1]["commence_time"] == "2024-01-01T07:00:00Z"
    assert record["water_temperature_c"] == 8 and len(record["searches_done"]) == 2


@pytest.mark.parametrize(
    "params, words",
    [
        ({"search": {"units": []}}, ["search.units", "1 to 10"]),
        ({"search": {"commence_time": C6, "units": [UNIT] * 11}}, ["search.units", "1 to 10"]),
        ({"search": {"units": [UNIT]}}, ["search.units[0].commence_time", "required"]),
        ({"search": {"commence_time": C6, "units": [{**UNIT, "speed_kn": 0}]}}, ["search.units[0].speed_kn"]),
        ({"search": {"commence_time": C6, "units": [{**UNIT, "speed_kn": 900}]}}, ["search.units[0].speed_kn", "500"]),
        ({"search": {"commence_time": C6, "units": [{**UNIT, "sweep_width_nm": -1}]}}, ["sweep_width_nm"]),
        ({"search": {"commence_time": C6, "units": [{**UNIT, "endurance_hours": 30}]}}, ["endurance_hours"]),
        ({"search": {"commence_time": C6, "units": [{**UNIT, "name": "x" * 65}]}}, ["search.units[0].name", "64"]),
        ({"search": {"commence_time": C6, "units": [UNIT, UNIT]}}, ["names must be different"]),
        ({"search": {"commence_time": C6, "units": [{**UNIT, "fuel": 1}]}}, ["unknown search.units[0] keys: fuel"]),
        ({"search": {"commence_time": "2024-01-01T11:00:00Z", "units": [UNIT]}}, ["search.units[0]", "after the end"]),
        ({"search": {"commence_time": "2023-12-31T23:00:00Z", "units": [UNIT]}}, ["search.units[0]", "before start"]),
        ({"search": {"commence_time": C6, "units": [UNIT]}, "direction": "backward"}, ["search", "backward"]),
        ({"searches_done": [DONE]}, ["searches_done[0]", "either pod or sweep_width_nm"]),
        ({"searches_done": [{**DONE, "pod": 1.0}]}, ["searches_done[0].pod"]),
        ({"searches_done": [{**DONE, "pod": 0.5, "sweep_width_nm": 1}]}, ["searches_done[0]", "not both"]),
        ({"searches_done": [{**DONE, "pod": 0.5, "end_time": "2024-01-01T01:00:00Z"}]}, ["searches_done[0].end_time"]),
        ({"searches_done": [{**DONE, "pod": 0.5, "area": {"type": "Point"}}]}, ["searches_done[0].area"]),
        ({"searches_done": [{**DONE, "pod": 0.5, "end_time": "2024-01-02T01:00:00Z"}]}, ["searches_done[0]", "after"]),
        ({"water_temperature_c": 50}, ["water_temperature_c"]),
    ],
)
def test_bad_search_keys_fail_naming_the_key(params, words):
    with pytest.raises(InvalidJob) as e:
        parse_job(job(**params), SETTINGS)
    message = str(e.value)
    assert all(w in message for w in words), message
    assert "\n" not in message


# --- files ---------------------------------------------------------------------------------------------------------


def test_plan_files_carry_the_numbers_a_coordinator_reads_out(tmp_path):
    traj = cloud(n=2000, drift_kn=(1.0, 0.0))
    plan = plan_search(traj, (unit("Heli", 90, 1.2, 1.0), unit("Boat", 15, 0.4, 3.0, 2.0)), (LON0, LAT0))
    done = (SearchDone(SQUARE, T0, T0 + timedelta(hours=1), 0.5),)
    report = apply_searches_done(cloud(n=2000), done)
    fc = feature_collection("m-1", plan, done, report, survival_summary(["PIW-1"], 8.0, "job", T0))
    kinds = [f["properties"]["kind"] for f in fc["features"]]
    assert kinds == ["search_done", "search_rectangle", "search_pattern", "search_rectangle", "search_pattern"]
    rect = fc["features"][1]["properties"]
    for key in ("unit", "poc", "pod", "pos", "coverage", "track_spacing_nm", "effort_nm2", "area_nm2", "corners"):
        assert key in rect
    assert rect["beyond_expected_survival"] is False  # ends 02:00, survival until 02:35
    assert rect["corners"][0]["position_dm"].count("°") == 2
    ring = fc["features"][1]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and shapely.Polygon(ring).exterior.is_ccw  # RFC 7946 right-hand rule
    assert fc["features"][2]["geometry"]["type"] == "LineString"
    root = ET.parse(write_kml(tmp_path / "plan.kml", fc)).getroot()
    names = [d.get("name") for d in root.iter(f"{KML}Data")]
    assert {"poc", "pod", "pos", "corners_dm", "track_spacing_nm"} <= set(names)
    assert len(list(root.iter(f"{KML}TimeSpan"))) == 5


def test_water_temperature_comes_from_the_forcing_at_the_last_known_position(tmp_path):
    import xarray as xr

    from driftline.forcing.plan import ForcingPlan
    from driftline.forcing.readers import open_reader
    from driftline.search.survival import forcing_water_temperature
    from tests.forcing_files import START, write_current

    ds = xr.load_dataset(write_current(tmp_path / "current.nc", lon=(0.0, 4.0), lat=(63.0, 67.0)))
    temp = np.where(ds.lat.values[None, :, None] < 65.5, 7.5, 3.0) * np.ones(ds.u.shape)
    ds["temp"] = (ds.u.dims, temp.astype("f4"), {"standard_name": "sea_water_temperature", "units": "degC"})
    ds.to_netcdf(tmp_path / "with-temperature.nc")
    plans = [ForcingPlan(), ForcingPlan(readers=[open_reader(tmp_path / "with-temperature.nc")])]
    assert forcing_water_temperature(plans, LAT0, LON0, START.replace(tzinfo=UTC)) == pytest.approx(7.5)
    assert forcing_water_temperature(plans[:1], LAT0, LON0, START.replace(tzinfo=UTC)) is None


def test_a_cloud_that_has_left_the_forcing_gives_a_plan_with_nothing_to_find():
    from driftline.trajectory import OUT_OF_DOMAIN

    traj = cloud(n=200)
    traj.state[:, 1:] = OUT_OF_DOMAIN
    plan = plan_search(traj, (unit("A"), unit("B", commence_h=2)), (LON0, LAT0))
    assert plan.cumulative_pos == 0 and all(p.poc == 0 and p.pattern.legs >= 1 for p in plan.units)
