"""Forcing module against a real moto_server (S3) and a real PostgreSQL: files, catalog, cache, plans."""

from __future__ import annotations

import concurrent.futures
import fcntl
import multiprocessing
import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from config import Settings
from driftline import forcing
from driftline.contract.metocean import Current, Wind
from driftline.errors import ForcingError, InvalidJob, StorageUnavailable
from driftline.objects import ensure_buckets, make_s3_client
from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories
from tests import forcing_files as ff

START = datetime(2024, 1, 1, 12, tzinfo=UTC)
END = START + timedelta(hours=3)
ROOT = Path(__file__).resolve().parents[3]
BAD_URIS = ["http://169.254.169.254/latest/meta-data", "file:///etc/passwd", "s3://other-bucket/x.nc"]


# ---------------------------------------------------------------- services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint(services):
    """The session's S3 server (moto_server, see conftest)."""
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    return services.s3_endpoint


@pytest.fixture(scope="session")
def database_url(services):
    """The session's PostgreSQL; 02_forcing.sql is applied once more to show it is idempotent."""
    import psycopg2

    sql = (ROOT / "sql/init/02_forcing.sql").read_text()
    with psycopg2.connect(services.database_url) as conn, conn.cursor() as cur:
        cur.execute(sql)
    return services.database_url


@pytest.fixture
def conn(database_url):
    import psycopg2

    c = psycopg2.connect(database_url)
    with c, c.cursor() as cur:
        cur.execute("TRUNCATE forcing_datasets RESTART IDENTITY")
    yield c
    c.close()


@pytest.fixture
def settings(s3_endpoint, database_url, tmp_path) -> Settings:
    return Settings(
        database_url=database_url,
        s3_endpoint=s3_endpoint,
        s3_access_key="test",
        s3_secret_key="test",
        forcing_bucket=f"forcing-{uuid.uuid4().hex[:12]}",
        forcing_cache_dir=tmp_path / "cache",
    )


class CountingClient:
    """A real boto3 client that records every S3 operation it sends."""

    def __init__(self, settings: Settings):
        self.client = make_s3_client(settings)
        self.calls: list[str] = []
        self.client.meta.events.register("before-call.s3", lambda model, **kw: self.calls.append(model.name))

    def __getattr__(self, name):
        return getattr(self.client, name)


class RefusingClient:
    """Fails the test if anything tries to talk to S3."""

    def __getattr__(self, name):
        raise AssertionError(f"S3 must not be called (client.{name})")


@pytest.fixture
def s3(settings) -> CountingClient:
    client = CountingClient(settings)
    ensure_buckets(client.client, [settings.forcing_bucket])
    client.calls.clear()
    return client


def upload(s3, settings: Settings, path: Path, key: str | None = None) -> str:
    key = key or path.name
    s3.upload_file(str(path), settings.forcing_bucket, key)
    return f"s3://{settings.forcing_bucket}/{key}"


def add(settings: Settings, s3, path: Path, name: str) -> dict:
    return forcing.forcing_add(settings, path, name, s3_client=s3.client)


# ---------------------------------------------------------------- URIs


@pytest.mark.parametrize("uri", BAD_URIS + ["s3://{bucket}/../secret.nc", "s3://{bucket}/x.txt"])
def test_bad_uris_are_refused_before_any_request(settings, s3, uri):
    uri = uri.format(bucket=settings.forcing_bucket)
    with pytest.raises(InvalidJob) as e:
        forcing.check_forcing_uri(uri, settings)
    assert repr(uri) in str(e.value)
    ctx = forcing.ForcingContext(settings=settings, s3=RefusingClient(), db=lambda: pytest.fail("no DB call"))
    good = f"s3://{settings.forcing_bucket}/good.nc"
    with pytest.raises(InvalidJob, match="is not allowed"):
        forcing.resolve_forcing(
            ctx, lat=58, lon=3, start_time=START, end_time=END, wind=None, current=None, forcing_uris=[good, uri]
        )
    with pytest.raises(InvalidJob, match="is not allowed"):
        forcing.ForcingCache(settings, s3).fetch(uri)
    assert s3.calls == []


