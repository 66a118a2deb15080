"""Fault injection on real services: crashes, signals, time limits, outages, hostile input."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid

import pytest

from tests.conftest import Services, apply_schema, mission, push_job, queue_keys, results, wait_for, wait_status
from tests.e2e.test_daemon import PRODUCT_FILES
from tests.services import MotoServer, PostgresServer, RedisServer, Worker

# ~10 s of simulation on this machine: long enough to hit a job in the middle.
LONG = {
    "latitude": 60.0,
    "longitude": 4.0,
    "start_time": "2024-01-01T00:00:00Z",
    "duration_hours": 48,
    "num_particles": 5000,
    "wind": {"speed_ms": 8, "from_deg": 250},
    "current": {"speed_ms": 0.2, "to_deg": 90},
}
SHORT = {
    "latitude": 60.0,
    "longitude": 4.0,
    "start_time": "2024-01-01T00:00:00Z",
    "duration_hours": 2,
    "num_particles": 50,
}


def new_queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


def job_pid(worker: Worker, mission_id: str) -> int:
    match = wait_for(
        lambda: re.search(rf"Mission {mission_id} started in job process (\d+)", worker.log()),
        60,
        "the job process to start",
    )
    return int(match.group(1))


def assert_queue_empty(services: Services, queue: str) -> None:
    """Queue, delayed set, processing lists and outbox drain (the ack follows the status write closely)."""

    def left() -> dict:
        return {k: v for k, v in queue_keys(services, queue).items() if v > 0 and not k.endswith(":dead")}

    try:
        wait_for(lambda: not left(), 10, "the queue keys to drain")
    except AssertionError:
        assert left() == {}


@pytest.mark.faults
def test_kill_9_of_the_worker_holding_a_job_another_worker_completes_it_once(services, tmp_path, spawn):
    q = new_queue()
    starting = [spawn(services, q, name, wait=False) for name in ("one", "two")]
    workers = {w.env["WORKER_ID"]: w.wait_ready() for w in starting}
    mid = push_job(services, q, LONG)
    holder = wait_for(
        lambda: next((k for k, w in workers.items() if f"Mission {mid} started" in w.log()), None),
        30,
        "a worker to take the job",
    )
    victim = workers.pop(holder)
    ((rescuer_id, rescuer),) = workers.items()
    time.sleep(2)  # mid-simulation
    os.kill(victim.proc.pid, signal.SIGKILL)  # only the supervisor: its orphaned job process must stop by itself
    killed = time.monotonic()
    victim.proc.wait()
    row = wait_status(services, mid, ("completed",), timeout_s=60)
    took = time.monotonic() - killed
    assert took <= 60 and row["worker_id"] == rescuer_id
    assert len(results(services, mid)) == len(PRODUCT_FILES)  # one row per file
    assert f"Requeued 1 job(s) held by dead worker {holder}" in rescuer.log()
    rescuer.wait_log(f"Mission {mid} completed successfully", 10)
    time.sleep(1)
    assert rescuer.log().count(f"Mission {mid} completed successfully") == 1
    assert f"Mission {mid} completed successfully" not in victim.log()  # the orphan did not finish it
    assert_queue_empty(services, q)
    assert services.redis().llen(f"{q}:dead") == 0
    assert rescuer.stop() == 0
    victim.kill_group()
    print(f"kill -9: mission completed by the second worker {took:.1f} s after the kill")


def test_sigterm_lets_the_running_job_finish_and_exits_0(services, tmp_path, spawn):
    q = new_queue()
    w = spawn(services, q, "drain", SHUTDOWN_GRACE_S="60")
    mid = push_job(services, q, LONG)
    job_pid(w, mid)
    w.signal(signal.SIGTERM)
    started = time.monotonic()
    assert w.proc.wait(timeout=70) == 0
    assert time.monotonic() - started < 60
    assert mission(services, mid)["status"] == "completed"
    assert_queue_empty(services, q)


@pytest.mark.faults
def test_sigterm_past_the_grace_period_requeues_the_job_at_the_head(services, tmp_path, spawn):
    q = new_queue()
    w = spawn(services, q, "impatient", SHUTDOWN_GRACE_S="1")
    mid = push_job(services, q, LONG)
    job_pid(w, mid)
    later = push_job(services, q, SHORT)
    w.signal(signal.SIGTERM)
    assert w.proc.wait(timeout=30) == 0
    r = services.redis()
    queued = [json.loads(x)["mission_id"] for x in r.lrange(q, 0, -1)]
    assert queued == [mid, later]  # interrupted job first
    assert r.llen(f"{q}:processing:impatient") == 0 and not r.exists(f"{q}:heartbeat:impatient")
    assert "interrupted by shutdown: returned to the head of the queue" in w.log()
    w2 = spawn(services, q, "next")
    assert wait_status(services, mid, ("completed",), 120)["status"] == "completed"
    assert wait_status(services, later, ("completed",), 60)["status"] == "completed"
    assert w2.stop() == 0


def test_second_signal_stops_at_once_still_requeueing(services, tmp_path, spawn):
    q = new_queue()
    w = spawn(services, q, "hasty", SHUTDOWN_GRACE_S="120")
    mid = push_job(services, q, LONG)
    job_pid(w, mid)
    w.signal(signal.SIGTERM)
    time.sleep(0.5)
    w.signal(signal.SIGINT)
    assert w.proc.wait(timeout=15) == 0
    assert [json.loads(x)["mission_id"] for x in services.redis().lrange(q, 0, -1)] == [mid]


def test_a_job_process_killed_by_sigkill_is_retried_and_completes(services, shared_worker):
    q = shared_worker.env["QUEUE_NAME"]
    mid = push_job(services, q, LONG)
    pid = job_pid(shared_worker, mid)
    os.kill(pid, signal.SIGKILL)
    row = wait_status(services, mid, ("completed",), 120)
    assert row["attempts"] == 2
    assert f"Mission {mid} attempt 1/3 failed: job process died (signal SIGKILL)" in shared_worker.log()


def test_a_job_over_its_time_limit_is_stopped_and_dead_lettered(services, tmp_path, spawn):
    q = new_queue()
    w = spawn(services, q, "strict", JOB_TIMEOUT_S="6")
    mid = push_job(services, q, SHORT)  # well inside the limit by its estimate...
    os.kill(job_pid(w, mid), signal.SIGSTOP)  # ...but it hangs: the supervisor must stop it at the deadline
    row = wait_status(services, mid, timeout_s=60)
    assert row["status"] == "failed" and "time limit of 6 s" in row["error_message"]
    dead = [json.loads(x) for x in services.redis().lrange(f"{q}:dead", 0, -1)]
    assert dead and dead[0]["reason"] == "timeout" and dead[0]["mission_id"] == mid
    ok = push_job(services, q, SHORT)
    assert wait_status(services, ok)["status"] == "completed"
    assert w.stop() == 0


def test_redis_restart_while_idle_and_while_busy(services, tmp_path, spawn):
    redis_server = RedisServer()
    redis_server.start()
    try:
        local = Services(redis_server.url, services.database_url, services.s3_endpoint, services.tmp)
        q = new_queue()
        w = spawn(local, q, "survivor")
        redis_server.stop()  # idle
        w.wait_log("Redis connection error", 30)
        time.sleep(3)
        assert w.proc.poll() is None
        redis_server.start()
        mid = push_job(local, q, SHORT)
        assert wait_status(local, mid, timeout_s=90)["status"] == "completed"
        busy = push_job(local, q, LONG)  # busy: Redis disappears while the job runs
        job_pid(w, busy)
        redis_server.stop()
        time.sleep(4)
        redis_server.start()
        assert wait_status(local, busy, timeout_s=120)["status"] == "completed"
        errors = w.log().count("Redis connection error")
        assert 2 <= errors < 60, f"{errors} error lines: a busy loop?"
        assert w.stop() == 0
    finally:
        redis_server.cleanup()


def test_postgres_down_at_the_end_of_a_mission_completes_without_rerun(services, tmp_path, spawn):
    pg = PostgresServer().init().start()
    try:
        apply_schema(pg.url)
        local = Services(services.redis_url, pg.url, services.s3_endpoint, services.tmp)
        q = new_queue()
        w = spawn(local, q, "patient")
        mid = push_job(local, q, LONG)
        job_pid(w, mid)
        wait_status(local, mid, ("processing",), 30)
        w.wait_log(f"Forcing for mission {mid}", 60)  # past the catalog query: the simulation is running
        pg.stop()
        w.wait_log("kept in the Redis status outbox", 120)
        assert services.redis().llen(f"{q}:status_outbox") >= 1
        pg.start()
        row = wait_status(local, mid, ("completed",), 60)
        assert row["attempts"] == 1 and len(results(local, mid)) == len(PRODUCT_FILES)
        assert w.log().count("Simulated 5000 particles") == 1  # no second simulation
        assert services.redis().llen(f"{q}:status_outbox") == 0
        assert w.stop() == 0
    finally:
        pg.cleanup()


def test_s3_refusing_connections_requeues_and_completes_when_it_returns(services, tmp_path, spawn):
    moto = MotoServer().start()
    try:
        local = Services(services.redis_url, services.database_url, moto.url, services.tmp)
        q = new_queue()
        w = spawn(local, q, "s3-waiter")
        moto.stop()
        mid = push_job(local, q, SHORT)
        w.wait_log(f"Mission {mid} waits for a service", 120)
        row = mission(local, mid)
        assert row["status"] in ("queued", "processing") and "S3" in (row["error_message"] or "S3")
        assert services.redis().llen(f"{q}:dead") == 0
        moto.start()  # same port, empty: the worker recreates its bucket
        assert wait_status(local, mid, ("completed",), 120)["status"] == "completed"
        assert w.stop() == 0
    finally:
        moto.stop()


def test_two_workers_twenty_jobs_no_loss_no_duplicates(services, tmp_path, spawn):
    q = new_queue()
    a, b = (spawn(services, q, name, wait=False) for name in ("pair-a", "pair-b"))
    a.wait_ready(), b.wait_ready()
    ids = [push_job(services, q, {**SHORT, "num_particles": 100 + i}) for i in range(20)]
    for mid in ids:
        row = wait_status(services, mid, ("completed",), 180)
        assert row["attempts"] == 1
        assert len(results(services, mid)) == len(PRODUCT_FILES)  # one row per file
    time.sleep(1)
    logs = a.log() + b.log()
    for mid in ids:
        assert logs.count(f"Mission {mid} completed successfully") == 1
    assert "pair-a" in logs and a.log().count("completed successfully") > 0 and b.log().count("completed successfully")
    assert_queue_empty(services, q)
    assert a.stop() == 0 and b.stop() == 0


BAD_BODIES = {
    "not_json": b"{this is not json",
    "not_object": b'["a", "list"]',
    "missing_id": json.dumps({"params": SHORT}).encode(),
    "path_trick_id": json.dumps({"mission_id": "../../etc", "params": SHORT}).encode(),
    "huge_body": b'{"mission_id": "' + str(uuid.UUID(int=7)).encode() + b'", "x": "' + b"x" * 10_000_000 + b'"}',
}
BAD_PARAMS = {
    "params_missing": (None, "params"),
    "params_wrong_type": ("params", "params"),
    "lat_string": ({"latitude": "north"}, "latitude"),
    "lat_nan": ({"latitude": float("nan")}, "latitude"),
    "lon_infinite": ({"longitude": float("inf")}, "longitude"),
    "lat_out_of_range": ({"latitude": -91}, "latitude"),
    "lon_out_of_range": ({"longitude": 181}, "longitude"),
    "particles_zero": ({"num_particles": 0}, "num_particles"),
    "particles_negative": ({"num_particles": -3}, "num_particles"),
    "particles_over_cap": ({"num_particles": 10**6}, "num_particles"),
    "duration_zero": ({"duration_hours": 0}, "duration_hours"),
    "duration_negative": ({"duration_hours": -5}, "duration_hours"),
    "duration_over_cap": ({"duration_hours": 10000}, "duration_hours"),
    "object_unknown": ({"object_type": "UFO-1"}, "object_type"),
    "start_time_bad": ({"start_time": "31/12/2024 noon"}, "start_time"),
    "unknown_key": ({"colour": "orange"}, "colour"),
    "sql_injection_key": ({"latitude'; DROP TABLE missions; --": 1}, "unknown params"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_hostile_body_is_dead_lettered_and_worker_continues(services, shared_worker, case):
    q = shared_worker.env["QUEUE_NAME"]
    r = services.redis()
    before = r.llen(f"{q}:dead")
    r.rpush(q, BAD_BODIES[case])
    wait_for(lambda: r.llen(f"{q}:dead") > before, 30, "the dead letter")
    record = json.loads(r.lindex(f"{q}:dead", -1))
    assert record["reason"] == "invalid_job" and record["error"] and "\n" not in record["error"]
    if case == "huge_body":
        assert record["body_truncated"] and "limit" in record["error"]
        assert mission(services, str(uuid.UUID(int=7))) is None  # rejected before parsing
    good = push_job(services, q, SHORT)
    assert wait_status(services, good)["status"] == "completed"


@pytest.mark.parametrize("case", sorted(BAD_PARAMS))
def test_bad_params_fail_the_mission_with_a_precise_message(services, shared_worker, case):
    q = shared_worker.env["QUEUE_NAME"]
    change, word = BAD_PARAMS[case]
    mid = str(uuid.uuid4())
    if change is None:
        body = json.dumps({"mission_id": mid})
    elif change == "params":
        body = json.dumps({"mission_id": mid, "params": "latitude=60"})
    else:
        body = json.dumps({"mission_id": mid, "params": {**SHORT, **change}})
    push_job(services, q, raw=body)
    row = wait_status(services, mid, timeout_s=30)
    assert row["status"] == "failed" and word in row["error_message"], row["error_message"]
    assert "\n" not in row["error_message"] and "Traceback" not in row["error_message"]
    dead = [json.loads(x) for x in services.redis().lrange(f"{q}:dead", -5, -1)]
    assert any(d["mission_id"] == mid for d in dead)
    conn = services.db()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM missions")  # the table survived any injection attempt
        assert cur.fetchone()[0] >= 1
    good = push_job(services, q, SHORT)
    assert wait_status(services, good)["status"] == "completed"
