"""ShipDrift, OceanDrift and drifter-corrected currents: identical to plain OpenDrift, every scenario
that makes sense, drifter tracks acting near themselves only, and one mission per kind through the daemon.

In-process runs use constant forcing in the open sea north-west of Orkney, as tests/integration/test_scenarios.py does.
"""

from __future__ import annotations

import inspect
import json
import time
from datetime import datetime, timedelta

import numpy as np
import pytest

from driftline.contract.drift_model import SHIP_LIMITS_M, SHIP_OPENDRIFT_NAMES
from driftline.forcing.drifter_currents import RADIUS_OF_INFLUENCE_M, add_drifter_currents
from driftline.models import SHIP_BEAM_TO_LENGTH, SHIP_DRAFT_TO_LENGTH
from driftline.simulation import simulate
from tests.conftest import push_job, results, wait_status
from tests.integration.test_scenarios import (
    ENSEMBLE,
    KINDS,
    LAT,
    LON,
    SEA_BOX,
    TRACK,
    east_north_km,
    fetch,
    params,
    plans_for,
)

SHIP = {"length_m": 120, "beam_m": 20, "height_m": 25, "draft_m": 6}
WIND = {"speed_ms": 10, "from_deg": 270}
NORTH = {"speed_ms": 0.2, "to_deg": 0}
MODELS = {
    "shipdrift": dict(model="shipdrift", ship=SHIP),
    "oceandrift": dict(model="oceandrift", wind_drift_factor=0.03, horizontal_diffusivity_m2s=10),
}
# The same jobs go through the daemon (pushed first) and are compared with plain OpenDrift there too.
COMMON = dict(latitude=LAT, longitude=LON, start_time="2024-01-01T00:00:00Z", duration_hours=3, num_particles=100,
              random_seed=11, time_step_minutes=30, output_step_minutes=60, wind=WIND, current=NORTH,
              current_uncertainty_ms=0, wind_uncertainty_ms=0)  # fmt: skip


def drifter_track(lat: float = LAT, lon: float = LON, speed_ms: float = 0.4, hours: float = 6) -> dict:
    """A drifter moving east at speed_ms from (lat, lon), a fix every 30 min from 2024-01-01 00:00."""
    fixes = []
    for i in range(int(hours * 2) + 1):
        east_m = speed_ms * i * 1800
        fixes.append({
            "time": f"2024-01-01T{i // 2:02d}:{30 * (i % 2):02d}:00Z",
            "lat": lat,
            "lon": lon + np.degrees(east_m / (6_371_000 * np.cos(np.radians(lat)))),
        })  # fmt: skip
    return {"id": "SLDMB-1", "positions": fixes}


# WIND (from 270°) blows east at 10 m/s; NORTH flows north at 0.2 m/s.
FALLBACKS = {"x_wind": 10.0, "y_wind": 0.0, "x_sea_water_velocity": 0.0, "y_sea_water_velocity": 0.2}
DAEMON_JOBS = {
    "shipdrift": {**COMMON, **MODELS["shipdrift"]},
    "oceandrift": {**COMMON, **MODELS["oceandrift"]},
    "drifters": {
        **COMMON,
        "object_type": "SLDMB",
        "current": {"speed_ms": 0, "to_deg": 0},
        "wind": None,
        "drifters": [drifter_track(hours=3)],
    },  # fmt: skip
}


@pytest.fixture(scope="module")
def model_missions(services, shared_worker) -> dict[str, str]:
    queue = shared_worker.env["QUEUE_NAME"]
    return {name: push_job(services, queue, body) for name, body in DAEMON_JOBS.items()}


def plain_opendrift(body: dict) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of plain OpenDrift with the job's model, inputs and seed: what the worker must reproduce."""
    from opendrift.models.oceandrift import OceanDrift
    from opendrift.models.shipdrift import ShipDrift

    cls = ShipDrift if body["model"] == "shipdrift" else OceanDrift
    o = cls(loglevel=50, seed=body["random_seed"])
    for var, value in FALLBACKS.items():
        o.set_config(f"environment:fallback:{var}", value)
    o.set_config("general:coastline_action", "stranding")
    if body["model"] == "shipdrift":
        props = {"length": 120, "beam": 20, "height": 25, "draft": 6}
    else:
        o.set_config("environment:fallback:horizontal_diffusivity", 10)
        props = {"wind_drift_factor": 0.03}
    o.seed_elements(lon=LON, lat=LAT, radius=1000, number=body["num_particles"], time=datetime(2024, 1, 1), **props)
    o.run(duration=timedelta(hours=body["duration_hours"]), time_step=1800, time_step_output=3600)
    return o.result.lon.values, o.result.lat.values


def ours(body: dict):
    p = params(**body)
    plans = plans_for(p)
    for plan in plans:
        add_drifter_currents(plan, p.drifters)
    return simulate(p, plans)


