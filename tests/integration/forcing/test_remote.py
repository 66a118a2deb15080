"""Remote forcing against real servers: pydap's OPeNDAP server, Zarr in moto S3, PostgreSQL.

Nothing here contacts a public endpoint: every server is started by the tests on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from config import Settings
from driftline import forcing
from driftline.contract.parse import parse_job
from driftline.errors import ForcingError, ForcingSourceUnavailable
from driftline.forcing import remote
from driftline.forcing.netguard import HostRefused
from driftline.objects import ensure_buckets, make_s3_client
from tests.dap_server import DapServer, RawServer
from tests.services import ROOT

START = datetime(2024, 3, 1, 0, tzinfo=UTC)
HOURS = 6
LAT, LON = 60.0, 5.0
SECRET = "s3cr3t-" + uuid.uuid4().hex[:8]


def write_model(path: Path, lon=(0.0, 20.0), lat=(50.0, 70.0), step=0.2, hours=12, land_north_of=None) -> Path:
    """A current varying in space and time plus a rotating wind on one lat/lon grid (CF, float32)."""
    times = np.array([START.replace(tzinfo=None) + timedelta(hours=h) for h in range(hours + 1)], "datetime64[ns]")
    lons, lats = np.arange(lon[0], lon[1] + step / 2, step), np.arange(lat[0], lat[1] + step / 2, step)
    t, la, lo = np.meshgrid(np.arange(len(times)), lats, lons, indexing="ij")
    u = (0.3 + 0.02 * (lo - 5) + 0.01 * t).astype("f4")
    v = (0.1 * np.sin(np.radians(la * 20)) - 0.005 * t).astype("f4")
    if land_north_of is not None:  # an ocean model's land: currents only, NaN on land
        u[la > land_north_of] = np.nan
        v[la > land_north_of] = np.nan
    angle = np.radians(25.0 * t)
    dims = ("time", "lat", "lon")
    speed = {"units": "m s-1"}
    ds = xr.Dataset(
        {
            "u": (dims, u, {**speed, "standard_name": "eastward_sea_water_velocity"}),
            "v": (dims, v, {**speed, "standard_name": "northward_sea_water_velocity"}),
            "uwind": (dims, (7 * np.cos(angle)).astype("f4"), {**speed, "standard_name": "eastward_wind"}),
            "vwind": (dims, (7 * np.sin(angle)).astype("f4"), {**speed, "standard_name": "northward_wind"}),
        },
        coords={
            "time": ("time", times, {"standard_name": "time"}),
            "lat": ("lat", lats, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", lons, {"standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={"Conventions": "CF-1.8", "title": "test model"},
    )
    if land_north_of is not None:
        ds = ds.drop_vars(["uwind", "vwind"])
    ds.to_netcdf(path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)  # the server may hold the old file open
    return path


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("dap")
    write_model(d / "model.nc")
    write_model(d / "land.nc", land_north_of=59.0)  # all land north of 59N: a subset at 60N is mostly empty
    return d


@pytest.fixture(scope="module")
def dap(data_dir):
    server = DapServer(data_dir)
    yield server
    server.close()


@pytest.fixture
def conn(services):
    c = services.db()
    with c.cursor() as cur:
        cur.execute((Path(__file__).parents[3] / "sql/init/02_forcing.sql").read_text())  # idempotent
        cur.execute("TRUNCATE forcing_datasets RESTART IDENTITY")
    yield c
    c.close()


@pytest.fixture(scope="module")
def settings(services, dap, tmp_path_factory) -> Settings:
    """One forcing bucket and cache for the module: a subset stored by one test is reused by the next."""
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY=SECRET)  # only the environment has it
    return Settings(
        database_url=services.database_url,
        s3_endpoint=services.s3_endpoint,
        s3_access_key="testing",
        s3_secret_key="testing",
        forcing_bucket=f"forcing-{uuid.uuid4().hex[:12]}",
        forcing_cache_dir=tmp_path_factory.mktemp("cache"),
        forcing_remote_hosts=(f"127.0.0.1:{dap.port}", services.s3_endpoint.split("//", 1)[1]),
        forcing_remote_timeout_s=2.0,
    )


@pytest.fixture(scope="module")
def s3(settings):
    client = make_s3_client(settings)
    ensure_buckets(client, [settings.forcing_bucket])
    return client


def zarr_store(s3, data_dir: Path, tmp_path: Path) -> str:
    """Model.nc as a Zarr store in its own bucket of the S3 test server; returns its s3:// URL."""
    local = tmp_path / "model.zarr"
    xr.open_dataset(data_dir / "model.nc").to_zarr(local, mode="w")
    bucket = f"zarr-{uuid.uuid4().hex[:8]}"
    ensure_buckets(s3, [bucket])
    for path in local.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"model.zarr/{path.relative_to(local)}")
    return f"s3://{bucket}/model.zarr"


