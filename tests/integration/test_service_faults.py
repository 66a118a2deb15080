"""Service faults that are not connection errors, injected for real on throwaway servers.

The supervisor runs in the test process (tests/inprocess.py): each fault is met by its own code
(`_run_once`, `_record`, `_until_ready`), and each test shows the fault logged in one line, the worker
unhealthy while it lasts, nothing dead-lettered, and the worker resuming by itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
import uuid

import psycopg2
import pytest

from config import Settings
from driftline.db import MissionStore
from driftline.errors import DatabaseUnavailable, StorageUnavailable
from tests.conftest import Services, apply_schema
from tests.inprocess import forget_running, inprocess_worker
from tests.services import BlackHole, FakeS3, PostgresServer, RedisServer
from worker import Backoff

SHORT = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 2}
FAST = dict(HEARTBEAT_TTL_S="3", POLL_INTERVAL="0.5", RETRY_BASE_S="0.1", RETRY_MAX_S="0.5")  # io timeout: 1 s


def settings_for(services: Services, **env: str) -> Settings:
    return Settings.from_env(services.env(f"q-{uuid.uuid4().hex[:8]}", f"w-{uuid.uuid4().hex[:6]}", **{**FAST, **env}))


def body(mission_id: str | None = None) -> bytes:
    return json.dumps({"mission_id": mission_id or str(uuid.uuid4()), "params": SHORT}).encode()


def up(worker) -> float:
    return worker.metrics.registry.get_sample_value("drift_worker_up")


@pytest.fixture
def redis_server():
    server = RedisServer(
        "--enable-debug-command",
        "yes",
        "--enable-protected-configs",
        "yes",
        "--loading-process-events-interval-bytes",
        "1024",
    ).start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def pg():
    server = PostgresServer().init().start()
    apply_schema(server.url)
    yield server
    server.cleanup()


def admin(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


@pytest.fixture(autouse=True)
def info_logs(caplog):
    caplog.set_level(logging.INFO, logger="driftline")


def run_through_fault(worker, caplog, expect: str) -> None:
    """Loop steps while the fault lasts: one line each, unhealthy, never raising, nothing dead-lettered."""
    backoff = Backoff(0.05, 0.2)
    for _ in range(3):
        worker.run_once(backoff)  # must not raise
    lines = [r.getMessage() for r in caplog.records if r.name == "driftline.worker" and r.levelno >= logging.ERROR]
    assert lines and all(re.search(expect, line) and "\n" not in line for line in lines), lines
    assert up(worker) == 0


def resumes(worker, raw: bytes) -> None:
    """After the fault: the next step takes the waiting job (recorded launch) and reports healthy again."""
    worker.queue.r.rpush(worker.s.queue_name, raw)
    deadline = time.monotonic() + 10
    while not worker.running and time.monotonic() < deadline:
        worker.run_once(Backoff(0.05, 0.2))
    assert worker.running and up(worker) == 1
    assert worker.queue.r.llen(worker.s.dead_queue) == 0
    forget_running(worker)


# --- Redis error answers ----------------------------------------------------------------------------------------
def test_redis_oom_at_maxmemory_is_waited_out(services, redis_server, caplog):
    worker = inprocess_worker(settings_for(services, REDIS_URL=redis_server.url))
    admin_r = worker.queue.r
    admin_r.config_set("maxmemory-policy", "noeviction")
    admin_r.config_set("maxmemory", "1")
    run_through_fault(worker, caplog, r"Redis error answer \(OutOfMemoryError\): .*maxmemory")
    admin_r.config_set("maxmemory", "0")
    resumes(worker, body())


def test_redis_readonly_replica_after_a_failover_is_waited_out(services, redis_server, caplog):
    primary = RedisServer().start()
    try:
        worker = inprocess_worker(settings_for(services, REDIS_URL=redis_server.url))
        worker.queue.r.replicaof("127.0.0.1", primary.port)
        run_through_fault(worker, caplog, r"Redis error answer \(ReadOnlyError\): .*read only replica")
        worker.queue.r.replicaof("NO", "ONE")
        resumes(worker, body())
    finally:
        primary.cleanup()


def test_redis_misconf_when_its_disk_is_full_is_waited_out(services, redis_server, caplog):
    worker = inprocess_worker(settings_for(services, REDIS_URL=redis_server.url))
    r = worker.queue.r
    r.config_set("save", "3600 1")  # MISCONF needs save points and a failed background save
    r.config_set("dir", "/proc")  # nothing can be written there, not even by root
    r.bgsave()
    deadline = time.monotonic() + 10
    while r.info("persistence")["rdb_last_bgsave_status"] != "err" and time.monotonic() < deadline:
        time.sleep(0.05)
    run_through_fault(worker, caplog, r"Redis error answer \(ResponseError\): .*MISCONF")
    r.config_set("dir", redis_server.dir)
    r.bgsave()
    while r.info("persistence")["rdb_last_bgsave_status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.05)
    resumes(worker, body())


def test_redis_loading_its_dataset_after_a_restart_is_waited_out(services, redis_server, caplog):
    worker = inprocess_worker(settings_for(services, REDIS_URL=redis_server.url))
    r = worker.queue.r
    r.execute_command("DEBUG", "POPULATE", "12000")
    r.save()
    r.config_set("key-load-delay", "100")  # µs per key: over a second of LOADING answers
    reload = threading.Thread(target=lambda: RedisClient(redis_server).execute_command("DEBUG", "RELOAD"))
    reload.start()
    time.sleep(0.3)
    run_through_fault(worker, caplog, r"Redis still loading its dataset \(BusyLoadingError\)")
    reload.join(30)
    r.config_set("key-load-delay", "0")
    resumes(worker, body())


def RedisClient(server):  # noqa: N802 - a second client for the blocking DEBUG RELOAD
    import redis

    return redis.Redis.from_url(server.url, socket_timeout=60)


def test_a_black_holed_redis_costs_one_bounded_step_per_retry(services, caplog):
    hole = BlackHole()
    try:
        worker = inprocess_worker(settings_for(services, REDIS_URL=f"redis://127.0.0.1:{hole.port}/0"))
        started = time.monotonic()
        worker.run_once(Backoff(0.05, 0.1))
        took = time.monotonic() - started
        assert took < worker.s.io_timeout_s * 2 + 1, took  # the failing call, then the pause's heartbeat try
        assert "Redis connection error" in caplog.text and up(worker) == 0
    finally:
        hole.close()


# --- PostgreSQL -------------------------------------------------------------------------------------------------
def pg_services(services: Services, pg) -> Services:
    return Services(services.redis_url, pg.url, services.s3_endpoint, services.tmp)


def outboxed(worker, caplog, mission_id: str) -> None:
    """An invalid job under the fault: dead-lettered (invalid, not the fault's doing), its status parked."""
    raw = json.dumps({"mission_id": mission_id, "params": {**SHORT, "latitude": 91}}).encode()
    worker.queue.r.rpush(worker.s.queue_name, raw)
    worker.admission.take(worker.queue.claim(0))
    assert json.loads(worker.queue.r.lindex(worker.s.dead_queue, -1))["reason"] == "invalid_job"
    assert worker.queue.r.llen(worker.s.status_outbox) == 1
    assert "kept in the Redis status outbox" in caplog.text


def drained(worker, pg, mission_id: str) -> None:
    worker.status.drain_outbox()
    assert worker.queue.r.llen(worker.s.status_outbox) == 0
    with admin(pg.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM missions WHERE id = %s", (mission_id,))
        assert cur.fetchone() == ("failed",)


def test_postgres_read_only_after_a_failover_parks_status_and_reports_unhealthy(services, pg, caplog):
    from driftline.health import check_health

    worker = inprocess_worker(settings_for(pg_services(services, pg)))
    conn = admin(pg.url)
    try:
        with conn.cursor() as cur:
            cur.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            cur.execute("SELECT pg_reload_conf()")
        time.sleep(0.3)
        mid = str(uuid.uuid4())
        outboxed(worker, caplog, mid)
        assert "read-only transaction" in caplog.text
        assert "read-only" in (check_health(worker.s) or "")
    finally:
        with conn.cursor() as cur:
            cur.execute("ALTER SYSTEM RESET default_transaction_read_only")
            cur.execute("SELECT pg_reload_conf()")
        conn.close()
    time.sleep(0.3)
    drained(worker, pg, mid)


def test_postgres_admin_shutdown_of_our_session_is_one_retry(services, pg, caplog):
    worker = inprocess_worker(settings_for(pg_services(services, pg)))
    assert worker.store.status(str(uuid.uuid4())) is None  # connected
    with admin(pg.url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'driftline-worker'"
        )
    mid = str(uuid.uuid4())
    outboxed(worker, caplog, mid)
    assert "terminating connection due to administrator command" in caplog.text
    drained(worker, pg, mid)  # reconnected by itself


def test_postgres_statement_timeout_behind_a_held_lock(services, pg, caplog):
    worker = inprocess_worker(settings_for(pg_services(services, pg)))
    locker = psycopg2.connect(pg.url)
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE missions IN ACCESS EXCLUSIVE MODE")  # held until rollback
        mid = str(uuid.uuid4())
        started = time.monotonic()
        outboxed(worker, caplog, mid)
        assert time.monotonic() - started < 3 * worker.s.io_timeout_s  # status read + write, each cut at 1 s
        assert "statement timeout" in caplog.text
    finally:
        locker.rollback()
        locker.close()
    drained(worker, pg, mid)


def test_a_frozen_postgres_backend_is_cut_off_by_the_client_side_bound(services, pg):
    store = MissionStore(pg.url, io_timeout_s=1.0)
    with store.transaction() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    os.kill(backend, signal.SIGSTOP)  # the server process stops answering; TCP stays up
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="did not answer within 1 s|connection already closed"):
            store.status(str(uuid.uuid4()))
        assert time.monotonic() - started < 2.5
    finally:
        os.kill(backend, signal.SIGCONT)
    assert store.status(str(uuid.uuid4())) is None  # a new connection next time


def waits_then_connects(worker, caplog, fix, service: str, why: str) -> None:
    """The start path waits through the fault (it used to exit 1), then connects once `fix` ran."""
    fixer = threading.Timer(1.0, fix)
    fixer.start()
    worker.startup.connect()
    fixer.join()
    assert f"{service} not ready: " in caplog.text and why in caplog.text
    assert f"Connected to {service}" in caplog.text and up(worker) == 1
    worker.queue.unregister()


def test_a_black_holed_postgres_and_postgres_down_at_start_are_waited_for(services, pg, caplog):
    hole = BlackHole()
    pg.stop()
    try:
        worker = inprocess_worker(settings_for(services, DATABASE_URL=f"postgresql://x@127.0.0.1:{hole.port}/x"))
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            worker.store.check_schema()
        assert time.monotonic() - started < 2.5
        # Down at start: the worker waits and connects once PostgreSQL is up.
        worker = inprocess_worker(settings_for(services, DATABASE_URL=pg.url))
        waits_then_connects(worker, caplog, pg.start, "PostgreSQL", "PostgreSQL unreachable")
    finally:
        hole.close()
        if not os.path.exists(pg.data / "postmaster.pid"):
            pg.start()


# --- S3 -----------------------------------------------------------------------------------------------------------
S3_FAULTS = ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "RequestTimeTooSkewed"]