def test_s3_uri_in_local_mode_names_the_uri(settings):
    uri = f"s3://{settings.forcing_bucket}/fields/east.nc"
    ctx = forcing.ForcingContext(settings=settings, local_files=[])
    with pytest.raises(ForcingError, match=f"forcing file {uri} cannot be fetched: S3 is not configured"):
        forcing.resolve_forcing(
            ctx, lat=58, lon=3, start_time=START, end_time=END, wind=None, current=None, forcing_uris=[uri]
        )


def test_missing_object_names_the_uri(settings, s3):
    uri = f"s3://{settings.forcing_bucket}/nowhere.nc"
    with pytest.raises(ForcingError, match=f"forcing file {uri} does not exist"):
        forcing.ForcingCache(settings, s3).fetch(uri)


# ---------------------------------------------------------------- inspecting files


def test_inspect_regular_current(tmp_path):
    info = forcing.inspect_forcing_file(ff.write_current(tmp_path / "cur.nc"))
    assert info.provides_currents and not info.provides_wind
    assert {"x_sea_water_velocity", "y_sea_water_velocity"} <= set(info.variables)
    assert (info.lon_min, info.lon_max, info.lat_min, info.lat_max) == (0, 10, 55, 65)
    assert (info.time_start, info.time_end) == (START, START + timedelta(hours=6))
    assert info.resolution_m == pytest.approx(111_195 * 0.25 * np.sqrt(np.cos(np.radians(60))), rel=1e-3)
    assert info.reader_type == "netCDF_CF_generic"


def test_inspect_wind_and_projected_grid(tmp_path):
    wind = forcing.inspect_forcing_file(ff.write_wind(tmp_path / "wind.nc"))
    assert wind.provides_wind and not wind.provides_currents
    info = forcing.inspect_forcing_file(ff.write_projected_current(tmp_path / "stere.nc"))
    assert info.provides_currents and info.resolution_m == pytest.approx(10_000)
    assert 68.5 < info.lat_min < 69.5 and 70.5 < info.lat_max < 71.5
    assert 1.5 < info.lon_min < 3 and 7.5 < info.lon_max < 8.5


def test_inspect_refuses_non_netcdf_and_useless_files(tmp_path):
    bad = ff.write_not_netcdf(tmp_path / "fake.nc")
    with pytest.raises(ForcingError, match=f"forcing file {bad} is not a NetCDF file"):
        forcing.inspect_forcing_file(bad)
    temp = ff.write_temperature_only(tmp_path / "temp.nc")
    with pytest.raises(ForcingError, match=f"forcing file {temp} has none of the needed variables") as e:
        forcing.inspect_forcing_file(temp)
    assert "sea_water_temperature" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ForcingError, match="forcing file s3://b/k.nc is not a NetCDF file"):
        forcing.inspect_forcing_file(bad, label="s3://b/k.nc")


# ---------------------------------------------------------------- catalog


def test_forcing_add_uploads_registers_and_upserts(settings, s3, conn, tmp_path, capsys):
    path = ff.write_current(tmp_path / "north sea.nc")
    row = add(settings, s3, path, "North Sea currents")
    assert row["uri"] == f"s3://{settings.forcing_bucket}/north_sea.nc" and row["provides_currents"]
    head = s3.head_object(Bucket=settings.forcing_bucket, Key="north_sea.nc")
    assert row["etag"] == head["ETag"].strip('"') and row["size_bytes"] == path.stat().st_size
    assert "Added forcing dataset North Sea currents" in capsys.readouterr().out
    ff.write_current(path, u=0.1, hours=12)
    add(settings, s3, path, "North Sea currents v2")
    rows = forcing.forcing_list(settings)
    assert len(rows) == 1 and rows[0]["name"] == "North Sea currents v2"
    assert rows[0]["time_end"] == START + timedelta(hours=12)
    table = forcing.format_catalog(rows)
    assert "North Sea currents v2" in table and "currents" in table and row["uri"] in table


def test_forcing_add_refuses_unusable_file_before_upload(settings, s3, conn, tmp_path):
    with pytest.raises(ForcingError, match="has none of the needed variables"):
        add(settings, s3, ff.write_temperature_only(tmp_path / "temp.nc"), "temp")
    assert s3.calls == [] and forcing.list_datasets(conn) == []


