"""Search-and-rescue scenarios: release window, track (cone), area, backtracking, capsizing and jibing, ensembles,
mixed object types, reproducibility and the coordinator's description.

Most tests run `driftline.simulation.simulate` in-process with constant forcing in the open sea north-west of
Orkney (the first Leeway run builds the global landmask, once). One job per scenario family also goes through the
real daemon: all are pushed by the first test, and checked (all seven products) by the last ones.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import numpy as np
import pytest
import shapely
import xarray as xr
from pyproj import Geod

from config import Settings
from driftline.contract.params import MissionParams
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from driftline.forcing import constant_plan
from driftline.geodesy import _on_land, polygon_area_km2
from driftline.products import compute_density, compute_search_areas, make_grid, member_stats
from driftline.release import split_particles
from driftline.simulation import SimulationResult, _make_model, _merge, _seed, simulate
from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories
from tests.conftest import RESULTS_BUCKET, push_job, results, wait_status

MID = "5d3f8c9e-1b2a-4c3d-8e4f-0123456789ab"
SETTINGS = Settings.from_env({})
LAT, LON = 60.0, -3.0  # open sea, ~50 km from Orkney and Shetland
START = "2024-01-01T00:00:00Z"
GEOD = Geod(ellps="WGS84")
KM_PER_DEG = 111.195
SEA_BOX = {
    "type": "Polygon",
    "coordinates": [[[-3.1, 59.95], [-2.9, 59.95], [-2.9, 60.05], [-3.1, 60.05], [-3.1, 59.95]]],
}
COAST_BOX = {"type": "Polygon", "coordinates": [[[4.6, 60.2], [5.4, 60.2], [5.4, 60.5], [4.6, 60.5], [4.6, 60.2]]]}
LAND_BOX = {"type": "Polygon", "coordinates": [[[14.0, 62.0], [14.5, 62.0], [14.5, 62.3], [14.0, 62.3], [14.0, 62.0]]]}
CAPSIZE = {"wind_threshold_ms": 5, "wind_threshold_sigma_ms": 1, "leeway_fraction": 0.4}
EAST = {"speed_ms": 0.5, "to_deg": 90}
NO_WIND = {"speed_ms": 0, "from_deg": 0}
TRACK = dict(end_latitude=60.1, end_longitude=-2.8, radius_m=100, end_radius_m=2000)
ENSEMBLE = [{"current": {"speed_ms": 0.5, "to_deg": 0}}, {"current": {"speed_ms": 0.5, "to_deg": 180}}]
MIXED = [{"type": "PIW-1", "weight": 5}, {"type": "LIFE-RAFT-NB-1", "weight": 3}, {"type": "SLDMB", "weight": 2}]
EXACT_FORCING = {"current_uncertainty_ms": 0, "wind_uncertainty_ms": 0}  # these tests check the scenarios' own spread


def params(**overrides) -> MissionParams:
    """Validated parameters of a small, fast open-sea job; overrides set to None are left out."""
    body = {
        "latitude": LAT,
        "longitude": LON,
        "start_time": START,
        "duration_hours": 6,
        "num_particles": 200,
        "random_seed": 7,
        "time_step_minutes": 30,
        "output_step_minutes": 60,
        **EXACT_FORCING,
        **overrides,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return parse_job(json.dumps({"mission_id": MID, "params": body}), SETTINGS).params


def plans_for(p: MissionParams) -> list:
    members = p.ensemble or [p]
    return [constant_plan(m.wind, m.current) for m in members]


def run(**overrides) -> SimulationResult:
    p = params(**overrides)
    return simulate(p, plans_for(p))


def dist_km(lon0, lat0, lon1, lat1) -> np.ndarray:
    """Geodesic distances (vectorised)."""
    lon0, lat0, lon1, lat1 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lon0, lat0, lon1, lat1)))
    return GEOD.inv(lon0, lat0, lon1, lat1)[2] / 1000.0


def east_north_km(lon, lat, lon0: float = LON, lat0: float = LAT) -> tuple[np.ndarray, np.ndarray]:
    """Local tangent-plane coordinates (km); exact enough within a few tens of km."""
    return (np.asarray(lon) - lon0) * KM_PER_DEG * np.cos(np.radians(lat0)), (np.asarray(lat) - lat0) * KM_PER_DEG


def centre(r: SimulationResult, t: int = -1, member: int | None = None) -> tuple[float, float]:
    sel = slice(None) if member is None else r.trajectories.member == member
    return float(np.nanmean(r.trajectories.lon[sel, t])), float(np.nanmean(r.trajectories.lat[sel, t]))


# --- through the daemon: jobs pushed first, so the daemon works while the in-process tests run ---------------
DAEMON_BASE = {
    "latitude": LAT,
    "longitude": LON,
    "start_time": START,
    "duration_hours": 3,
    "num_particles": 200,
    "random_seed": 5,
    "time_step_minutes": 30,
    "output_step_minutes": 60,
    **EXACT_FORCING,
}
DAEMON_JOBS = {
    "on land": dict(area=LAND_BOX, latitude=62.1, longitude=14.2),  # first: its test is the first of the file
    "window": dict(release_end_time="2024-01-01T01:30:00Z", current=EAST),
    "track": dict(**TRACK, end_time="2024-01-01T01:00:00Z"),
    "area": dict(area=SEA_BOX, wind={"speed_ms": 8, "from_deg": 300}),
    "backward": dict(direction="backward", current=EAST),
    "capsizing": dict(
        object_type="LIFE-RAFT-NB-1",
        capsizing=CAPSIZE,
        jibe_probability_per_hour=0.2,
        wind={"speed_ms": 25, "from_deg": 270},
    ),
    "ensemble": dict(ensemble=ENSEMBLE),
    "mixed": dict(object_type=MIXED, num_particles=101),
}
KINDS = {"particles", "density", "search_area", "search_area_kml", "shoreline", "animation", "preview", "summary"}
KINDS |= {"sap", "search_plan_gpx", "waypoints", "probability_tif", "report"}  # tasking products


@pytest.fixture(scope="module")
def daemon_missions(services, shared_worker) -> dict[str, str]:
    """Push one job per scenario family at once; mission ids by family."""
    queue = shared_worker.env["QUEUE_NAME"]
    return {name: push_job(services, queue, {**DAEMON_BASE, **extra}) for name, extra in DAEMON_JOBS.items()}


@pytest.fixture(scope="module")
def daemon_runs(services, daemon_missions) -> dict[str, tuple[str, dict]]:
    """Every scenario job finished: (mission id, missions row) by family."""
    started = time.monotonic()
    runs = {name: (mid, wait_status(services, mid, timeout_s=300)) for name, mid in daemon_missions.items()}
    print(f"daemon: scenario jobs finished {time.monotonic() - started:.1f} s after the in-process tests")
    return runs


def fetch(services, mission_id: str, name: str, tmp_path) -> object:
    """A stored product: parsed JSON for .json/.geojson, an xarray Dataset for .nc."""
    folder = "raw" if name == "particles.nc" else "products"
    path = tmp_path / f"{mission_id}-{name}"
    services.s3().download_file(RESULTS_BUCKET, f"{mission_id}/{folder}/{name}", str(path))
    return json.loads(path.read_text()) if name.endswith(("json", "geojson")) else xr.load_dataset(path)


def completed(services, daemon_runs, name: str, tmp_path) -> tuple[str, dict]:
    """The mission id and summary.json of a scenario that must have completed with all seven products."""
    mid, row = daemon_runs[name]
    assert row["status"] == "completed", row["error_message"]
    assert set(results(services, mid)) == KINDS
    summary = fetch(services, mid, "summary.json", tmp_path)
    particles = fetch(services, mid, "particles.nc", tmp_path)
    assert particles.attrs["driftline_scenario"] == summary["scenario"]
    return mid, summary


def test_daemon_rejects_an_area_entirely_on_land(services, daemon_missions):
    mid = daemon_missions["on land"]
    row = wait_status(services, mid)
    assert row["status"] == "failed" and "area lies entirely on land" in row["error_message"], row
    assert results(services, mid) == {}


# --- release window -------------------------------------------------------------------------------------------
def test_release_window_spreads_the_final_cloud_along_the_drift_by_speed_times_window():
    """SLDMB (a drifter buoy: no leeway noise), no wind, 0.5 m/s current east: only the release window spreads it."""
    common = dict(object_type="SLDMB", radius_m=0, wind=NO_WIND, current=EAST)
    instant = run(**common).trajectories
    window = run(**common, release_end_time="2024-01-01T03:00:00Z").trajectories
    x0, y0 = east_north_km(instant.lon[:, -1], instant.lat[:, -1])
    x, y = east_north_km(window.lon[:, -1], window.lat[:, -1])
    expected_km = 0.5 * 3 * 3600 / 1000  # speed x window = 5.4 km
    spread = x.max() - x.min()
    assert np.ptp(x0) < 0.01 and spread == pytest.approx(expected_km, rel=0.02), spread
    assert np.ptp(y) < 0.05  # along the drift (east), not across it
    # OpenDrift releases an element at the start of the time step holding its release time: on average half a
    # step (here 15 min) early, so the cloud lags by (window - step) / 2 of drift instead of window / 2.
    assert np.mean(x0) - np.mean(x) == pytest.approx(0.5 * (3 - 0.5) / 2 * 3.6, rel=0.03)
    positions, counts = np.unique(
        np.round(x, 3), return_counts=True
    )  # a group per 30 min step, evenly filled (the last one released at 03:00 alone)
    assert np.allclose(np.diff(positions), 0.5 * 1800 / 1000, rtol=0.01) and set(counts[1:]) <= {33, 34}
    print(f"release window 3 h at 0.5 m/s: final along-drift spread {spread:.2f} km (expected {expected_km:.2f} km)")
    released = (window.state != NOT_RELEASED).sum(axis=0)
    assert released[0] < 50 and released[3] == 200 and np.all(np.diff(released) >= 0)  # released between 00 and 03


# --- track line (cone) ---------------------------------------------------------------------------------------


def _along_and_across(lon, lat) -> tuple[np.ndarray, np.ndarray, float]:
    """Along-track position s (km from the start), signed distance d (km) from the track line, and its length."""
    x, y = east_north_km(lon, lat)
    ex, ey = east_north_km(TRACK["end_longitude"], TRACK["end_latitude"])
    length = float(np.hypot(ex, ey))
    ux, uy = ex / length, ey / length
    return x * ux + y * uy, -x * uy + y * ux, length


def test_track_seeds_along_the_segment_within_radii_growing_from_radius_to_end_radius():
    r = run(**TRACK, num_particles=400, current=EAST)
    p0 = r.trajectories
    assert (p0.state[:, 0] == ACTIVE).all()  # no end_time: all seeded at start_time, at output time 0
    s, d, length = _along_and_across(p0.lon[:, 0], p0.lat[:, 0])
    assert length == pytest.approx(dist_km(LON, LAT, TRACK["end_longitude"], TRACK["end_latitude"]), rel=0.01)
    frac = np.clip(s / length, 0, 1)
    radius_km = (100 + (2000 - 100) * frac) / 1000
    off_segment = np.hypot(d, s - frac * length)  # distance to the nearest point of the segment
    assert (off_segment / radius_km).max() < 4.5  # OpenDrift's radius is one standard deviation (gaussian)
    assert np.std(d / radius_km) == pytest.approx(1.0, abs=0.15)
    assert np.histogram(frac, bins=4, range=(0, 1))[0].min() > 70  # all along the track
    near, far = np.abs(d[frac < 0.2]), np.abs(d[frac > 0.8])
    assert np.percentile(far, 90) > 3 * np.percentile(
        near, 90
    )  # mean radius ~290 m near the start, ~1800 m near the end


def test_track_with_end_time_seeds_each_particle_when_the_object_passed_that_point():
    """Seeding time runs linearly from start_time (start of the track) to end_time (end of the track)."""
    p = params(**{**TRACK, "radius_m": 1, "end_radius_m": 1}, end_time="2024-01-01T03:00:00Z", num_particles=100)
    model = _make_model(p, plans_for(p)[0], None, seed=1)
    _seed(model, p, 100)
    s, _, length = _along_and_across(model.elements_scheduled.lon, model.elements_scheduled.lat)
    hours = np.array([(t - datetime(2024, 1, 1)) / timedelta(hours=1) for t in model.elements_scheduled_time])
    assert hours.min() == pytest.approx(0) and hours.max() == pytest.approx(3, abs=1e-6)
    assert np.abs(hours / 3 - s / length).max() < 2 / 100  # seed_cone places n points strictly inside the segment


def test_single_particle_of_a_type_on_a_track_is_seeded_at_the_start():
    """seed_cone refuses one particle: a one-particle share is seeded at the last known position instead."""
    r = run(
        **{**TRACK, "radius_m": 0},
        end_time="2024-01-01T03:00:00Z",
        num_particles=21,
        current=EAST,
        object_type=[{"type": "PIW-1", "weight": 20}, {"type": "SLDMB", "weight": 1}],
    )
    t = r.trajectories
    assert np.bincount(t.object_number)[[1, 67]].tolist() == [20, 1]
    buoy = np.flatnonzero(t.object_number == 67)[0]
    assert t.lon[buoy, 0] == pytest.approx(LON) and t.lat[buoy, 0] == pytest.approx(LAT)


# --- area ----------------------------------------------------------------------------------------------------
def test_area_seeds_uniformly_inside_the_polygon():
    r = run(area=SEA_BOX, num_particles=400, current=EAST, release_end_time="2024-01-01T01:00:00Z")
    t = r.trajectories
    first = np.argmax(t.state != NOT_RELEASED, axis=1)
    assert (first <= 1).all()  # released between 00:00 and 01:00
    lon0, lat0 = t.lon[:, 0], t.lat[:, 0]
    at0 = t.state[:, 0] == ACTIVE
    assert 150 < at0.sum() < 250  # about half released in the first half hour
    assert shapely.contains_xy(shapely.geometry.shape(SEA_BOX), lon0[at0], lat0[at0]).all()
    p = params(area=SEA_BOX, num_particles=400)
    model = _make_model(p, plans_for(p)[0], None, seed=3)
    _seed(model, p, 400)
    lon, lat = model.elements_scheduled.lon, model.elements_scheduled.lat
    assert shapely.contains_xy(shapely.geometry.shape(SEA_BOX), lon, lat).all()
    assert len(np.unique(np.column_stack([lon, lat]), axis=0)) == 400  # no duplicated positions
    quadrants = np.histogram2d(lon, lat, bins=2, range=[[-3.1, -2.9], [59.95, 60.05]])[0]
    assert quadrants.min() > 70 and quadrants.max() < 130  # equal areas get about 100 each


def test_area_across_a_coast_seeds_only_the_sea_part():
    p = params(area=COAST_BOX, num_particles=300)
    xx, yy = np.meshgrid(np.linspace(4.6, 5.4, 60), np.linspace(60.2, 60.5, 60))
    assert 0.3 < _on_land(xx.ravel(), yy.ravel()).mean() < 0.5  # the box is ~40 % land (Bergen archipelago)
    model = _make_model(p, plans_for(p)[0], None, seed=3)
    _seed(model, p, 300)
    lon, lat = model.elements_scheduled.lon, model.elements_scheduled.lat
    assert shapely.contains_xy(shapely.geometry.shape(COAST_BOX), lon, lat).all()
    assert not _on_land(lon, lat).any()
    assert len(np.unique(np.round(np.column_stack([lon, lat]), 3), axis=0)) > 290  # spread, not piled on the coast


# --- backtracking -------------------------------------------------------------------------------------------
def _round_trip(object_type: str) -> tuple[float, float, SimulationResult, SimulationResult]:
    """Forward 6 h in a pure constant current, then backward 6 h from the forward end point."""
    current = {"speed_ms": 0.3, "to_deg": 45}
    common = dict(object_type=object_type, radius_m=0, wind=NO_WIND, current=current, num_particles=500)
    fwd = run(**common)
    end_lon, end_lat = centre(fwd)
    back = run(
        **common,
        latitude=end_lat,
        longitude=end_lon,
        start_time="2024-01-01T06:00:00Z",
        direction="backward",
        random_seed=8,
    )
    drift = float(dist_km(LON, LAT, end_lon, end_lat))
    error = float(dist_km(LON, LAT, *centre(back)))
    return drift, error, fwd, back


def test_backward_run_from_the_forward_end_point_returns_to_the_start():
    drift, error, fwd, back = _round_trip("PIW-1")
    # 6.5 km; PIW-1 keeps random per-particle leeway terms even without wind: they spread the cloud by ~1 km
    # and (by the independent random seeds of the two runs) move its centre by tens of metres.
    assert drift == pytest.approx(0.3 * 6 * 3.6, rel=0.05)
    assert error < 0.05 * drift, (error, drift)
    times = back.trajectories.times
    assert times[0] == np.datetime64("2024-01-01T06:00:00") and times[-1] == np.datetime64("2024-01-01T00:00:00")
    assert np.all(np.diff(times) < np.timedelta64(0, "s"))
    assert (back.trajectories.state[:, 0] == ACTIVE).all()  # all seeded at the found time
    assert "tracked backwards 6 h" in back.seed_description and "found position" in back.seed_description
    print(
        f"backward round trip (PIW-1): drift {drift:.2f} km, return error {error * 1000:.1f} m "
        f"= {100 * error / drift:.3f} % of the drift"
    )


def test_leeway_random_terms_do_not_act_on_the_current():
    """Without leeway noise (SLDMB) every single particle comes back: the current advection itself is reversible."""
    drift, error, fwd, back = _round_trip("SLDMB")
    f, b = fwd.trajectories, back.trajectories
    assert np.ptp(f.lon[:, -1]) < 1e-9 and np.ptp(b.lon[:, -1]) < 1e-9
    assert error < 0.001 * drift


# --- capsizing and jibing -------------------------------------------------------------------------------------
def _mean_drift_km(r: SimulationResult, sel=slice(None)) -> float:
    t = r.trajectories
    return float(np.mean(dist_km(t.lon[sel, 0], t.lat[sel, 0], t.lon[sel, -1], t.lat[sel, -1])))


def test_capsized_life_rafts_drift_less_than_upright_ones_in_strong_wind():
    common = dict(object_type="LIFE-RAFT-NB-1", radius_m=0, wind={"speed_ms": 25, "from_deg": 270})
    upright, capsizing = run(**common), run(**common, capsizing=CAPSIZE)
    capsized = capsizing.members[0].result["capsized"].values[:, -1]
    assert np.nanmean(capsized) > 0.95 and np.nanmax(upright.members[0].result["capsized"].values) == 0
    ratio = _mean_drift_km(capsizing) / _mean_drift_km(upright)
    assert 0.4 < ratio < 0.6, ratio  # capsized rafts keep 40 % of their leeway, after capsizing in the first hour
    assert capsizing.members[0].result.attrs["config_capsizing:wind_threshold"] == 5
    print(
        f"capsizing: upright {_mean_drift_km(upright):.1f} km, with capsizing {_mean_drift_km(capsizing):.1f} km, "
        f"ratio {ratio:.2f}"
    )


def test_capsizing_applies_to_the_life_rafts_of_a_mixed_job_only():
    r = run(
        object_type=[{"type": "PIW-1", "weight": 1}, {"type": "LIFE-RAFT-NB-1", "weight": 1}],
        radius_m=0,
        wind={"speed_ms": 25, "from_deg": 270},
        capsizing=CAPSIZE,
    )
    res = r.members[0].result
    kinds = res["object_type"].values[:, 0]
    capsized = res["capsized"].values[:, -1]
    assert set(np.unique(res["capsized"].values[np.isfinite(res["capsized"].values)])) <= {0, 1}
    assert np.all(capsized[kinds == 1] == 0) and np.mean(capsized[kinds == 26]) > 0.95
    rejected = reject_params(capsizing=CAPSIZE)  # PIW-1 only
    assert "life rafts" in rejected and "LIFE-RAFT" in rejected


def test_jibe_probability_overrides_leeways_default():
    def flips(r: SimulationResult) -> float:
        orientation = r.members[0].result["orientation"].values
        return float(np.mean(np.abs(np.diff(orientation, axis=1)).sum(axis=1)))

    common = dict(object_type="LIFE-RAFT-NB-1", output_step_minutes=30)  # one output per step: every jibe is seen
    default, often = run(**common), run(**common, jibe_probability_per_hour=0.9)
    assert np.allclose(default.members[0].result["jibe_probability"].values[:, 0], 0.04)
    assert np.allclose(often.members[0].result["jibe_probability"].values[:, 0], 0.9)
    assert flips(default) < 0.6 < 6 < flips(often)  # jibes per particle in 6 h: expected 0.24 and 8.2
    assert "jibing probability 90% per hour" in often.seed_description


# --- ensemble -------------------------------------------------------------------------------------------------


def test_ensemble_members_drift_with_their_own_forcing_into_two_separate_search_areas():
    r = run(ensemble=ENSEMBLE, num_particles=300, duration_hours=4)
    t = r.trajectories
    assert t.member_names == ["member-1", "member-2"] and np.bincount(t.member).tolist() == [150, 150]
    north, south = centre(r, member=0), centre(r, member=1)
    assert north[1] - LAT == pytest.approx(7.2 / KM_PER_DEG, rel=0.1) and LAT - south[1] == pytest.approx(
        7.2 / KM_PER_DEG, rel=0.1
    )  # 0.5 m/s x 4 h = 7.2 km each way
    grid = make_grid(t)
    dens = compute_density(t, grid)
    final = compute_search_areas(t, [t.num_times - 1], dens.shares)[-1]
    core = final.regions[0.5]
    assert isinstance(core, shapely.MultiPolygon) and len(core.geoms) == 2
    for lon, lat in (north, south):
        assert sum(g.buffer(grid.dlat).contains(shapely.Point(lon, lat)) for g in core.geoms) == 1
    stats = member_stats(t, [t.num_times - 1]).final(t.times)
    assert [m["name"] for m in stats] == ["member-1", "member-2"]
    separation = float(
        dist_km(
            stats[0]["centre"]["lon"], stats[0]["centre"]["lat"], stats[1]["centre"]["lon"], stats[1]["centre"]["lat"]
        )
    )
    assert separation == pytest.approx(14.4, rel=0.1) and all(m["area_90_km2"] > 0 for m in stats)
    print(f"ensemble: member centres {separation:.1f} km apart, 50 % area = {len(core.geoms)} polygons")


def test_each_member_is_its_own_run_seeded_with_random_seed_plus_its_index():
    r = run(ensemble=ENSEMBLE, num_particles=200, random_seed=41)
    second = run(current=ENSEMBLE[1]["current"], num_particles=100, random_seed=42).trajectories
    t = r.trajectories
    np.testing.assert_array_equal(t.lon[t.member == 1], second.lon)
    assert len(r.members) == 2 and [m.plan.sources[0]["description"] for m in r.members] == [
        "on-scene constant 0.5 m/s towards 0°",
        "on-scene constant 0.5 m/s towards 180°",
    ]
    assert not np.allclose(t.lon[t.member == 0, 0], t.lon[t.member == 1, 0])  # different random draws per member


def test_merge_carries_a_member_that_stopped_early_to_the_common_end():
    times = np.arange("2024-01-01T00", "2024-01-01T04", np.timedelta64(1, "h"), dtype="datetime64[s]")
    long = Trajectories(
        times, np.ones((2, 4)), np.ones((2, 4)), np.zeros((2, 4), np.int8), np.zeros(2, np.int16), np.ones(2, np.int16)
    )
    short = Trajectories(
        times[:2],
        np.array([[5.0, 6.0], [5.0, 7.0]]),
        np.ones((2, 2)),
        np.array([[ACTIVE, STRANDED], [ACTIVE, OUT_OF_DOMAIN]], np.int8),
        np.zeros(2, np.int16),
        np.ones(2, np.int16),
    )
    merged = _merge([long, short], ["a", "b"])
    assert merged.num_times == 4 and merged.member.tolist() == [0, 0, 1, 1]
    assert merged.state[2].tolist() == [ACTIVE, STRANDED, STRANDED, STRANDED] and merged.lon[2, -1] == 6.0
    assert merged.state[3, -1] == OUT_OF_DOMAIN and np.isnan(merged.lon[3, -1])


# --- mixed object types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_mixed_object_types_get_their_exact_weighted_share_and_their_own_leeway(direction):
    r = run(object_type=MIXED, num_particles=101, wind={"speed_ms": 15, "from_deg": 270}, direction=direction)
    t = r.trajectories
    expected = split_particles(101, [0.5, 0.3, 0.2])
    assert expected == [51, 30, 20]
    assert [int((t.object_number == n).sum()) for n in (1, 26, 67)] == expected
    assert "(51 PIW-1, 30 LIFE-RAFT-NB-1, 20 SLDMB)" in r.seed_description
    # Labels follow the particles, whatever order OpenDrift gives them (backward runs reverse the element IDs):
    res = r.members[0].result
    np.testing.assert_array_equal(np.nanmax(res["object_type"].values, axis=1), t.object_number)
    drift = {n: _mean_drift_km(r, t.object_number == n) for n in (1, 26, 67)}
    assert drift[67] < 0.5 < drift[1] < drift[26]  # buoy ~0, person in water, raft (largest leeway)


def test_mixed_types_are_split_within_each_ensemble_member():
    r = run(object_type=MIXED, num_particles=101, ensemble=ENSEMBLE)
    t = r.trajectories
    per_member = [[int(((t.member == m) & (t.object_number == n)).sum()) for n in (1, 26, 67)] for m in (0, 1)]
    expected = [split_particles(51, [0.5, 0.3, 0.2]), split_particles(50, [0.5, 0.3, 0.2])]
    assert per_member == expected == [[26, 15, 10], [25, 15, 10]]
    assert "(51 PIW-1, 30 LIFE-RAFT-NB-1, 20 SLDMB)" in r.seed_description


# --- reproducibility -------------------------------------------------------------------------------------------
SCENARIOS = {
    "point": {},
    "release window": dict(release_end_time="2024-01-01T02:00:00Z"),
    "track": dict(**TRACK, end_time="2024-01-01T02:00:00Z"),
    "area": dict(area=SEA_BOX),
    "backward": dict(direction="backward"),
    "capsizing and jibing": dict(
        object_type="LIFE-RAFT-NB-1", capsizing={"wind_threshold_ms": 12}, jibe_probability_per_hour=0.3
    ),
    "ensemble": dict(ensemble=ENSEMBLE),
    "mixed types": dict(object_type=MIXED),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_is_reproducible_with_random_seed(scenario):
    kw = {"wind": {"speed_ms": 12, "from_deg": 200}, **SCENARIOS[scenario], "num_particles": 60, "duration_hours": 3}
    if "ensemble" in kw:
        kw.pop("wind")
    a, b, other = run(**kw), run(**kw), run(**kw, random_seed=8)
    for name in ("lon", "lat", "state"):
        np.testing.assert_array_equal(getattr(a.trajectories, name), getattr(b.trajectories, name))
    assert not np.array_equal(a.trajectories.lon, other.trajectories.lon, equal_nan=True)


def test_random_seed_reaches_opendrift_which_reseeds_numpy_in_its_constructor():
    """Same particles as plain OpenDrift with Leeway(seed=random_seed); its default seed 0 made random_seed inert."""
    from opendrift.models.leeway import Leeway

    ours = run(wind={"speed_ms": 10, "from_deg": 270}, random_seed=99, num_particles=50).trajectories
    o = Leeway(loglevel=50, seed=99)
    for var, value in {"x_wind": 10.0, "y_wind": 0.0, "x_sea_water_velocity": 0.0, "y_sea_water_velocity": 0.0}.items():
        o.set_config(f"environment:fallback:{var}", value)
    o.seed_elements(lon=LON, lat=LAT, radius=1000, number=50, time=datetime(2024, 1, 1), object_type=1)
    o.run(duration=timedelta(hours=6), time_step=1800, time_step_output=3600)
    np.testing.assert_allclose(ours.lon, o.result.lon.values, rtol=0, atol=1e-9)


# --- description and validation ---------------------------------------------------------------------------------
def test_description_uses_a_coordinators_words():
    track = params(
        latitude=60.0,
        longitude=-3.0,
        end_latitude=60.1,
        end_longitude=-2.85,
        num_particles=1000,
        start_time="2024-01-01T02:00:00Z",
        end_time="2024-01-01T05:00:00Z",
        duration_hours=24,
    )
    from driftline.release import describe_seeding

    text = describe_seeding(track)
    assert text.startswith("1000 particles (PIW-1) released along a 13.9 km track from 60°00.000'N 003°00.000'W to ")
    assert "evenly between 02:00 and 05:00 UTC on 2024-01-01, drifting for 24 h until 2024-01-02 02:00 UTC" in text
    area = describe_seeding(params(area=SEA_BOX))
    assert f"spread uniformly over the sea in a {polygon_area_km2(SEA_BOX):.1f} km² area at 00:00 UTC" in area
    back = describe_seeding(params(direction="backward", release_end_time="2023-12-31T22:00:00Z"))
    assert "found position" in back and "evenly between 22:00 and 00:00" not in back
    assert "evenly between 2023-12-31 22:00 and 2024-01-01 00:00 UTC, tracked backwards 6 h" in back
    ens = describe_seeding(params(ensemble=ENSEMBLE, num_particles=201))
    assert "split evenly between 2 forcing ensemble members (101, 100)" in ens


def reject_params(**overrides) -> str:
    with pytest.raises(InvalidJob) as info:
        params(**overrides)
    return str(info.value)


@pytest.mark.parametrize(
    "overrides,words",
    [
        (
            dict(**TRACK, end_time="2024-01-01T02:00:00Z", release_end_time="2024-01-01T01:00:00Z"),
            ["conflicting", "release_end_time", "end_time"],
        ),
        (dict(object_type="LIFE-RAFT-NB-1", capsizing={"wind_threshold_ms": 60}), ["wind_threshold_ms", "50"]),
        (dict(object_type="LIFE-RAFT-NB-1", capsizing={"wind_threshold_sigma_ms": 30}), ["wind_threshold_sigma_ms"]),
        (dict(object_type="LIFE-RAFT-DB-21", capsizing={}), ["life rafts"]),  # already capsized
        (dict(**TRACK, direction="backward", end_time="2024-01-01T02:00:00Z"), ["end_time", "before"]),
    ],
)
def test_scenario_validation_names_the_keys(overrides, words):
    message = reject_params(**overrides)
    assert all(w in message for w in words), message


# --- through the daemon: every scenario family completes with all seven products ------------------------------
@pytest.mark.parametrize(
    "name,words",
    [
        (
            "window",
            [
                "200 particles (PIW-1) released within 1000 m of the last known position",
                "evenly between 00:00 and 01:30 UTC on 2024-01-01",
            ],
        ),
        ("track", ["released along a 15.8 km track", "radius 100 m growing to 2000 m", "between 00:00 and 01:00"]),
        ("area", ["spread uniformly over the sea in a 124.3 km² area"]),
    ],
)
def test_daemon_seeding_scenarios_complete_with_all_products(services, daemon_runs, tmp_path, name, words):
    mid, summary = completed(services, daemon_runs, name, tmp_path)
    assert all(w in summary["scenario"] for w in words), summary["scenario"]
    assert summary["counts"]["active"] == 200
    density = fetch(services, mid, "density.nc", tmp_path)
    assert density.attrs["scenario"] == summary["scenario"]


def test_daemon_backward_run_describes_the_origin(services, daemon_runs, tmp_path):
    mid, summary = completed(services, daemon_runs, "backward", tmp_path)
    assert summary["title"] == "Origin probability (backward run)" and summary["direction"] == "backward"
    assert summary["time_start"] == "2024-01-01T00:00:00Z" and summary["time_end"] == "2023-12-31T21:00:00Z"
    assert "tracked backwards 3 h" in summary["scenario"]
    assert fetch(services, mid, "particles.nc", tmp_path).attrs["title"].startswith("Origin estimate")
    assert fetch(services, mid, "density.nc", tmp_path).attrs["title"].startswith("Origin probability")
    names = [f["properties"]["name"] for f in fetch(services, mid, "search_area.geojson", tmp_path)["features"]]
    assert "Found position" in names and any(n.startswith("50 % origin area") for n in names)
    assert summary["search_areas"][-1]["centre"]["lon"] < LON - 0.05  # the current flows east: origin is west


def test_daemon_capsizing_run_capsizes_the_rafts(services, daemon_runs, tmp_path):
    mid, summary = completed(services, daemon_runs, "capsizing", tmp_path)
    assert "life rafts may capsize in winds around 5 m/s" in summary["scenario"]
    assert "jibing probability 20% per hour" in summary["scenario"]
    particles = fetch(services, mid, "particles.nc", tmp_path)
    assert float(particles["capsized"][:, -1].mean()) > 0.95
    assert np.allclose(particles["jibe_probability"][:, 0], 0.2)


def test_daemon_ensemble_keeps_each_members_centre_and_two_search_areas(services, daemon_runs, tmp_path):
    mid, summary = completed(services, daemon_runs, "ensemble", tmp_path)
    members = summary["members"]
    assert [m["name"] for m in members] == ["member-1", "member-2"]
    north, south = members[0]["centre"], members[1]["centre"]
    assert north["lat"] - LAT > 0.04 and LAT - south["lat"] > 0.04  # 0.5 m/s x 3 h = 5.4 km = 0.049°
    final = [
        f
        for f in fetch(services, mid, "search_area.geojson", tmp_path)["features"]
        if f["properties"].get("probability") == 0.5 and f["properties"]["time"] == summary["time_end"]
    ]
    assert len(final) == 1 and final[0]["geometry"]["type"] == "MultiPolygon"
    assert len(final[0]["geometry"]["coordinates"]) == 2
    density = fetch(services, mid, "density.nc", tmp_path)
    assert density["member_centre_lat"].shape[0] == 2 and "split evenly between 2" in summary["scenario"]


def test_daemon_mixed_types_report_each_types_exact_share(services, daemon_runs, tmp_path):
    mid, summary = completed(services, daemon_runs, "mixed", tmp_path)
    shares = [(o["key"], o["particles"]) for o in summary["object_types"]]
    assert shares == [("PIW-1", 51), ("LIFE-RAFT-NB-1", 30), ("SLDMB", 20)]
    assert "(51 PIW-1, 30 LIFE-RAFT-NB-1, 20 SLDMB)" in summary["scenario"]