@pytest.mark.parametrize("model", MODELS)
def test_model_gives_plain_opendrifts_trajectories(model_missions, model):
    body = DAEMON_JOBS[model]
    lon, lat = plain_opendrift(body)
    r = ours(body).trajectories
    np.testing.assert_allclose(r.lon, lon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(r.lat, lat, rtol=0, atol=1e-9)
    x, y = east_north_km(r.lon[:, -1], r.lat[:, -1])
    print(f"{model}: mean drift {np.mean(x):.2f} km east, {np.mean(y):.2f} km north in 3 h; "
          f"max |ours - plain OpenDrift| {max(np.abs(r.lon - lon).max(), np.abs(r.lat - lat).max()):.1e}°")  # fmt: skip


def test_ship_limits_are_opendrifts():
    from opendrift.models.shipdrift import ShipDrift, ShipObject

    for key, (low, high) in SHIP_LIMITS_M.items():
        spec = ShipObject.variables[SHIP_OPENDRIFT_NAMES[key]]
        assert (spec["min"], spec["max"]) == (low, high), key
    source = inspect.getsource(ShipDrift.seed_elements)
    assert "dl.min() < {} or dl.max() > {}".format(*SHIP_DRAFT_TO_LENGTH) in source
    assert "bl.min() < {} or bl.max() > {}".format(*SHIP_BEAM_TO_LENGTH) in source


SCENARIOS = {
    "release window": dict(release_end_time="2024-01-01T01:30:00Z"),
    "track": dict(**TRACK, end_time="2024-01-01T01:00:00Z"),
    "area": dict(area=SEA_BOX),
    "backward": dict(direction="backward"),
    "ensemble": dict(ensemble=ENSEMBLE, wind=None, current=None),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("model", MODELS)
def test_every_scenario_runs_with_the_model(model, scenario):
    body = {**COMMON, **MODELS[model], "num_particles": 40, **SCENARIOS[scenario]}
    r = ours(body)
    t = r.trajectories
    assert t.num_particles == 40 and t.counts(-1)["active"] == 40, t.counts(-1)
    backward = scenario == "backward"
    assert (t.times[-1] < t.times[0]) == backward
    x, _ = east_north_km(np.nanmean(t.lon[:, -1]), np.nanmean(t.lat[:, -1]))
    if scenario != "ensemble":  # westerly wind: ships and windage-driven objects go east (west when backtracked)
        assert (x < -0.5) if backward else (x > 0.5), x
    else:
        assert len(r.members) == 2


# --- drifters ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_current", [{"speed_ms": 0, "to_deg": 0}, NORTH], ids=["current 0", "current north"])
def test_drifter_track_moves_particles_near_it_and_leaves_the_far_ones_to_the_model(model_current):
    """A drifter going east at 0.4 m/s for 6 h; OceanDrift without windage, model current 0 or 0.2 m/s north."""
    body = dict(COMMON, model="oceandrift", wind_drift_factor=0, wind=None, current=model_current,
                duration_hours=6, num_particles=100, radius_m=500, drifters=[drifter_track()])  # fmt: skip
    far_lat = LAT + 3 * RADIUS_OF_INFLUENCE_M / 111_195  # 30 km north of the track
    for name, lat0 in (("near", LAT), ("far", far_lat)):
        t = ours({**body, "latitude": lat0}).trajectories
        x, y = east_north_km(t.lon[:, -1], t.lat[:, -1], LON, LAT)
        x0, y0 = east_north_km(t.lon[:, 0], t.lat[:, 0], LON, LAT)
        east_ms, north_ms = np.mean(x - x0) * 1000 / 6 / 3600, np.mean(y - y0) * 1000 / 6 / 3600
        print(f"drifter 0.4 m/s east, model current {model_current['speed_ms']:g} m/s north, {name}: "
              f"particles {east_ms:.3f} m/s east, {north_ms:.3f} m/s north")  # fmt: skip
        if name == "near":
            assert east_ms == pytest.approx(0.4, rel=0.02) and abs(north_ms) < 0.005
        else:
            assert abs(east_ms) < 0.005 and north_ms == pytest.approx(model_current["speed_ms"], abs=0.005)


# --- through the daemon ---------------------------------------------------------------------------------------------
def test_daemon_runs_shipdrift_oceandrift_and_drifter_missions_with_all_products(services, model_missions, tmp_path):
    started = time.monotonic()
    rows = {name: wait_status(services, mid, timeout_s=300) for name, mid in model_missions.items()}
    print(f"daemon: model missions finished {time.monotonic() - started:.1f} s after the in-process tests")
    titles = {
        "shipdrift": "Ship 120 m × 20 m adrift - drift forecast",
        "oceandrift": "Water-following object - drift forecast",
        "drifters": "Drifter-corrected forecast",
    }
    for name, mid in model_missions.items():
        assert rows[name]["status"] == "completed", rows[name]["error_message"]
        assert set(results(services, mid)) == KINDS
        summary = fetch(services, mid, "summary.json", tmp_path)
        particles = fetch(services, mid, "particles.nc", tmp_path)
        density = fetch(services, mid, "density.nc", tmp_path)
        model = DAEMON_JOBS[name].get("model", "leeway")
        assert summary["title"] == titles[name] and summary["model"]["name"] == model
        assert particles.attrs["driftline_model"] == model == density.attrs["driftline_model"]
        assert json.loads(json.dumps(summary["params"]))["model"] == model
        if name in MODELS:
            lon, lat = plain_opendrift(DAEMON_JOBS[name])
            np.testing.assert_allclose(particles.lon.values, lon, rtol=0, atol=1e-5)  # float32 in the file
            np.testing.assert_allclose(particles.lat.values, lat, rtol=0, atol=1e-5)
    summary = fetch(services, model_missions["drifters"], "summary.json", tmp_path)
    source = summary["forcing"][0]["sources"][0]
    assert source["kind"] == "drifters" and source["drifters"][0]["id"] == "SLDMB-1"
    assert source["radius_of_influence_m"] == RADIUS_OF_INFLUENCE_M
    x, _ = east_north_km(summary["search_areas"][-1]["centre"]["lon"], LAT)
    assert x == pytest.approx(0.4 * 3 * 3.6, rel=0.05)  # with the drifter, not the zero model current
    shipdrift = fetch(services, model_missions["shipdrift"], "summary.json", tmp_path)
    assert shipdrift["model"]["ship"] == {k: float(v) for k, v in SHIP.items()}