def test_select_picks_covering_finest_newest(settings, s3, conn, tmp_path):
    coarse = add(settings, s3, ff.write_current(tmp_path / "coarse.nc", step=0.5), "coarse")
    fine = add(settings, s3, ff.write_current(tmp_path / "fine.nc", step=0.1, lon=(2, 4), lat=(57, 59)), "fine")
    add(settings, s3, ff.write_current(tmp_path / "far.nc", step=0.05, lon=(20, 22)), "far away")
    add(settings, s3, ff.write_current(tmp_path / "later.nc", step=0.05, start=datetime(2024, 1, 2)), "later")
    wind = add(settings, s3, ff.write_wind(tmp_path / "wind.nc"), "wind")
    picks = forcing.select_datasets(conn, 58.0, 3.0, START, END)
    assert [r["name"] for r in picks["currents"]] == ["fine", "coarse"]
    assert [r["uri"] for r in picks["currents"]] == [fine["uri"], coarse["uri"]]
    assert [r["name"] for r in picks["wind"]] == ["wind"] and picks["wind"][0]["uri"] == wind["uri"]
    assert all(r["covers_run"] for r in picks["currents"])
    # Outside the fine grid only the coarse one covers; at an uncovered time nothing does.
    assert [r["name"] for r in forcing.select_datasets(conn, 60.0, 8.0, START, END)["currents"]] == ["coarse"]
    assert forcing.select_datasets(conn, 58.0, 3.0, START - timedelta(days=1), END) == {"currents": [], "wind": []}
    # Same resolution: the newer model run wins.
    add(settings, s3, ff.write_current(tmp_path / "coarse2.nc", step=0.5, start=START - timedelta(hours=1)), "c2")
    add(settings, s3, ff.write_current(tmp_path / "coarse3.nc", step=0.5, start=START - timedelta(hours=2)), "c3")
    picks = forcing.select_datasets(conn, 60.0, 8.0, START, END)["currents"]
    assert [r["name"] for r in picks] == ["coarse", "c2", "c3"]


def test_resolve_from_catalog(settings, s3, conn, tmp_path):
    add(settings, s3, ff.write_current(tmp_path / "coarse.nc", step=0.5), "coarse")
    fine = add(settings, s3, ff.write_current(tmp_path / "fine.nc", step=0.1, lon=(2, 4), lat=(57, 59)), "fine")
    wind = add(settings, s3, ff.write_wind(tmp_path / "wind.nc"), "wind")
    ctx = forcing.ForcingContext(settings=settings, s3=s3, db=lambda: conn)
    obs = Current(0.3, 90)
    plan = forcing.resolve_forcing(
        ctx, lat=58, lon=3, start_time=START, end_time=END, wind=None, current=obs, forcing_uris=()
    )
    assert [d["name"] for d in plan.datasets] == ["fine", "coarse", "wind"] and len(plan.readers) == 3
    currents, winds = plan.sources
    assert currents["kind"] == "dataset" and currents["uri"] == fine["uri"] and currents["name"] == "fine"
    assert "x_sea_water_velocity" in currents["variables"] and "on-scene constant 0.3 m/s" in currents["fallback"]
    assert winds["kind"] == "dataset" and winds["uri"] == wind["uri"] and "zero fallback" in winds["fallback"]
    assert plan.constants["x_sea_water_velocity"] == pytest.approx(0.3) and plan.constants["x_wind"] == 0
    assert plan.warnings == [] and plan.describe().startswith(f"currents: datasets fine ({fine['uri']}), coarse (")
    assert ctx.cache.downloads == 3
    # Nothing covers the Atlantic: fallbacks with one warning each.
    far = forcing.resolve_forcing(
        ctx, lat=60, lon=-30, start_time=START, end_time=END, wind=Wind(8, 270), current=obs, forcing_uris=()
    )
    assert far.readers == [] and [s["kind"] for s in far.sources] == ["on_scene", "on_scene"]
    assert far.warnings == [
        "no current dataset covers 60.000N 30.000W at 2024-01-01T12:00Z: using on-scene current 0.3 m/s towards 90°",
        "no wind dataset covers 60.000N 30.000W at 2024-01-01T12:00Z: using on-scene wind 8 m/s from 270°",
    ]
    assert ctx.cache.downloads == 3