def test_s3_credential_and_clock_errors_are_outages_not_failed_missions(services, tmp_path):
    from botocore.exceptions import ClientError

    from driftline.objects import S3Store, ensure_buckets, make_s3_client, translate_s3_error

    fake = FakeS3()
    try:
        s = settings_for(services, S3_ENDPOINT=fake.url)
        client = make_s3_client(s, connect_timeout_s=1, read_timeout_s=1, attempts=1)
        product = tmp_path / "p.json"
        product.write_text("{}")
        for code in S3_FAULTS:
            fake.error = (403, code)
            with pytest.raises(ClientError) as refused:
                client.put_object(Bucket="driftline-results", Key="m/p.json", Body=b"{}")
            error = translate_s3_error(refused.value, "upload of m/p.json")
            assert isinstance(error, StorageUnavailable) and code in str(error)
            with pytest.raises(StorageUnavailable, match="credentials or clock"):
                ensure_buckets(client, ["driftline-results"])  # HEAD: a bare 403
        fake.error = (403, "AccessDenied")
        with pytest.raises(StorageUnavailable, match="AccessDenied"):  # the job process's upload path
            S3Store(s, client).put("summary", "m/p.json", product)
    finally:
        fake.close()


def test_s3_refusing_credentials_at_start_is_waited_out(services, caplog):
    fake = FakeS3()
    try:
        fake.error = (403, "InvalidAccessKeyId")
        worker = inprocess_worker(settings_for(services, S3_ENDPOINT=fake.url))
        waits_then_connects(
            worker, caplog, lambda: setattr(fake, "error", None), "S3", "refused the worker's credentials"
        )
    finally:
        fake.close()


