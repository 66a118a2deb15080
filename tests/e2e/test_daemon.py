"""End to end: the real daemon against real Redis, PostgreSQL and S3, one mission through to its whole product set."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta

import numpy as np
import pytest
import xarray as xr

from tests.conftest import (
    RESULTS_BUCKET,
    bucket_keys,
    mission,
    push_job,
    queue_keys,
    results,
    wait_status,
)
from tests.services import ROOT

PRODUCT_FILES = [
    "raw/particles.nc",
    "products/density.nc",
    "products/search_area.geojson",
    "products/search_area.kml",
    "products/shoreline.geojson",
    "products/animation.mp4",
    "products/sap.txt",
    "products/search_plan.gpx",
    "products/waypoints.csv",
    "products/probability.tif",
    "products/report.html",
    "products/preview.png",
    "products/summary.json",
]
KINDS = {"particles", "density", "search_area", "search_area_kml", "shoreline", "animation", "preview", "summary"}
KINDS |= {"sap", "search_plan_gpx", "waypoints", "probability_tif", "report"}  # tasking products


def queue_of(worker) -> str:
    return worker.env["QUEUE_NAME"]


def download(services, key: str, path):
    services.s3().download_file(RESULTS_BUCKET, key, str(path))
    return path


def test_example_job_from_test_worker_completes_with_all_products(services, shared_worker, tmp_path):
    env = dict(shared_worker.env)
    pushed = time.monotonic()
    out = subprocess.run(
        [sys.executable, str(ROOT / "test_worker.py"), "--wait", "--timeout", "180"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    elapsed = time.monotonic() - pushed
    assert out.returncode == 0, out.stdout + out.stderr
    mission_id = out.stdout.split("pushed mission ")[1].split()[0]
    row = mission(services, mission_id)
    assert row["status"] == "completed" and row["progress"] == pytest.approx(1.0)
    assert row["result_location"] == f"s3://{RESULTS_BUCKET}/{mission_id}/"
    assert row["attempts"] == 1 and row["worker_id"] == "shared-1"
    assert row["started_at"] is not None and row["completed_at"] >= row["started_at"]
    assert f"{mission_id}: completed -> s3://{RESULTS_BUCKET}/{mission_id}/" in out.stdout
    keys = bucket_keys(services, f"{mission_id}/")
    assert sorted(keys) == sorted(f"{mission_id}/{k}" for k in PRODUCT_FILES)
    rows = results(services, mission_id)
    assert set(rows) == KINDS
    for kind, r in rows.items():
        key = r["uri"].removeprefix(f"s3://{RESULTS_BUCKET}/")
        assert keys[key] == r["size_bytes"] and len(r["sha256"]) == 64, kind
    ds = xr.open_dataset(download(services, f"{mission_id}/raw/particles.nc", tmp_path / "p.nc"))
    assert ds.sizes["trajectory"] == 1000 and ds.sizes["time"] == 25
    assert ds.attrs["driftline_mission_id"] == mission_id
    summary = json.loads((download(services, f"{mission_id}/products/summary.json", tmp_path / "s.json")).read_text())
    assert summary["mission_id"] == mission_id and summary["counts"]["active"] + summary["counts"]["stranded"] == 1000
    assert {p["kind"] for p in summary["products"]} == KINDS - {"summary"}
    print(f"example job: push to completed in {elapsed:.1f} s (including test_worker.py start-up)")


def test_bad_field_fails_with_named_field_and_next_job_completes(services, shared_worker):
    q = queue_of(shared_worker)
    bad = push_job(services, q, {"latitude": 123.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z"})
    good = push_job(
        services,
        q,
        {
            "latitude": 60.0,
            "longitude": 4.0,
            "start_time": "2024-01-01T00:00:00Z",
            "duration_hours": 2,
            "num_particles": 50,
        },
    )
    row = wait_status(services, bad)
    assert row["status"] == "failed" and "latitude" in row["error_message"]
    assert "\n" not in row["error_message"] and "Traceback" not in row["error_message"]
    assert wait_status(services, good)["status"] == "completed"
    dead = [json.loads(x) for x in services.redis().lrange(f"{q}:dead", 0, -1)]
    assert any(d["mission_id"] == bad and d["reason"] == "invalid_job" and d["attempts"] == 1 for d in dead)


def test_mission_row_is_created_when_the_producer_did_not_insert_it(services, shared_worker):
    q = queue_of(shared_worker)
    mid = push_job(
        services,
        q,
        {
            "latitude": 60.0,
            "longitude": 4.0,
            "start_time": "2024-01-01T00:00:00Z",
            "duration_hours": 1,
            "num_particles": 10,
        },
    )
    assert mission(services, mid) is None or mission(services, mid)["status"] != "completed"
    row = wait_status(services, mid)
    assert row["status"] == "completed" and row["params"]["num_particles"] == 10


def test_duplicate_delivery_of_a_completed_mission_is_acknowledged_not_rerun(services, shared_worker):
    q = queue_of(shared_worker)
    params = {
        "latitude": 60.0,
        "longitude": 4.0,
        "start_time": "2024-01-01T00:00:00Z",
        "duration_hours": 1,
        "num_particles": 10,
    }
    mid = push_job(services, q, params)
    first = wait_status(services, mid)
    push_job(services, q, params, mission_id=mid)
    shared_worker.wait_log(f"Mission {mid} is already completed: duplicate delivery acknowledged", 30)
    again = mission(services, mid)
    assert again["attempts"] == first["attempts"] == 1 and again["completed_at"] == first["completed_at"]
    deadline = time.monotonic() + 10  # the first copy's ack follows its completion write closely
    while queue_keys(services, q).get(f"{q}:processing:shared-1", 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue_keys(services, q).get(f"{q}:processing:shared-1", 0) == 0


def test_same_params_and_seed_give_byte_identical_trajectory_file(services, shared_worker, tmp_path):
    """A re-run of the same mission gives the same bytes; `worker.py run` (same pipeline) the same trajectories."""
    q = queue_of(shared_worker)
    params = {
        "latitude": 60.0,
        "longitude": 4.0,
        "start_time": "2024-01-01T00:00:00Z",
        "duration_hours": 3,
        "num_particles": 200,
        "random_seed": 1234,
        "wind": {"speed_ms": 7, "from_deg": 200},
    }
    mid = push_job(services, q, params)
    assert wait_status(services, mid)["status"] == "completed"
    first = download(services, f"{mid}/raw/particles.nc", tmp_path / "first.nc").read_bytes()
    conn = services.db()
    with conn.cursor() as cur:  # `completed` is final (the status guard): a re-run starts from a fresh row
        cur.execute("DELETE FROM missions WHERE id = %s", (mid,))
    push_job(services, q, params, mission_id=mid)
    assert wait_status(services, mid, ("completed",))["attempts"] == 1
    assert download(services, f"{mid}/raw/particles.nc", tmp_path / "second.nc").read_bytes() == first

    local = subprocess.run(
        [
            sys.executable,
            str(ROOT / "worker.py"),
            "run",
            "--latitude",
            "60",
            "--longitude",
            "4",
            "--mission-id",
            mid,
            "--params",
            json.dumps(params),
            "--out",
            str(tmp_path / "local"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert local.returncode == 0, local.stderr[-2000:]
    local_dir = tmp_path / "local" / mid
    a, b = xr.open_dataset(tmp_path / "first.nc"), xr.open_dataset(local_dir / "raw" / "particles.nc")
    for name in ("lon", "lat", "status"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
    expected = {k.split("/", 1)[1] for k in bucket_keys(services, f"{mid}/")}
    assert {str(p.relative_to(local_dir)) for p in local_dir.rglob("*") if p.is_file()} == expected


def test_drift_matches_opendrift_run_directly_and_conventions_are_right(services, shared_worker, tmp_path):
    """Constant westerly wind, current towards north: the daemon's mean drift equals plain OpenDrift's."""
    q = queue_of(shared_worker)
    params = {
        "latitude": 60.0,
        "longitude": 4.0,
        "start_time": "2024-01-01T00:00:00Z",
        "duration_hours": 6,
        "num_particles": 500,
        "random_seed": 99,
        "object_type": "PIW-1",
        "wind": {"speed_ms": 10, "from_deg": 270},
        "current": {"speed_ms": 0.2, "to_deg": 0},
        "current_uncertainty_ms": 0,  # plain OpenDrift takes the forcing as exact
        "wind_uncertainty_ms": 0,
    }
    mid = push_job(services, q, params)
    assert wait_status(services, mid)["status"] == "completed"
    ds = xr.open_dataset(download(services, f"{mid}/raw/particles.nc", tmp_path / "p.nc"))
    ours = float(ds.lon[:, -1].mean()), float(ds.lat[:, -1].mean())

    from opendrift.models.leeway import Leeway

    o = Leeway(loglevel=50, seed=99)
    for var, value in {"x_wind": 10.0, "y_wind": 0.0, "x_sea_water_velocity": 0.0, "y_sea_water_velocity": 0.2}.items():
        o.set_config(f"environment:fallback:{var}", value)
    o.seed_elements(lon=4.0, lat=60.0, radius=1000, number=500, time=datetime(2024, 1, 1), object_type=1)
    o.run(duration=timedelta(hours=6), time_step=600, time_step_output=3600)
    direct = float(np.nanmean(o.result.lon[:, -1])), float(np.nanmean(o.result.lat[:, -1]))
    assert ours == pytest.approx(direct, abs=1e-4)  # ~10 m
    # Westerly wind pushes a person in the water east; a current towards 0° carries it north.
    assert ours[0] > 4.0 + 0.01 and ours[1] > 60.0 + 0.03


def scrape(port: str) -> dict[str, float]:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_metrics_endpoint_counts_jobs(services, shared_worker):
    port = shared_worker.env["METRICS_PORT"]
    before = scrape(port)
    assert before["drift_worker_up"] == 1
    mid = push_job(
        services,
        queue_of(shared_worker),
        {
            "latitude": 60.0,
            "longitude": 4.0,
            "duration_hours": 2,
            "start_time": "2024-01-01T00:00:00Z",
            "num_particles": 20,
        },
    )
    assert wait_status(services, mid)["status"] == "completed"
    time.sleep(1.5)
    after = scrape(port)
    assert after["drift_jobs_completed_total"] == before.get("drift_jobs_completed_total", 0) + 1
    assert after["drift_jobs_received_total"] >= before.get("drift_jobs_received_total", 0) + 1
    assert after['drift_job_duration_seconds_count{stage="simulate"}'] >= 1
    assert "drift_queue_length" in after and "drift_jobs_in_progress" in after


def test_health_command_ok_with_running_worker_and_fails_without_redis(shared_worker):
    env = dict(shared_worker.env)
    ok = subprocess.run(
        [sys.executable, "worker.py", "health"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0 and ok.stdout.strip() == "ok", ok.stdout + ok.stderr
    from tests.services import free_port

    env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there: Redis stopped
    bad = subprocess.run(
        [sys.executable, "worker.py", "health"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1 and "Redis unreachable" in bad.stdout and len(bad.stdout.strip().splitlines()) == 1
    env = dict(shared_worker.env, WORKER_ID="no-such-worker")
    gone = subprocess.run(
        [sys.executable, "worker.py", "health", "--liveness"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gone.returncode == 1 and "no heartbeat" in gone.stdout


def test_products_open_with_their_readers_and_agree_with_particles(services, shared_worker, tmp_path):
    import imageio_ffmpeg
    from PIL import Image
    from shapely import contains_xy
    from shapely.geometry import shape

    params = {
        "latitude": 60.0,
        "longitude": 3.0,
        "start_time": "2024-01-01T00:00:00Z",
        "duration_hours": 12,
        "num_particles": 2000,
        "random_seed": 5,
        "wind": {"speed_ms": 9, "from_deg": 300},
        "current": {"speed_ms": 0.25, "to_deg": 160},
        "search_area_interval_hours": 4,
    }
    mid = push_job(services, queue_of(shared_worker), params)
    assert wait_status(services, mid)["status"] == "completed"
    get = lambda key: download(services, f"{mid}/{key}", tmp_path / key.replace("/", "_"))  # noqa: E731
    particles = xr.open_dataset(get("raw/particles.nc"))
    density = xr.open_dataset(get("products/density.nc"))
    assert density.attrs["Conventions"].startswith("CF-1.8") and density.attrs["mission_id"] == mid
    assert density["probability"].dims == ("time", "lat", "lon")
    assert density.sizes["time"] == particles.sizes["time"] == 13
    sums = density["probability"].sum(dim=("lat", "lon")).values
    shares = [density[f"share_{k}"].values for k in ("floating", "stranded", "out_of_domain", "not_released")]
    np.testing.assert_allclose(sum(shares), 1.0, atol=1e-9)
    np.testing.assert_allclose(sums, shares[0] + shares[1], atol=1e-5)
    final = density["probability"].isel(time=-1)
    lat_c = float((final.sum("lon") * density.lat).sum())
    lon_c = float((final.sum("lat") * density.lon).sum())
    cell_lat = float(abs(density.lat[1] - density.lat[0]))
    cell_lon = float(abs(density.lon[1] - density.lon[0]))
    lon_f, lat_f = particles.lon[:, -1].values, particles.lat[:, -1].values
    assert abs(lat_c - np.nanmean(lat_f)) <= cell_lat and abs(lon_c - np.nanmean(lon_f)) <= cell_lon

    fc = json.loads(get("products/search_area.geojson").read_text())
    kinds = [f["properties"].get("kind") for f in fc["features"]]
    assert "last_known_position" in kinds and fc["features"][0]["geometry"]["type"] == "Point"
    areas = [f for f in fc["features"] if f["properties"].get("kind") == "search_area"]
    assert {f["properties"]["probability"] for f in areas} == {0.5, 0.9, 0.95}
    last_time = max(f["properties"]["time"] for f in areas)
    ninety = next(f for f in areas if f["properties"]["probability"] == 0.9 and f["properties"]["time"] == last_time)
    ok = np.isfinite(lon_f) & (particles.status[:, -1].values == 0)  # the areas hold the floating particles
    inside = contains_xy(shape(ninety["geometry"]), lon_f[ok], lat_f[ok]).mean()
    assert 0.85 <= inside <= 0.95, inside
    assert ninety["properties"]["area_km2"] > 0
    kml = get("products/search_area.kml").read_text()
    shore = json.loads(get("products/shoreline.geojson").read_text())
    assert kml.count("<Placemark") == len(fc["features"]) + len(shore["features"])
    assert sum(f["properties"]["probability"] for f in shore["features"]) == pytest.approx(shares[1][-1], abs=1e-5)

    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(get("products/animation.mp4")))
    assert frames == particles.sizes["time"]
    with Image.open(get("products/preview.png")) as img:
        assert img.format == "PNG" and img.size[0] >= 800
    summary = json.loads(get("products/summary.json").read_text())
    assert summary["random_seed"] == 5 and summary["object_types"][0]["key"] == "PIW-1"
    assert [a["time"] for a in summary["search_areas"]][-1] == last_time