def test_resolve_without_any_source_is_the_constant_plan(settings):
    ctx = forcing.ForcingContext(settings=settings)
    plan = forcing.resolve_forcing(ctx, lat=58, lon=3, start_time=START, end_time=END, wind=Wind(5, 0), current=None)
    assert plan == forcing.constant_plan(Wind(5, 0), None)
    assert plan.constants["y_wind"] == pytest.approx(-5) and plan.warnings == ["no currents data: currents set to zero"]


# ---------------------------------------------------------------- explicit files, the simulation


@pytest.fixture
def current_uri(settings, s3, tmp_path) -> str:
    return upload(s3, settings, ff.write_current(tmp_path / "east.nc", u=0.5, v=0.0), "fields/east.nc")


def test_explicit_forcing_drives_leeway_east(settings, s3, current_uri):
    ctx = forcing.ForcingContext(settings=settings, s3=s3, db=lambda: pytest.fail("explicit files skip the catalog"))
    plan = forcing.resolve_forcing(
        ctx, lat=58, lon=3, start_time=START, end_time=END, wind=None, current=None, forcing_uris=[current_uri]
    )
    assert plan.sources[0]["kind"] == "dataset" and plan.sources[0]["uri"] == current_uri
    assert plan.sources[1]["kind"] == "zero_fallback"
    assert plan.warnings == ["no wind in the forcing files: wind set to zero"]
    reader = plan.readers[0]
    assert reader.name == current_uri
    env, _ = reader.get_variables_interpolated(
        variables=["x_sea_water_velocity", "y_sea_water_velocity"],
        time=START.replace(tzinfo=None) + timedelta(minutes=30),
        lon=np.array([3.0]),
        lat=np.array([58.0]),
        z=np.array([0.0]),
    )
    assert env["x_sea_water_velocity"][0] == pytest.approx(0.5, abs=1e-3)
    assert env["y_sea_water_velocity"][0] == pytest.approx(0.0, abs=1e-3)

    from opendrift.models.leeway import Leeway

    o = Leeway(loglevel=50)
    o.add_reader(plan.readers)
    for var, value in plan.constants.items():
        o.set_config(f"environment:fallback:{var}", value)
    o.seed_elements(lon=3.0, lat=58.0, number=50, radius=0, time=START.replace(tzinfo=None), object_type=1)
    o.run(duration=timedelta(hours=3), time_step=600)
    lon, lat = o.get_property("lon")[0], o.get_property("lat")[0]
    east_m = (lon[-1] - 3.0) * 111_195 * np.cos(np.radians(58.0))
    assert np.mean(east_m) == pytest.approx(0.5 * 3 * 3600, rel=0.1)
    assert abs(np.mean(lat[-1]) - 58.0) * 111_195 < 500

    traj = _trajectories(np.asarray(lon).T, np.asarray(lat).T, START, 600)
    assert forcing.domain_fractions(plan, traj) == {current_uri: 1.0}


def test_explicit_forcing_out_of_time_names_the_file(settings, s3, current_uri):
    ctx = forcing.ForcingContext(settings=settings, s3=s3)
    late = START + timedelta(days=1)
    with pytest.raises(ForcingError) as e:
        forcing.resolve_forcing(
            ctx, lat=58, lon=3, start_time=late, end_time=late, wind=None, current=None, forcing_uris=[current_uri]
        )
    assert str(e.value) == (
        f"forcing file {current_uri} covers 2024-01-01T12:00Z to 2024-01-01T18:00Z, "
        "but the mission starts at 2024-01-02T12:00Z"
    )


def test_explicit_forcing_partial_coverage_warns(settings, s3, current_uri):
    ctx = forcing.ForcingContext(settings=settings, s3=s3)
    plan = forcing.resolve_forcing(
        ctx, lat=50, lon=3, start_time=START, end_time=START + timedelta(hours=24), wind=None, current=None,
        forcing_uris=[current_uri],
    )  # fmt: skip
    assert plan.warnings[:2] == [
        f"forcing file {current_uri} does not cover the start position 50.000N 3.000E at 2024-01-01T12:00Z",
        f"forcing file {current_uri} covers 2024-01-01T12:00Z to 2024-01-01T18:00Z, not the end of the run at "
        "2024-01-02T12:00Z",
    ]


