"""Integration fixtures: real Redis, PostgreSQL and S3 servers, and the daemon as a subprocess.

TEST_REDIS_URL, TEST_DATABASE_URL and TEST_S3_ENDPOINT point the tests at existing
servers; otherwise throwaway ones are started from the installed binaries.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg2
import pytest
import redis
from hypothesis import settings as hypothesis_settings

from tests.services import ROOT, MotoServer, PostgresServer, RedisServer, Worker, free_port

RESULTS_BUCKET = "driftline-results"
FORCING_BUCKET = "driftline-forcing"

# CI (.ci/run) draws the same examples on every run, so a result there is the one seen here with the same
# profile; a developer's default run draws new ones each time and keeps exploring.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long benchmarks, not part of the default run")


@dataclass
class Services:
    redis_url: str
    database_url: str
    s3_endpoint: str
    tmp: Path

    def env(self, queue: str, worker_id: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            S3_ENDPOINT=self.s3_endpoint,
            S3_ACCESS_KEY="testing",
            S3_SECRET_KEY="testing",
            QUEUE_NAME=queue,
            WORKER_ID=worker_id,
            POLL_INTERVAL="1",
            METRICS_PORT="0",
            LOG_LEVEL="INFO",
            HEARTBEAT_TTL_S="6",
            REAPER_INTERVAL_S="2",
            RETRY_BASE_S="0.5",
            RETRY_MAX_S="2",
            SHUTDOWN_GRACE_S="30",
            FORCING_CACHE_DIR=str(self.tmp / f"cache-{worker_id}"),
            MPLBACKEND="Agg",
        )
        env.update(extra)
        return env

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def db(self):
        conn = psycopg2.connect(self.database_url)
        conn.autocommit = True
        return conn

    def s3(self):
        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )


@pytest.fixture(scope="session")
def services(tmp_path_factory) -> Services:
    started = []
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        server = RedisServer().start()
        started.append(server)
        redis_url = server.url
    database_url = os.environ.get("TEST_DATABASE_URL")
    if not database_url:
        pg = PostgresServer().init().start()
        started.append(pg)
        database_url = pg.url
    s3_endpoint = os.environ.get("TEST_S3_ENDPOINT")
    if not s3_endpoint:
        moto = MotoServer().start()
        started.append(moto)
        s3_endpoint = moto.url
    apply_schema(database_url)
    yield Services(redis_url, database_url, s3_endpoint, tmp_path_factory.mktemp("services"))
    for server in reversed(started):
        getattr(server, "cleanup", server.stop)()


def apply_schema(database_url: str) -> None:
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for path in sorted((ROOT / "sql" / "init").glob("*.sql")):
            cur.execute(path.read_text())
    conn.close()


@pytest.fixture(scope="session")
def shared_worker(services, tmp_path_factory):
    """One daemon for the tests that need a healthy worker (it is slow to warm up: ~12 s)."""
    queue = f"q-shared-{uuid.uuid4().hex[:8]}"
    log = tmp_path_factory.mktemp("logs") / "shared-worker.log"
    # Remote forcing tests serve OPeNDAP on 127.0.0.1: the IP literal allows loopback for the tests only.
    remote = {"FORCING_REMOTE_HOSTS": "127.0.0.1", "FORCING_REMOTE_TIMEOUT_S": "2"}
    env = services.env(queue, "shared-1", MAX_CONCURRENT_JOBS="2", METRICS_PORT=str(free_port()), **remote)
    worker = Worker(env, log).start()
    yield worker
    worker.stop()


@pytest.fixture
def spawn(tmp_path):
    """Start daemons for one test; whatever is still running at the end is killed with its process group."""
    started: list[Worker] = []

    def start(services: Services, queue: str, worker_id: str, wait: bool = True, **env: str) -> Worker:
        worker = Worker(services.env(queue, worker_id, **env), tmp_path / f"{worker_id}.log")
        started.append(worker)
        return worker.start(wait_ready=wait)

    yield start
    for worker in started:
        if worker.proc is not None and worker.proc.poll() is None:
            worker.kill_group()


def wait_for(predicate, timeout_s: float, what: str):
    """Poll predicate every 0.1 s until it returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def push_job(
    services: Services,
    queue: str,
    params: dict | None = None,
    mission_id: str | None = None,
    raw: str | bytes | None = None,
) -> str:
    mission_id = mission_id or str(uuid.uuid4())
    body = raw if raw is not None else json.dumps({"mission_id": mission_id, "params": params})
    services.redis().rpush(queue, body)
    return mission_id


def mission(services: Services, mission_id: str) -> dict | None:
    conn = services.db()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id::text, status, attempts, worker_id, error_message, result_location, progress, "
            "started_at, completed_at, params FROM missions WHERE id = %s",
            (mission_id,),
        )
        row = cur.fetchone()
    conn.close()
    if row is None:
        return None
    keys = (
        "id",
        "status",
        "attempts",
        "worker_id",
        "error_message",
        "result_location",
        "progress",
        "started_at",
        "completed_at",
        "params",
    )
    return dict(zip(keys, row))


def results(services: Services, mission_id: str) -> dict[str, dict]:
    conn = services.db()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT kind, uri, content_type, size_bytes, sha256 FROM mission_results WHERE mission_id = %s",
            (mission_id,),
        )
        rows = cur.fetchall()
    conn.close()
    return {r[0]: {"uri": r[1], "content_type": r[2], "size_bytes": r[3], "sha256": r[4]} for r in rows}


def wait_status(services: Services, mission_id: str, statuses=("completed", "failed"), timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    row = None
    while time.monotonic() < deadline:
        row = mission(services, mission_id)
        if row and row["status"] in statuses:
            return row
        time.sleep(0.1)
    raise AssertionError(f"mission {mission_id} not in {statuses} after {timeout_s} s: {row}")


def bucket_keys(services: Services, prefix: str) -> dict[str, int]:
    out = services.s3().list_objects_v2(Bucket=RESULTS_BUCKET, Prefix=prefix)
    return {o["Key"]: o["Size"] for o in out.get("Contents", [])}


def queue_keys(services: Services, queue: str) -> dict[str, int]:
    r = services.redis()
    keys = {k.decode(): k for k in r.scan_iter(match=f"{queue}*")}
    lengths = {}
    for name, key in keys.items():
        kind = r.type(key).decode()
        lengths[name] = r.llen(key) if kind == "list" else r.zcard(key) if kind == "zset" else -1
    return lengths
