"""Forcing through the real daemon: catalog pick, fallback warning, forbidden URI, cache reuse."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pytest
import xarray as xr

from tests.conftest import RESULTS_BUCKET, push_job, wait_status
from tests.forcing_files import write_current
from tests.services import ROOT

START = datetime(2024, 3, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalogued(services, shared_worker, tmp_path_factory):
    """A uniform 0.5 m/s eastward current over 55-65N 0-10E, registered with `worker.py forcing add`."""
    conn = services.db()
    with conn.cursor() as cur:
        cur.execute("TRUNCATE forcing_datasets RESTART IDENTITY")
    path = write_current(tmp_path_factory.mktemp("forcing") / "east_current.nc", u=0.5, v=0.0, start=START, hours=12)
    out = subprocess.run(
        [sys.executable, "worker.py", "forcing", "add", str(path), "--name", "test east current"],
        cwd=ROOT,
        env=shared_worker.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    listing = subprocess.run(
        [sys.executable, "worker.py", "forcing", "list"],
        cwd=ROOT,
        env=shared_worker.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "test east current" in listing.stdout
    return "s3://driftline-forcing/east_current.nc"


def summary_of(services, mission_id: str) -> dict:
    body = services.s3().get_object(Bucket=RESULTS_BUCKET, Key=f"{mission_id}/products/summary.json")["Body"]
    return json.loads(body.read())


def job(lat: float, lon: float, **extra) -> dict:
    return {
        "latitude": lat,
        "longitude": lon,
        "start_time": START.isoformat(),
        "duration_hours": 6,
        "num_particles": 200,
        "radius_m": 0,
        "random_seed": 3,
        **extra,
    }


def test_catalogued_dataset_is_picked_and_drives_the_drift(services, shared_worker, catalogued, tmp_path):
    mid = push_job(services, shared_worker.env["QUEUE_NAME"], job(60.0, 3.0))
    assert wait_status(services, mid)["status"] == "completed"
    summary = summary_of(services, mid)
    sources = {s["quantity"]: s for s in summary["forcing"][0]["sources"]}
    assert sources["currents"]["kind"] == "dataset" and catalogued in json.dumps(sources["currents"])
    assert sources["wind"]["kind"] == "zero_fallback"
    assert summary["forcing"][0]["domain_fraction"][catalogued] == pytest.approx(1.0)
    services.s3().download_file(RESULTS_BUCKET, f"{mid}/raw/particles.nc", str(tmp_path / "p.nc"))
    ds = xr.open_dataset(tmp_path / "p.nc")
    east_m = float(np.nanmean(ds.lon[:, -1]) - 3.0) * 111_320 * np.cos(np.radians(60.0))
    assert east_m == pytest.approx(0.5 * 6 * 3600, rel=0.05)  # 10.8 km in 6 h
    assert float(np.nanmean(ds.lat[:, -1])) == pytest.approx(60.0, abs=0.005)
    assert catalogued in ds.attrs["driftline_forcing"]


def test_mission_outside_every_dataset_completes_with_the_fallback_as_a_warning(services, shared_worker, catalogued):
    mid = push_job(services, shared_worker.env["QUEUE_NAME"], job(40.0, -30.0, wind={"speed_ms": 5.0, "from_deg": 0.0}))
    assert wait_status(services, mid)["status"] == "completed"
    summary = summary_of(services, mid)
    text = " ".join(summary["warnings"])
    assert "no current dataset covers" in text and "current set to zero" in text
    assert "using on-scene wind 5 m/s" in text
    shared_worker.wait_log(f"Mission {mid} completed successfully with warnings: ", 10)


def test_forbidden_uri_fails_naming_it_before_anything_is_fetched(services, shared_worker):
    uri = "http://169.254.169.254/latest/meta-data/iam"
    mid = push_job(services, shared_worker.env["QUEUE_NAME"], job(60.0, 3.0, forcing=[uri]))
    row = wait_status(services, mid)
    assert row["status"] == "failed" and uri in row["error_message"] and "not allowed" in row["error_message"]
    log = shared_worker.log()
    assert not re.search(rf"Mission {mid} started in job process", log)  # refused by the supervisor, never run


def test_ten_missions_on_one_dataset_download_it_once(services, shared_worker, catalogued):
    q = shared_worker.env["QUEUE_NAME"]
    before = shared_worker.log().count("Downloaded forcing")
    ids = [push_job(services, q, job(58.0 + i * 0.2, 2.0, num_particles=50, forcing=[catalogued])) for i in range(10)]
    for mid in ids:
        assert wait_status(services, mid)["status"] == "completed"
    downloads = shared_worker.log().count("Downloaded forcing") - before
    assert downloads <= 1, f"{downloads} downloads for ten missions on one dataset"