@pytest.mark.parametrize("writer", [ff.write_not_netcdf, ff.write_temperature_only])
def test_explicit_unusable_file_names_the_uri(settings, s3, tmp_path, writer):
    uri = upload(s3, settings, writer(tmp_path / "bad.nc"))
    ctx = forcing.ForcingContext(settings=settings, s3=s3)
    with pytest.raises(ForcingError, match=f"forcing file {uri} (is not a NetCDF file|has none of the needed)"):
        forcing.resolve_forcing(
            ctx, lat=58, lon=3, start_time=START, end_time=END, wind=None, current=None, forcing_uris=[uri]
        )


def test_local_files_and_domain_fractions(settings, tmp_path):
    path = ff.write_projected_current(tmp_path / "stere.nc")
    ctx = forcing.ForcingContext(settings=settings, local_files=[path])
    plan = forcing.resolve_forcing(
        ctx, lat=70, lon=5, start_time=START, end_time=END, wind=Wind(10, 180), current=None, forcing_uris=()
    )
    uri = path.resolve().as_uri()
    assert plan.datasets[0]["uri"] == uri and plan.sources[1]["kind"] == "on_scene"
    # 4 particles x 4 output steps (hourly from START - 1 h: the first step is before the file starts).
    lon = np.array([[5.0] * 4, [5.0, 5.0, 30.0, 30.0], [5.0] * 4, [5.0] * 4])
    lat = np.full((4, 4), 70.0)
    traj = _trajectories(lon, lat, START - timedelta(hours=1), 3600)
    traj.state[2, :] = [ACTIVE, ACTIVE, STRANDED, STRANDED]
    traj.state[3, :] = [NOT_RELEASED, NOT_RELEASED, OUT_OF_DOMAIN, OUT_OF_DOMAIN]
    # Counted: rows 0-2, 12 particle-steps; inside: 3 steps x 3 rows, minus row 1 beyond the grid twice = 7.
    assert forcing.domain_fractions(plan, traj) == {uri: pytest.approx(7 / 12)}
    traj.member[:] = [0, 1, 1, 1]  # ensemble member 1: rows 1-3, 8 counted steps, 4 inside
    assert forcing.domain_fractions(plan, traj, member=1) == {uri: pytest.approx(4 / 8)}


def _trajectories(lon: np.ndarray, lat: np.ndarray, start: datetime, step_s: int) -> Trajectories:
    n, t = lon.shape
    times = np.array(
        [np.datetime64(start.replace(tzinfo=None), "s") + np.timedelta64(step_s * i, "s") for i in range(t)]
    )
    return Trajectories(
        times=times,
        lon=np.asarray(lon, float),
        lat=np.asarray(lat, float),
        state=np.full((n, t), ACTIVE, np.int8),
        member=np.zeros(n, np.int16),
        object_number=np.ones(n, np.int16),
    )


# ---------------------------------------------------------------- cache


def test_cache_downloads_once(settings, s3, current_uri):
    cache = forcing.ForcingCache(settings, s3)
    first, second = cache.fetch(current_uri), cache.fetch(current_uri)
    assert first == second and cache.downloads == 1 and cache.hits == 1
    assert forcing.ForcingCache(settings, s3).fetch(current_uri) == first  # another worker, same directory
    assert s3.calls.count("GetObject") == 1  # one download: the other fetches only HEAD for the ETag
    assert forcing.inspect_forcing_file(first).provides_currents


def test_cache_new_etag_is_a_new_entry(settings, s3, current_uri, tmp_path):
    cache = forcing.ForcingCache(settings, s3)
    old = cache.fetch(current_uri)
    upload(s3, settings, ff.write_current(tmp_path / "v2.nc", u=0.1), "fields/east.nc")
    new = cache.fetch(current_uri)
    assert new != old and cache.downloads == 2


def _fetch_in_process(settings: Settings, uri: str) -> tuple[int, str]:
    cache = forcing.ForcingCache(settings, make_s3_client(settings))
    path = cache.fetch(uri)
    forcing.inspect_forcing_file(path)
    return cache.downloads, str(path)


