"""Issue 23 through the daemon: a common ship outside ShipDrift's table, weighted scenarios and forcing uncertainty.

All jobs are pushed by the first fixture so the daemon works while the in-process checks run; each test then
waits for its missions and checks the stored products.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from tests.conftest import push_job, results, wait_status
from tests.test_scenarios import KINDS, LAT, LON, east_north_km, fetch

SHIP_80 = {"length_m": 80, "beam_m": 12, "height_m": 20, "draft_m": 6}  # draft/length 0.075 > ShipDrift's 0.07
WIND = {"speed_ms": 10, "from_deg": 270}
NORTH = {"speed_ms": 0.2, "to_deg": 0}
COMMON = dict(latitude=LAT, longitude=LON, start_time="2024-01-01T00:00:00Z", duration_hours=3, num_particles=100,
              random_seed=11, time_step_minutes=30, output_step_minutes=60, wind=WIND, current=NORTH,
              current_uncertainty_ms=0, wind_uncertainty_ms=0)  # fmt: skip
JOBS = {"ship 80 m": {**COMMON, "model": "shipdrift", "ship": SHIP_80}}


@pytest.fixture(scope="module")
def missions(services, shared_worker) -> dict[str, str]:
    queue = shared_worker.env["QUEUE_NAME"]
    return {name: push_job(services, queue, body) for name, body in JOBS.items()}


def completed(services, mid: str, tmp_path) -> dict:
    row = wait_status(services, mid, timeout_s=300)
    assert row["status"] == "completed", row["error_message"]
    assert set(results(services, mid)) == KINDS
    return fetch(services, mid, "summary.json", tmp_path)


def plain_shipdrift(body: dict) -> tuple[np.ndarray, np.ndarray]:
    """Plain OpenDrift ShipDrift with the job's ship, forcing and seed (it clips draft/length itself)."""
    from opendrift.models.shipdrift import ShipDrift

    o = ShipDrift(loglevel=50, seed=body["random_seed"])
    fallbacks = {"x_wind": 10.0, "y_wind": 0.0, "x_sea_water_velocity": 0.0, "y_sea_water_velocity": 0.2}
    for var, value in fallbacks.items():
        o.set_config(f"environment:fallback:{var}", value)
    o.set_config("general:coastline_action", "stranding")
    ship = body["ship"]
    props = {"length": ship["length_m"], "beam": ship["beam_m"], "height": ship["height_m"], "draft": ship["draft_m"]}
    o.seed_elements(lon=LON, lat=LAT, radius=1000, number=body["num_particles"], time=datetime(2024, 1, 1), **props)
    o.run(duration=timedelta(hours=body["duration_hours"]), time_step=1800, time_step_output=3600)
    return o.result.lon.values, o.result.lat.values


def test_an_80_m_ship_with_6_m_draft_runs_clipped_like_opendrift(services, missions, tmp_path):
    mid = missions["ship 80 m"]
    summary = completed(services, mid, tmp_path)
    assert any("draft_m / length_m is 0.075" in w and "border value 0.07" in w for w in summary["warnings"])
    particles = fetch(services, mid, "particles.nc", tmp_path)
    lon, lat = plain_shipdrift(JOBS["ship 80 m"])
    np.testing.assert_allclose(particles.lon.values, lon, rtol=0, atol=1e-5)  # float32 in the file
    np.testing.assert_allclose(particles.lat.values, lat, rtol=0, atol=1e-5)
    x, y = east_north_km(lon[:, -1], lat[:, -1])
    ox, oy = east_north_km(particles.lon.values[:, -1], particles.lat.values[:, -1])
    print(
        f"80 m x 6 m ship, 3 h, wind 10 m/s from W, current 0.2 m/s N: plain OpenDrift centre {np.mean(x):.3f} km E "
        f"{np.mean(y):.3f} km N, worker {np.mean(ox):.3f} km E {np.mean(oy):.3f} km N, max |diff| "
        f"{max(np.abs(particles.lon.values - lon).max(), np.abs(particles.lat.values - lat).max()):.1e} deg"
    )
