"""Ships, weighted scenarios and forcing uncertainty through the daemon: a common ship outside ShipDrift's table.

All jobs are pushed by the first fixture so the daemon works while the in-process checks run; each test then
waits for its missions and checks the stored products.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from tests.conftest import push_job, results, wait_status
from tests.integration.test_scenarios import KINDS, LAT, LON, east_north_km, fetch

SHIP_80 = {"length_m": 80, "beam_m": 12, "height_m": 20, "draft_m": 6}  # draft/length 0.075 > ShipDrift's 0.07
WIND = {"speed_ms": 10, "from_deg": 270}
NORTH = {"speed_ms": 0.2, "to_deg": 0}
COMMON = dict(latitude=LAT, longitude=LON, start_time="2024-01-01T00:00:00Z", duration_hours=3, num_particles=100,
              random_seed=11, time_step_minutes=30, output_step_minutes=60, wind=WIND, current=NORTH,
              current_uncertainty_ms=0, wind_uncertainty_ms=0)  # fmt: skip
# Two hypotheses 20 km apart (0.7 / 0.3); a fruitless search (POD 0.6) over all of B and none of A.
B_LON = LON + 20 / (111.195 * np.cos(np.radians(LAT)))
SCENARIOS = [
    {"name": "went over at the LKP", "weight": 0.7, "latitude": LAT, "longitude": LON},
    {"name": "further along the route", "weight": 0.3, "latitude": LAT, "longitude": B_LON,
     "object_type": "LIFE-RAFT-NB-1", "release_end_time": "2024-01-01T01:00:00Z"},
]  # fmt: skip
SEARCH_B = {
    "area": {"type": "Polygon", "coordinates": [[[B_LON - 0.12, LAT - 0.08], [B_LON + 0.2, LAT - 0.08],
             [B_LON + 0.2, LAT + 0.12], [B_LON - 0.12, LAT + 0.12], [B_LON - 0.12, LAT - 0.08]]]},
    "start_time": "2024-01-01T02:00:00Z", "end_time": "2024-01-01T03:00:00Z", "pod": 0.6,
}  # fmt: skip
TWO = {**COMMON, "duration_hours": 4, "num_particles": 1000, "wind": {"speed_ms": 6, "from_deg": 270},
       "current": {"speed_ms": 0.1, "to_deg": 0}, "scenarios": SCENARIOS}  # fmt: skip
JOBS = {
    "ship 80 m": {**COMMON, "model": "shipdrift", "ship": SHIP_80},
    "two scenarios": TWO,
    "two scenarios searched": {**TWO, "searches_done": [SEARCH_B]},
}


@pytest.fixture(scope="module")
def missions(services, shared_worker) -> dict[str, str]:
    queue = shared_worker.env["QUEUE_NAME"]
    return {name: push_job(services, queue, body) for name, body in JOBS.items()}


def completed(services, mid: str, tmp_path, extra: set = frozenset()) -> dict:
    row = wait_status(services, mid, timeout_s=300)
    assert row["status"] == "completed", row["error_message"]
    assert set(results(services, mid)) == KINDS | extra
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


def mass_near(density, lat: float, lon: float, radius_km: float = 10.0) -> float:
    """Probability at the final time in the cells whose centre is within radius_km of (lat, lon)."""
    p = density.probability.values[-1]
    glat, glon = np.meshgrid(density.lat.values, density.lon.values, indexing="ij")
    x, y = east_north_km(glon, glat, lon, lat)
    return float(np.nansum(np.where(np.hypot(x, y) <= radius_km, p, 0.0)))


def test_two_weighted_scenarios_keep_their_weights_in_every_product(services, missions, tmp_path):
    mid = missions["two scenarios"]
    summary = completed(services, mid, tmp_path)
    density = fetch(services, mid, "density.nc", tmp_path)
    rows = summary["scenarios"]
    assert [r["name"] for r in rows] == [s["name"] for s in SCENARIOS]
    assert [r["weight"] for r in rows] == [0.7, 0.3] and [r["particles"] for r in rows] == [700, 300]
    masses = []
    for row, expected in zip(rows, (0.7, 0.3), strict=True):
        mass = mass_near(density, row["centre"]["lat"], row["centre"]["lon"])
        masses.append(mass)
        assert mass == pytest.approx(expected, abs=0.02), (row["name"], mass)
        assert row["area_90_km2"] > 0 and row["share_present"] == pytest.approx(expected, abs=1e-6)
    assert list(density.scenario_name.values) == [s["name"] for s in SCENARIOS]
    np.testing.assert_allclose(density.scenario_weight.values, [0.7, 0.3])
    np.testing.assert_allclose(density.scenario_area_90_km2.values[:, -1], [r["area_90_km2"] for r in rows], rtol=1e-6)
    particles = fetch(services, mid, "particles.nc", tmp_path)
    assert np.bincount(particles.scenario.values).tolist() == [700, 300]
    fc = fetch(services, mid, "search_area.geojson", tmp_path)
    area_times = sorted({f["properties"]["time"] for f in fc["features"] if f["properties"]["kind"] == "search_area"})
    kinds = [(f["properties"]["kind"], f["properties"].get("time")) for f in fc["features"]]
    for t in area_times:  # each scenario's 90 % area and centre at every search-area time, not only the final one
        assert kinds.count(("scenario_area", t)) == 2 and kinds.count(("scenario_centre", t)) == 2, t
    kml = tmp_path / "k.kml"
    services.s3().download_file("driftline-results", f"{mid}/products/search_area.kml", str(kml))
    text = kml.read_text()
    assert text.count("<name>Scenario further along the route: 90 % area") == len(area_times)
    assert text.count("<name>Scenario further along the route: centre") == len(area_times)
    print(
        f"two scenarios 20 km apart: mass within 10 km of each centre {masses[0]:.4f} / {masses[1]:.4f} "
        f"(weights 0.7 / 0.3); 90 % areas {rows[0]['area_90_km2']:.1f} / {rows[1]['area_90_km2']:.1f} km²"
    )


def test_a_fruitless_search_over_one_scenario_gives_the_hand_calculated_posterior(services, missions, tmp_path):
    mid = missions["two scenarios searched"]
    summary = completed(services, mid, tmp_path, {"search_plan", "search_plan_kml"})
    particles = fetch(services, mid, "particles.nc", tmp_path)
    scenario = particles.scenario.values
    # the hand calculation's premise, read off the stored particles: at 02:00 and 03:00 (the search spans 02-03,
    # its mid time 02:30 between) all of B is inside the area and none of A
    import shapely
    from shapely.geometry import shape

    area = shape(SEARCH_B["area"])
    times = particles.time.values.astype("datetime64[s]").astype(str).tolist()
    for t in ("2024-01-01T02:00:00", "2024-01-01T03:00:00"):
        i = times.index(t)
        inside = shapely.contains_xy(area, particles.lon.values[:, i], particles.lat.values[:, i])
        assert inside[scenario == 1].all() and not inside[scenario == 0].any()
    pod = SEARCH_B["pod"]
    hand_b = 0.3 * (1 - pod) / (0.7 * 1 + 0.3 * (1 - pod))
    posterior = [r["posterior_weight"] for r in summary["scenarios"]]
    assert posterior == pytest.approx([1 - hand_b, hand_b], abs=1e-6)
    print(
        f"after a fruitless search (POD {pod}) over scenario B: posterior {posterior[0]:.6f} / {posterior[1]:.6f}, "
        f"hand calculation 0.7 / (0.7 + 0.3 x 0.4) = {1 - hand_b:.6f}, 0.12 / 0.82 = {hand_b:.6f}"
    )