def test_cache_is_shared_safely_between_processes(settings, s3, tmp_path):
    uri = upload(s3, settings, ff.write_current(tmp_path / "big.nc", step=0.02))  # ~ 10 MB
    pool = concurrent.futures.ProcessPoolExecutor(6, mp_context=multiprocessing.get_context("fork"))
    with pool:
        results = list(pool.map(_fetch_in_process, [settings] * 6, [uri] * 6))
    assert sum(d for d, _ in results) == 1 and len({p for _, p in results}) == 1
    assert [p.name for p in settings.forcing_cache_dir.iterdir() if p.suffix == ".part"] == []


def test_cache_evicts_least_recently_used_unlocked(settings, s3, tmp_path):
    uris = [upload(s3, settings, ff.write_current(tmp_path / f"{n}.nc", u=i / 10)) for i, n in enumerate("abcd")]
    size = (tmp_path / "a.nc").stat().st_size
    cache = forcing.ForcingCache(settings.with_overrides(forcing_cache_max_gb=2.5 * size / 1e9), s3)
    a, b = cache.fetch(uris[0]), cache.fetch(uris[1])
    os.utime(a, (time.time() - 100, time.time() - 100))
    os.utime(b, (time.time() - 50, time.time() - 50))
    cache.fetch(uris[0])  # a hit: a becomes the newest
    c = cache.fetch(uris[2])  # over the bound: b, least recently used, goes
    assert (a.exists(), b.exists(), c.exists()) == (True, False, True)
    os.utime(a, (time.time() - 100, time.time() - 100))
    with open(cache._lock(a), "a") as held:  # another job is reading a: it must stay
        fcntl.flock(held, fcntl.LOCK_SH)
        d = cache.fetch(uris[3])
    assert (a.exists(), c.exists(), d.exists()) == (True, False, True)
    assert cache.downloads == 4


class BrokenDownloadClient:
    """Writes half a file, then the connection drops."""

    def __init__(self, client):
        self.client = client

    def download_fileobj(self, bucket, key, fh, **kwargs):
        from botocore.exceptions import ConnectionClosedError

        fh.write(b"CDF\x01" + b"\0" * 1000)
        raise ConnectionClosedError(endpoint_url="http://s3")

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_half_written_download_never_becomes_an_entry(settings, s3, current_uri):
    broken = forcing.ForcingCache(settings, BrokenDownloadClient(s3))
    with pytest.raises(StorageUnavailable, match="S3 unreachable during download of forcing file"):
        broken.fetch(current_uri)
    assert broken.entries() == [] and list(settings.forcing_cache_dir.glob("*.part")) == []
    # A temp file left by a killed process is neither an entry nor kept once nobody downloads it.
    stale = settings.forcing_cache_dir / f".{'0' * 40}.abc.part"
    stale.write_bytes(b"CDF\x01 half")
    cache = forcing.ForcingCache(settings, s3)
    path = cache.fetch(current_uri)
    assert cache.entries() == [path] and cache.downloads == 1 and not stale.exists()
    assert forcing.inspect_forcing_file(path).provides_currents


class ReplacingClient(BrokenDownloadClient):
    """Someone uploads a new version between the cache's HEAD and its download."""

    def __init__(self, client, replace):
        super().__init__(client)
        self.replace = replace

    def download_fileobj(self, bucket, key, fh, **kwargs):
        self.replace()
        return self.client.download_fileobj(bucket, key, fh, **kwargs)


def test_object_replaced_during_download_is_not_cached_under_the_old_etag(settings, s3, current_uri, tmp_path):
    new = ff.write_current(tmp_path / "v2.nc", u=0.1)
    cache = forcing.ForcingCache(settings, ReplacingClient(s3, lambda: upload(s3, settings, new, "fields/east.nc")))
    with pytest.raises(StorageUnavailable, match=f"forcing file {current_uri} changed during download"):
        cache.fetch(current_uri)
    assert cache.entries() == [] and sorted(p.name for p in settings.forcing_cache_dir.iterdir()) == []
    path = forcing.ForcingCache(settings, s3).fetch(current_uri)  # the retry gets the new version
    assert path.read_bytes() == new.read_bytes()