def context(settings, s3, services, local_files=()):
    return forcing.ForcingContext(settings=settings, s3=s3, db=services.db, local_files=list(local_files))


def job_params(settings, **extra):
    params = {"latitude": LAT, "longitude": LON, "start_time": START.isoformat(), "duration_hours": HOURS,
              "num_particles": 100, "radius_m": 2000, "random_seed": 11, **extra}  # fmt: skip
    return parse_job(json.dumps({"mission_id": str(uuid.uuid4()), "params": params}), settings).params


def resolve(ctx, p):
    return forcing.resolve_forcing(
        ctx, lat=p.latitude, lon=p.longitude, start_time=p.start_time, end_time=p.end_of_run,
        wind=p.wind, current=p.current, reach_m=forcing.seed_reach_m(p),
    )  # fmt: skip


def drift(p, plan) -> tuple[np.ndarray, np.ndarray]:
    from driftline.simulation import simulate

    traj = simulate(p, [plan]).trajectories
    return np.asarray(traj.lon), np.asarray(traj.lat)


# ---------------------------------------------------------------- same drift: local file, OPeNDAP, Zarr


def register(conn, row: dict) -> None:
    """Put a probed catalog row back after `conn` emptied the catalog (no second probe)."""
    from driftline.forcing.catalog import upsert_row

    upsert_row(conn, {k: v for k, v in row.items() if k not in ("id", "created_at")})


@pytest.fixture(scope="module")
def dap_row(settings, services, dap) -> dict:
    """Model.nc over OPeNDAP, registered once with `forcing add-remote` (the fetch process probes it)."""
    with services.db().cursor() as cur:
        cur.execute((Path(__file__).parents[3] / "sql/init/02_forcing.sql").read_text())  # idempotent
    return forcing.forcing_add_remote(settings, dap.url("model.nc"), "dap model", licence="CC0")


def test_local_opendap_and_zarr_drift_identically(settings, s3, services, conn, dap, dap_row, data_dir, tmp_path):
    p = job_params(settings)
    full = data_dir / "model.nc"
    local = resolve(forcing.ForcingContext(settings=settings, local_files=[full]), p)
    assert [s["kind"] for s in local.sources] == ["dataset", "dataset"]
    lon_local, lat_local = drift(p, local)

    assert dap_row["kind"] == "opendap" and dap_row["provides_currents"] and dap_row["provides_wind"]
    assert (dap_row["lat_min"], dap_row["lat_max"], dap_row["time_step_s"]) == pytest.approx((50.0, 70.0, 3600.0))
    register(conn, dap_row)
    before = len(dap.requests)
    clock = time.monotonic()
    over_dap = resolve(context(settings, s3, services), p)
    dap_s = time.monotonic() - clock
    assert len(dap.requests) > before
    prov = over_dap.sources[0]["remote"]
    assert over_dap.sources[0]["uri"] == dap.url("model.nc") and not prov["reused"]
    lon_dap, lat_dap = drift(p, over_dap)

    with conn.cursor() as cur:
        cur.execute("TRUNCATE forcing_datasets")
    url = zarr_store(s3, data_dir, tmp_path)
    endpoint = f"endpoint_url={settings.s3_endpoint}"
    zrow = forcing.forcing_add_remote(settings, url, "zarr model", storage_options=[endpoint])
    assert zrow["kind"] == "zarr" and zrow["storage_options"] == {"endpoint_url": settings.s3_endpoint}
    over_zarr = resolve(context(settings, s3, services), p)
    lon_zarr, lat_zarr = drift(p, over_zarr)

    moved_km = np.nanmean(lon_local[:, -1] - LON) * 111.195 * np.cos(np.radians(LAT))
    assert moved_km > 1  # the forcing really drove the drift (on zero forcing it stays put)
    for lon, lat in ((lon_dap, lat_dap), (lon_zarr, lat_zarr)):
        np.testing.assert_array_equal(lon, lon_local)
        np.testing.assert_array_equal(lat, lat_local)

    size, zprov = prov["size_bytes"], over_zarr.sources[0]["remote"]
    print(
        f"\nREPORT identical trajectories local/OPeNDAP/Zarr ({lon_local.shape}); subset {size} B (OPeNDAP), "
        f"{zprov['size_bytes']} B (Zarr) vs full file {full.stat().st_size} B; OPeNDAP resolve+fetch {dap_s:.2f} s "
        f"(fetch process {prov['fetch_s']} s), Zarr fetch process {zprov['fetch_s']} s"
    )
    assert size < full.stat().st_size / 5


