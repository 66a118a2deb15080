"""Search planning through the real daemon: plan files and rows, POC recount from particles.nc, the plan flown
as `searches_done` tracks (GPX and GeoJSON) in a second mission (same seed), and a one-unit plan against Koopman's
bound with its POS integrated along its track over the exact normal distribution.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import shapely
import xarray as xr
from PIL import Image

from driftline.products.render import PLAN_RGB
from driftline.search.geo import LocalPlane
from driftline.search.theory import koopman_optimal_pos, max_coverage
from driftline.search.track import Kinematics
from tests.conftest import RESULTS_BUCKET, push_job, results, wait_status
from tests.unit.search.helpers import recount_track, trajectories

LAT, LON = 60.0, -3.0  # open sea west of Orkney
BASE = {
    "latitude": LAT, "longitude": LON, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 8,
    "num_particles": 600, "random_seed": 11, "object_type": "PIW-1", "water_temperature_c": 6,
    "wind": {"speed_ms": 8, "from_deg": 250}, "current": {"speed_ms": 0.3, "to_deg": 45},
    # the default forcing uncertainty: the planner once gave MRB Kirkwall a 0.022 NM² box at coverage
    # 1113 here, whose POD rounded to 1.0 (searches_done then refused it); coverage now stops at theory.max_coverage
}  # fmt: skip
UNITS = [  # mid-search times 03:00 and 05:00 fall on output times
    {"name": "Rescue 51", "speed_kn": 90, "sweep_width_nm": 1.0, "endurance_hours": 2, "commence_time": "T02:00"},
    {"name": "MRB Kirkwall", "speed_kn": 15, "sweep_width_nm": 0.4, "endurance_hours": 4, "commence_time": "T03:00"},
]
for _unit in UNITS:
    _unit["commence_time"] = "2024-01-01" + _unit["commence_time"] + ":00Z"
SIGMA_NM = 2.0
CALM = {"wind": {"speed_ms": 0, "from_deg": 0}, "current": {"speed_ms": 0, "to_deg": 0}}
KOOPMAN = {  # one unit, 15 min mid-search, on a circular normal cloud of σ = radius_m = 2 nm
    "Z/σ²=0.625": {"speed_kn": 10, "sweep_width_nm": 0.5, "endurance_hours": 0.5},
    "Z/σ²=1.25": {"speed_kn": 20, "sweep_width_nm": 0.5, "endurance_hours": 0.5},
    "Z/σ²=5": {"speed_kn": 40, "sweep_width_nm": 1.0, "endurance_hours": 0.5},
    "Z/σ²=10": {"speed_kn": 80, "sweep_width_nm": 1.0, "endurance_hours": 0.5},
}


def fetch(services, mission_id: str, key: str, tmp_path):
    path = tmp_path / f"{mission_id}-{key.replace('/', '-')}"
    services.s3().download_file(RESULTS_BUCKET, f"{mission_id}/{key}", str(path))
    return path


@pytest.fixture(scope="module")
def missions(services, shared_worker) -> dict[str, str]:
    queue = shared_worker.env["QUEUE_NAME"]
    # search_endurance_factor 1: the mid-search times stay on output times, where particles.nc recounts the POC
    jobs = {"plan": {**BASE, "search": {"units": UNITS, "search_endurance_factor": 1}}}
    for name, unit in KOOPMAN.items():
        calm = {**BASE, **CALM, "duration_hours": 1, "num_particles": 4000, "radius_m": SIGMA_NM * 1852}
        jobs[name] = {**calm, "search": {"units": [{**unit, "name": "U", "commence_time": BASE["start_time"]}]}}
    return {name: push_job(services, queue, params) for name, params in jobs.items()}


def _completed(services, mission_id: str) -> dict:
    row = wait_status(services, mission_id, timeout_s=240)
    assert row["status"] == "completed", row["error_message"]
    return row


def _inside(particles: xr.Dataset, feature: dict) -> np.ndarray:
    """Particles inside a plan rectangle at its unit's mid-search time, recounted from particles.nc."""
    t = np.datetime64(feature["properties"]["mid_time"].rstrip("Z"))
    k = int(np.flatnonzero(particles.time.values == t)[0])
    lon, lat = particles.lon.values[:, k], particles.lat.values[:, k]
    return shapely.contains_xy(shapely.Polygon(feature["geometry"]["coordinates"][0]), lon, lat)


