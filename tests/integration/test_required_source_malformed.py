"""A `--required` remote forcing source that answers malformed data every time made its
missions wait forever (every answer was taken for an outage: attempt given back, requeued, again). Now a
malformed answer is retried within MAX_ATTEMPTS like any transient error, and the mission then ends `failed`
with one line naming the source; an unreachable required source is still waited for (an outage)."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from config import Settings
from driftline import forcing
from driftline.contract.parse import parse_job
from driftline.errors import ForcingSourceMalformed, ForcingSourceUnavailable
from driftline.forcing.catalog import upsert_row
from driftline.protocol import is_outage
from tests.conftest import push_job, wait_status
from tests.dap_server import RawServer

# A sea area and year no other test's catalog rows or missions use (the catalog is shared by the session).
LAT, LON, START = -44.5, 150.5, datetime(2031, 6, 1, tzinfo=UTC)


class GarbageServer:
    """An HTTP server answering every request 200 with bytes that are no OPeNDAP answer."""

    def __init__(self) -> None:
        garbage = b"Dataset { Grid {{ garbage ;;"
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(garbage)))
                self.end_headers()
                self.wfile.write(garbage)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/model.nc"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def garbage():
    server = GarbageServer()
    yield server
    server.close()


@pytest.fixture
def catalog(services):
    """Rows registered by a test, removed afterwards (other tests share the catalog)."""
    conn, keys = services.db(), []

    def register(url: str) -> None:
        keys.append(url)
        upsert_row(conn, {
            "name": f"required {url}", "s3_key": url, "uri": url, "kind": "opendap", "required": True,
            "variables": ["x_sea_water_velocity", "y_sea_water_velocity"], "provides_currents": True,
            "provides_wind": False, "lon_min": LON - 5, "lon_max": LON + 5, "lat_min": LAT - 5, "lat_max": LAT + 5,
            "time_start": START, "time_end": START + timedelta(days=2), "resolution_m": 100.0, "time_step_s": 3600.0,
            "variable_map": {"x_sea_water_velocity": "u", "y_sea_water_velocity": "v"}, "storage_options": {},
        })  # fmt: skip

    yield register
    with conn.cursor() as cur:
        cur.execute("DELETE FROM forcing_datasets WHERE s3_key = ANY(%s)", (keys,))
    conn.close()


PARAMS = {"latitude": LAT, "longitude": LON, "start_time": START.isoformat(), "duration_hours": 2,
          "num_particles": 50, "time_step_minutes": 30}  # fmt: skip


def resolve(services, tmp_path, hosts: tuple[str, ...]):
    settings = Settings(database_url=services.database_url, s3_endpoint=services.s3_endpoint, s3_access_key="testing",
                        s3_secret_key="testing", forcing_cache_dir=tmp_path, forcing_remote_hosts=hosts,
                        forcing_remote_timeout_s=2.0)  # fmt: skip
    p = parse_job(json.dumps({"mission_id": str(uuid.uuid4()), "params": PARAMS}), settings).params
    ctx = forcing.ForcingContext(settings=settings, s3=services.s3(), db=services.db, local_files=[])
    return forcing.resolve_forcing(
        ctx, lat=p.latitude, lon=p.longitude, start_time=p.start_time, end_time=p.end_of_run,
        wind=p.wind, current=p.current, reach_m=forcing.seed_reach_m(p),
    )  # fmt: skip


def test_a_required_source_answering_garbage_is_a_bounded_error_naming_it_not_an_outage(
    services, garbage, catalog, tmp_path
):
    catalog(garbage.url())
    with pytest.raises(ForcingSourceMalformed) as e:
        resolve(services, tmp_path, (f"127.0.0.1:{garbage.port}",))
    assert not is_outage(e.value)  # so the worker counts the attempts and ends it
    assert garbage.url() in str(e.value) and "malformed" in str(e.value) and "\n" not in str(e.value)


def test_a_required_source_that_closes_every_connection_is_still_waited_for(services, catalog, tmp_path):
    closing = RawServer("close")
    try:
        catalog(closing.url())
        with pytest.raises(ForcingSourceUnavailable) as e:
            resolve(services, tmp_path, (f"127.0.0.1:{closing.port}",))
    finally:
        closing.close()
    assert is_outage(e.value) and not isinstance(e.value, ForcingSourceMalformed)


def test_daemon_fails_the_mission_after_max_attempts_naming_the_source(services, spawn, garbage, catalog):
    catalog(garbage.url())
    queue = f"malformed-{uuid.uuid4().hex[:8]}"
    remote = {"FORCING_REMOTE_HOSTS": "127.0.0.1", "FORCING_REMOTE_TIMEOUT_S": "2", "MAX_ATTEMPTS": "3"}
    worker = spawn(services, queue, "malformed-1", **remote)
    mid = push_job(services, queue, PARAMS)
    row = wait_status(services, mid, statuses=("failed", "completed"), timeout_s=120)
    assert row["status"] == "failed", row
    error = row["error_message"]
    assert error.startswith(f"required remote forcing source {garbage.url()} answered malformed data"), error
    assert error.endswith("(after 3 attempts)") and "\n" not in error, error
    assert worker.log().count(f"Mission {mid} started in job process") == 3
    assert garbage.requests >= 3  # each attempt asked the source again
    assert worker.proc.poll() is None