def test_rerun_and_neighbour_reuse_the_stored_subset(settings, s3, services, conn, dap, dap_row):
    register(conn, dap_row)
    p = job_params(settings)
    first = resolve(context(settings, s3, services), p)  # stored by the first test, or fetched now
    count = len(dap.requests)
    again = resolve(context(settings, s3, services), p)  # a re-run, with a fresh context
    neighbour = resolve(context(settings, s3, services), job_params(settings, latitude=LAT + 0.1, longitude=LON + 0.2))
    assert len(dap.requests) == count, dap.requests[count:]
    meta, again_meta = first.sources[0]["remote"], again.sources[0]["remote"]
    assert again_meta["reused"] and again_meta["sha256"] == meta["sha256"]
    assert neighbour.sources[0]["remote"]["stored_uri"] == meta["stored_uri"]
    body = s3.get_object(Bucket=settings.forcing_bucket, Key=meta["stored_uri"].split("/", 3)[3])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == meta["sha256"] and len(body) == meta["size_bytes"]
    print(f"\nREPORT re-run + neighbour mission: {len(dap.requests) - count} remote requests")

    text = again.describe()
    for part in (dap.url("model.nc"), meta["sha256"], meta["fetched_at"], "subset lon", "variables u,uwind,v,vwind"):
        assert part in text
    lon_min, lon_max, lat_min, lat_max = meta["bbox"]
    assert lon_min <= LON - 1 and lon_max >= LON + 1 and lat_min <= LAT - 0.5 and lat_max >= LAT + 0.5
    assert meta["time_window"] == ["2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"]
    assert SECRET not in json.dumps([dap_row, again.sources], default=str) + text


# ---------------------------------------------------------------- falling back


def register_raw(conn, name: str, url: str, resolution_m: float, required: bool = False) -> None:
    """A remote row as `add-remote` would write it (its server cannot be probed: it never answers)."""
    from driftline.forcing.catalog import upsert_row

    values = {"lon_min": 0.0, "lon_max": 20.0, "lat_min": 50.0, "lat_max": 70.0, "time_step_s": 3600.0}
    upsert_row(conn, {
        "name": name, "s3_key": url, "uri": url, "variables": ["x_sea_water_velocity", "y_sea_water_velocity"],
        "provides_currents": True, "provides_wind": False, "time_start": START, "time_end": START + timedelta(days=1),
        "resolution_m": resolution_m, "kind": "opendap", "variable_map": {"x_sea_water_velocity": "u",
        "y_sea_water_velocity": "v"}, "storage_options": {}, "required": required, **values,
    })  # fmt: skip


def test_unreachable_sources_fall_back_to_the_next_dataset_and_a_required_one_waits(
    settings, s3, services, conn, dap, dap_row
):
    silent, closing = RawServer("silent"), RawServer("close")
    try:
        hosts = (*settings.forcing_remote_hosts, f"127.0.0.1:{silent.port}", f"127.0.0.1:{closing.port}")
        settings = settings.with_overrides(forcing_remote_hosts=hosts)
        register_raw(conn, "finest but silent", silent.url(), resolution_m=100.0)
        register_raw(conn, "fine but closing", closing.url(), resolution_m=200.0)
        register(conn, dap_row)
        clock = time.monotonic()
        plan = resolve(context(settings, s3, services), job_params(settings))
        took = time.monotonic() - clock
        assert (silent.connections, closing.connections) == (1, 1)  # one request each, no retries
        register_raw(conn, "fine but closing", closing.url(), resolution_m=200.0, required=True)
        with pytest.raises(ForcingSourceUnavailable) as e:
            resolve(context(settings, s3, services), job_params(settings))
    finally:
        silent.close()
        closing.close()
    assert plan.sources[0]["name"] == "dap model"
    warnings = [next(w for w in plan.warnings if name in w) for name in ("finest but silent", "fine but closing")]
    assert silent.url() in warnings[0] and "Read timed out" in warnings[0] and closing.url() in warnings[1]
    limit = settings.forcing_remote_timeout_s * remote.FETCH_TIMEOUT_FACTOR
    assert took < limit
    assert e.value.reason == "forcing_unavailable" and closing.url() in str(e.value)
    print(f"\nREPORT silent + closing servers: fell back to the next dataset in {took:.1f} s (limit {limit:g} s)")
    print("REPORT " + "\nREPORT ".join(warnings))