def test_plan_files_rows_and_preview_and_poc_recounted_from_particles(services, missions, tmp_path):
    mid = missions["plan"]
    _completed(services, mid)
    rows = results(services, mid)
    assert {"search_plan", "search_plan_kml"} <= set(rows)
    assert rows["search_plan"]["content_type"] == "application/geo+json"
    fc = json.loads(fetch(services, mid, "products/search_plan.geojson", tmp_path).read_text())
    particles = xr.load_dataset(fetch(services, mid, "raw/particles.nc", tmp_path))
    rects = [f for f in fc["features"] if f["properties"]["kind"] == "search_rectangle"]
    assert [f["properties"]["unit"] for f in rects] == ["Rescue 51", "MRB Kirkwall"]
    for f in rects:
        assert f["properties"]["poc"] == pytest.approx(_inside(particles, f).mean(), abs=1e-6)
    summary = json.loads(fetch(services, mid, "products/summary.json", tmp_path).read_text())
    assert summary["search_plan"]["cumulative_pos"] == fc["properties"]["cumulative_pos"] > 0.3
    for u in summary["search_plan"]["units"]:  # default forcing uncertainty: no saturated sliver
        assert u["coverage"] <= max_coverage(u["detection"]) * 1.03 and u["pod"] < 1, u["unit"]
        assert min(u["length_nm"], u["width_nm"]) >= u["sweep_width_nm"], u["unit"]
    assert summary["survival"]["expected_survival_hours"] == pytest.approx(
        (15 + 7.2 / (0.0785 - 0.0204)) / 60, abs=0.01
    )
    assert any("after the expected survival time" in w for w in summary["warnings"])
    png = Image.open(io.BytesIO(fetch(services, mid, "products/preview.png", tmp_path).read_bytes())).convert("RGB")
    assert (np.asarray(png) == PLAN_RGB[0]).all(axis=2).sum() > 200  # the first unit's rectangle is drawn


def test_flying_the_plan_as_searches_done_removes_exactly_the_pod(services, missions, shared_worker, tmp_path):
    """The plan's tracks reported back (one as GPX with its point times, one as a LineString with start time and
    speed): the weights in particles.nc are the along-track non-detection, recounted here by quadrature."""
    first = missions["plan"]
    _completed(services, first)
    summary = json.loads(fetch(services, first, "products/summary.json", tmp_path).read_text())["search_plan"]
    flown = [_gpx_search(summary["units"][0]), _line_search(summary["units"][1])]
    second = push_job(services, shared_worker.env["QUEUE_NAME"], {**BASE, "searches_done": flown})
    _completed(services, second)
    before = xr.load_dataset(fetch(services, first, "raw/particles.nc", tmp_path))
    after = xr.load_dataset(fetch(services, second, "raw/particles.nc", tmp_path))
    assert np.array_equal(before.lon.values, after.lon.values, equal_nan=True)  # same seed, same particles
    weight = after.weight.values
    expected = np.ones_like(weight)
    for u in summary["units"]:
        expected *= 1 - _recount(before, u)
    assert weight == pytest.approx(expected, abs=0.01)
    assert (weight < 0.999).sum() > 50
    done = json.loads(fetch(services, second, "products/summary.json", tmp_path).read_text())["searches_done"]
    assert done["cumulative_pos"] == pytest.approx(summary["cumulative_pos"], abs=2e-3)
    assert done["weight_left"] == pytest.approx(weight.sum() / weight.size, abs=1e-6)
    assert [r["form"] for r in done["searches"]] == ["track", "track"]
    fc = json.loads(fetch(services, second, "products/search_plan.geojson", tmp_path).read_text())
    assert [f["geometry"]["type"] for f in fc["features"]] == ["LineString", "LineString"]


def _gpx_search(unit: dict) -> dict:
    pts = "".join(f'<trkpt lat="{w["lat"]}" lon="{w["lon"]}"><time>{w["time"]}</time></trkpt>'
                  for w in unit["pattern"]["waypoints"])  # fmt: skip
    gpx = f'<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{pts}</trkseg></trk></gpx>'
    return {"gpx": gpx, "sweep_width_nm": unit["sweep_width_nm"], "track_spacing_nm": unit["track_spacing_nm"]}