def test_a_stop_signal_while_waiting_for_a_service_at_start_exits_cleanly(services):
    hole = BlackHole()
    try:
        worker = inprocess_worker(settings_for(services, DATABASE_URL=f"postgresql://x@127.0.0.1:{hole.port}/x"))
        threading.Timer(1.5, lambda: setattr(worker, "signals", 1)).start()
        with pytest.raises(SystemExit) as stop:
            worker.startup.connect()
        assert stop.value.code == 0
    finally:
        hole.close()


# --- the job's disk -----------------------------------------------------------------------------------------------
def test_a_full_disk_in_the_job_is_a_retryable_outage_not_a_failed_mission(services, caplog):
    from driftline.jobproc import disk_full
    from worker import RunningJob

    try:
        with open("/dev/full", "wb") as fh:  # a real ENOSPC, as a full /tmp gives it
            fh.write(b"x" * 10)
    except OSError as e:
        error = disk_full(RuntimeError("NetCDF write failed").with_traceback(None))
        assert error is None
        wrapped = RuntimeError("NetCDF: HDF error")
        wrapped.__cause__ = e
        error = disk_full(wrapped)
    assert error is not None and error.reason == "disk_full" and "no space left" in str(error)
    worker = inprocess_worker(settings_for(services))
    raw = body()
    worker.queue.r.rpush(worker.s.processing_list(), raw)
    job = RunningJob(
        process=None, report=None, raw=raw, mission_id=json.loads(raw)["mission_id"], attempt=3, deadline=0
    )
    message = {"ok": False, "retryable": True, "reason": error.reason, "error": str(error)}
    worker.outcomes.finish(job, message)  # the last attempt: a failure would be dead-lettered now
    r = worker.queue.r
    assert r.llen(worker.s.dead_queue) == 0 and r.zcard(worker.s.delayed_queue) == 1
    assert "waits for a service: no space left on the worker's disk" in caplog.text