def test_mostly_empty_subset_does_not_cover(settings, s3, services, conn, dap, dap_row):
    land = {**dap_row, "name": "mostly land", "s3_key": dap.url("land.nc"), "uri": dap.url("land.nc")}
    register(conn, {**land, "provides_wind": False, "variable_map": {k: v for k, v in dap_row["variable_map"].items()
                                                                      if "sea_water" in k}})  # fmt: skip
    plan = resolve(context(settings, s3, services), job_params(settings, current={"speed_ms": 0.2, "to_deg": 90}))
    assert [s["kind"] for s in plan.sources] == ["on_scene", "zero_fallback"]
    assert not any("mostly land" in w for w in plan.warnings)  # not covering is no failure


def test_fetch_process_crash_is_a_failed_source(settings, tmp_path, monkeypatch):
    crash = tmp_path / "crash.sh"
    crash.write_text("#!/bin/sh\nkill -ABRT $$\n")
    crash.chmod(crash.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(remote.sys, "executable", str(crash))
    with pytest.raises(remote.SourceFailed, match="crashed the fetch process .signal SIGABRT"):
        remote.run_fetch({"op": "probe", "url": "http://127.0.0.1:1/x.nc", "kind": "opendap"}, settings)


def test_a_subset_stored_by_another_worker_first_is_kept(settings, s3, tmp_path):
    subsets = remote.RemoteSubsets(settings, s3, forcing.ForcingCache(settings, s3))
    key, uri = "remote/race.nc", f"s3://{settings.forcing_bucket}/remote/race.nc"
    for n, body in enumerate((b"first", b"second")):
        (tmp_path / f"{n}.nc").write_bytes(body)
        subsets._upload(tmp_path / f"{n}.nc", key, uri, {"n": n})
    stored = s3.get_object(Bucket=settings.forcing_bucket, Key=key)
    assert stored["Body"].read() == b"first" and json.loads(stored["Metadata"][remote.METADATA_KEY]) == {"n": 0}


# ---------------------------------------------------------------- security


@pytest.mark.parametrize(
    "url",
    [
        "http://{counter}/model.nc",  # host:port not listed
        "http://localhost:{port}/model.nc",  # a name for a loopback address
        "ftp://127.0.0.1:{port}/model.nc",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1:{port}/model.nc",
    ],
)
def test_refused_sources_are_never_contacted(settings, url):
    counter = RawServer("close")
    try:
        settings = settings.with_overrides(forcing_remote_hosts=(f"localhost:{counter.port}", "127.0.0.1:1"))
        url = url.format(counter=f"127.0.0.1:{counter.port}", port=counter.port)
        with pytest.raises(HostRefused):
            forcing.forcing_add_remote(settings, url, "refused")
        time.sleep(0.1)
    finally:
        counter.close()
    assert counter.connections == 0


def test_redirect_to_another_host_is_refused(settings, data_dir):
    counter = RawServer("close")
    redirecting = DapServer(data_dir, redirect_to=f"http://127.0.0.1:{counter.port}")
    try:
        settings = settings.with_overrides(forcing_remote_hosts=(f"127.0.0.1:{redirecting.port}",))
        with pytest.raises(remote.SourceFailed, match="not in FORCING_REMOTE_HOSTS"):
            forcing.forcing_add_remote(settings, redirecting.url("model.nc"), "redirected")
    finally:
        redirecting.close()
        counter.close()
    assert redirecting.requests and counter.connections == 0


def test_jobs_still_cannot_name_remote_urls(settings, dap):
    from driftline.errors import InvalidJob

    with pytest.raises(InvalidJob, match="not allowed"):
        job_params(settings, forcing=[dap.url("model.nc")])


def test_storage_options_refuse_credentials(settings):
    with pytest.raises(ForcingError, match="not allowed"):
        forcing.forcing_add_remote(settings, "s3://b/x.zarr", "x", storage_options=["secret_access_key=abc"])


# ---------------------------------------------------------------- sync and presets


def test_presets_load_with_one_command_and_sync_follows_a_moving_aggregation(settings, conn, dap, data_dir, capsys):
    shipped = json.loads(forcing.sources.PRESETS.read_text())["sources"]
    assert {"norkyst800", "meps", "hycom-espc", "gfs"} <= {p["name"] for p in shipped}
    assert all(p["url"].startswith("https://") and p["licence"] for p in shipped)
    assert forcing.load_presets(settings, ["meps"]) == 1  # its host is not allowed here: refused, not contacted
    assert "not in FORCING_REMOTE_HOSTS" in capsys.readouterr().out

    path = write_model(data_dir / "moving.nc", hours=6)
    mine = data_dir / "presets.json"
    mine.write_text(json.dumps({"sources": [{"name": "moving", "url": dap.url("moving.nc"), "licence": "CC0"}]}))
    assert forcing.load_presets(settings, path=mine) == 0
    later = xr.open_dataset(path).load()
    later["time"] = later["time"] + np.timedelta64(24, "h")  # the aggregation moved on by a day
    later.to_netcdf(path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    assert forcing.forcing_sync(settings) == 0
    (row,) = forcing.forcing_list(settings)
    assert row["name"] == "moving" and row["licence"] == "CC0"
    assert row["time_start"] == START + timedelta(hours=24) and row["synced_at"] is not None


def test_subset_box_and_window_are_deterministic_and_cover_the_envelope():
    box = remote.subset_box(60.0, 5.0, 6, 2000)
    assert box == remote.subset_box(60.1, 5.1, 6, 2000)
    reach_deg = (remote.MAX_DRIFT_SPEED_MS * 6 * 3600 + 2000) / 111_195
    assert box[2] <= 60.0 - reach_deg and box[3] >= 60.0 + reach_deg
    assert remote.subset_window(START + timedelta(hours=3), START - timedelta(hours=2)) == (
        "2024-02-29T00:00:00Z",
        "2024-03-02T00:00:00Z",
    )


# ---------------------------------------------------------------- through the real daemon


def test_daemon_mission_over_opendap_drifts_as_the_bucket_file_and_skips_a_silent_source(
    services, shared_worker, dap, data_dir, tmp_path
):
    from tests.conftest import FORCING_BUCKET, RESULTS_BUCKET, push_job, wait_status

    s3, q = services.s3(), shared_worker.env["QUEUE_NAME"]
    s3.upload_file(str(data_dir / "model.nc"), FORCING_BUCKET, "parity/model.nc")
    conn = services.db()
    with conn.cursor() as cur:
        cur.execute("TRUNCATE forcing_datasets RESTART IDENTITY")
    cli = subprocess.run(
        [sys.executable, "worker.py", "forcing", "add-remote", dap.url("model.nc"), "--name", "dap model"],
        cwd=ROOT, env=shared_worker.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    silent = RawServer("silent")
    register_raw(conn, "finest but silent", silent.url(), resolution_m=100.0)
    params = {"latitude": LAT, "longitude": LON, "start_time": START.isoformat(), "duration_hours": HOURS,
              "num_particles": 100, "radius_m": 2000, "random_seed": 11}  # fmt: skip
    try:
        from_bucket = push_job(services, q, {**params, "forcing": [f"s3://{FORCING_BUCKET}/parity/model.nc"]})
        clock = time.monotonic()
        over_dap = push_job(services, q, params)
        rows = [wait_status(services, mid) for mid in (from_bucket, over_dap)]
        took = time.monotonic() - clock
    finally:
        silent.close()
        with conn.cursor() as cur:
            cur.execute("TRUNCATE forcing_datasets RESTART IDENTITY")
    assert [r["status"] for r in rows] == ["completed", "completed"], rows
    files = []
    for mid in (from_bucket, over_dap):
        s3.download_file(RESULTS_BUCKET, f"{mid}/raw/particles.nc", str(tmp_path / f"{mid}.nc"))
        files.append(xr.open_dataset(tmp_path / f"{mid}.nc"))
    for var in ("lon", "lat"):
        np.testing.assert_array_equal(files[0][var].values, files[1][var].values)
    summary = json.loads(s3.get_object(Bucket=RESULTS_BUCKET, Key=f"{over_dap}/products/summary.json")["Body"].read())
    current = summary["forcing"][0]["sources"][0]
    assert current["uri"] == dap.url("model.nc") and current["remote"]["sha256"] in files[1].attrs["driftline_forcing"]
    assert any(silent.url() in w and "finest but silent" in w for w in summary["warnings"])
    limit = shared_worker.env.get("JOB_TIMEOUT_S", "1800")
    print(f"\nREPORT daemon: bucket file vs OPeNDAP particles.nc identical; with a silent finer source: {took:.1f} s")
    print(f"REPORT (job time limit {limit} s)")