def _line_search(unit: dict) -> dict:
    coords = [[w["lon"], w["lat"]] for w in unit["pattern"]["waypoints"]]
    return {"track": {"type": "LineString", "coordinates": coords}, "start_time": unit["commence_time"],
            "speed_kn": unit["speed_kn"], "sweep_width_nm": unit["sweep_width_nm"],
            "track_spacing_nm": unit["track_spacing_nm"]}  # fmt: skip


def _recount(particles: xr.Dataset, unit: dict) -> np.ndarray:
    """Along-track POD of every particle in particles.nc for a unit's waypoints (quadrature, tests/unit/search)."""
    from driftline.trajectory import ACTIVE, Trajectories

    lon, lat = particles.lon.values.astype(float), particles.lat.values.astype(float)
    state = np.where(np.isfinite(lon), ACTIVE, 2).astype(np.int8)
    n = lon.shape[0]
    traj = Trajectories(particles.time.values.astype("datetime64[s]"), lon, lat, state, np.zeros(n, np.int16),
                        np.ones(n, np.int16))  # fmt: skip
    wps = unit["pattern"]["waypoints"]
    plane = LocalPlane.at(wps[0]["lon"], wps[0]["lat"])
    x, y = plane.to_xy([w["lon"] for w in wps], [w["lat"] for w in wps])
    t = np.array([(np.datetime64(w["time"].rstrip("Z")) - traj.times[0]) / np.timedelta64(1, "s") for w in wps])
    kin = Kinematics.of(traj, plane)
    return recount_track(kin, np.column_stack([x, y]), t.astype(float), unit["sweep_width_nm"], unit["detection"],
                         unit["track_spacing_nm"])  # fmt: skip


@pytest.mark.parametrize("name", list(KOOPMAN))
def test_one_unit_plan_on_a_calm_circular_cloud_is_within_ten_percent_of_koopman(services, missions, tmp_path, name):
    mid = missions[name]
    _completed(services, mid)
    plan = json.loads(fetch(services, mid, "products/summary.json", tmp_path).read_text())["search_plan"]
    unit = plan["units"][0]
    bound = koopman_optimal_pos(unit["effort_nm2"], SIGMA_NM)
    exact = _exact_pos(unit)
    n = 4000
    print(f"{name}: Koopman {bound:.4f}, plan on particles {plan['cumulative_pos']:.4f}, exact {exact:.4f}")
    assert 0.9 * bound <= exact <= bound
    assert plan["cumulative_pos"] == pytest.approx(exact, abs=3 * math.sqrt(exact / n) + 0.01)


def _exact_pos(unit: dict) -> float:
    """POS of the unit's flown track on the exact normal distribution the particles were seeded from: its
    along-track POD (quadrature) on a fine grid of still points, weighted by the normal density."""
    g = np.linspace(-5 * SIGMA_NM, 5 * SIGMA_NM, 161)
    gx, gy = (a.ravel() for a in np.meshgrid(g, g))
    traj = trajectories(np.column_stack([gx, gx]), np.column_stack([gy, gy]), LON, LAT, step_s=3600)
    plane = LocalPlane.at(LON, LAT)
    wps = unit["pattern"]["waypoints"]
    x, y = plane.to_xy([w["lon"] for w in wps], [w["lat"] for w in wps])
    t = np.array([(np.datetime64(w["time"].rstrip("Z")) - np.datetime64("2024-01-01T00:00:00")) / np.timedelta64(1, "s")
                  for w in wps])  # fmt: skip
    pod = recount_track(Kinematics.of(traj, plane), np.column_stack([x, y]), t.astype(float), unit["sweep_width_nm"],
                        unit["detection"], unit["track_spacing_nm"])  # fmt: skip
    density = np.exp(-(gx**2 + gy**2) / (2 * SIGMA_NM**2)) / (2 * math.pi * SIGMA_NM**2)
    return float((density * pod).sum() * (g[1] - g[0]) ** 2)
