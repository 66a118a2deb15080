"""FLUSHALL under the real daemon with default timings. Missions of every scenario kind, with no
producer rows (their rows are the record a killed worker's claims left), are all back in the queue within 30 s
of the loss and completed once; a producer still between its row insert and its push is not doubled."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from config import Settings
from driftline.contract.parse import parse_job
from driftline.db import MissionStore
from tests.conftest import RESULTS_BUCKET, bucket_keys, mission, results
from tests.services import RedisServer

LAT, LON, START = 60.0, -3.0, "2024-01-01T00:00:00Z"
BASE = {"latitude": LAT, "longitude": LON, "start_time": START, "duration_hours": 3, "num_particles": 200,
        "time_step_minutes": 30, "output_step_minutes": 60}  # fmt: skip
BOX = {"type": "Polygon", "coordinates": [[[-3.1, 59.95], [-2.9, 59.95], [-2.9, 60.05], [-3.1, 60.05], [-3.1, 59.95]]]}
KINDS = {
    "point": {},
    "window": {"release_end_time": "2024-01-01T01:00:00Z"},
    "cone": {"end_latitude": 60.1, "end_longitude": -2.8, "end_radius_m": 2000, "end_time": "2024-01-01T01:00:00Z"},
    "area": {"area": BOX, "wind": {"speed_ms": 8, "from_deg": 300}},
    "backward": {"direction": "backward", "current": {"speed_ms": 0.5, "to_deg": 90}},
    "ensemble": {"ensemble": [{"current": {"speed_ms": 0.5, "to_deg": d}} for d in (0, 180)]},
    "mixed": {"object_type": [{"type": "PIW-1", "weight": 5}, {"type": "LIFE-RAFT-NB-1", "weight": 3}]},
    "search": {"search": {"units": [{"name": "R51", "speed_kn": 90, "sweep_width_nm": 1, "endurance_hours": 1,
                                     "commence_time": "2024-01-01T01:00:00Z"}]}},
    "drifters": {"drifters": [{"id": "SVP-1", "positions": [
        {"time": START, "lat": 60.0, "lon": -3.0}, {"time": "2024-01-01T02:00:00Z", "lat": 60.02, "lon": -2.95}]}]},
}  # fmt: skip
DEFAULTS = {"HEARTBEAT_TTL_S": "15", "REAPER_INTERVAL_S": "10", "POLL_INTERVAL": "5", "RECONCILE_AFTER_S": "120",
            "RETRY_BASE_S": "2", "RETRY_MAX_S": "60", "MAX_CONCURRENT_JOBS": "2"}  # fmt: skip


@pytest.fixture
def redis_server():
    server = RedisServer().start()  # its own: the test flushes it
    yield server
    server.cleanup()


def final_objects_match_rows(services, mid: str) -> None:
    """One result set: the objects under the mission's final prefix are exactly those its rows name."""
    named = {row["uri"].split(f"s3://{RESULTS_BUCKET}/", 1)[1] for row in results(services, mid).values()}
    assert named and set(bucket_keys(services, f"{mid}/")) == named


@pytest.mark.faults
def test_flushall_with_no_producer_rows_every_kind_back_within_30_s_and_completed_once(
    services, redis_server, spawn, record_property
):
    queue = f"loss-{uuid.uuid4().hex[:8]}"
    worker = spawn(services, queue, "survivor", REDIS_URL=redis_server.url, **DEFAULTS)
    r, store = redis_server_client(redis_server), MissionStore(services.database_url)
    settings = Settings.from_env({})
    ids = {}
    for kind, extra in KINDS.items():
        mid = ids[kind] = str(uuid.uuid4())
        body = json.dumps({"mission_id": mid, "params": {**BASE, **extra}})
        record = parse_job(body, settings).params.as_record()
        lease = f"{int(time.time() * 1e6) - 10**6:016x}-gone"
        assert store.mark_processing(mid, record, "gone", lease, 1, queue)  # a killed worker's claim
        r.rpush(f"{queue}:processing:gone", body)
    young = str(uuid.uuid4())
    store.ensure_queued(young, BASE)  # a producer between its row insert and its push
    r.flushall()
    lost_at = time.monotonic()
    time.sleep(3)
    r.rpush(queue, json.dumps({"mission_id": young, "params": BASE}))  # ... pushes now
    back_s, done_s = None, None
    deadline = lost_at + 240
    while time.monotonic() < deadline:
        rows = {k: mission(services, m) for k, m in ids.items()}
        if back_s is None and all(row["worker_id"] != "gone" or row["status"] == "queued" for row in rows.values()):
            back_s = time.monotonic() - lost_at
        if all(row["status"] in ("completed", "failed") for row in rows.values()):
            done_s = time.monotonic() - lost_at
            break
        time.sleep(0.2)
    failed = {k: row["error_message"] for k, row in rows.items() if row["status"] != "completed"}
    assert not failed, failed
    record_property("flushall_back_in_queue_s", round(back_s, 1))
    record_property("flushall_last_completion_s", round(done_s, 1))
    print(f"FLUSHALL: {len(ids)} missions back in the queue {back_s:.1f} s, last completed {done_s:.1f} s after")
    assert back_s <= 30, back_s
    for mid in ids.values():
        final_objects_match_rows(services, mid)
    young_row = wait_completed(services, young)
    assert young_row["attempts"] == 1
    assert worker.log().count(f"Received job from queue (mission {young}") == 1  # never enqueued twice
    for mid in ids.values():
        assert worker.log().count(f"Received job from queue (mission {mid}") == 1
    assert worker.proc.poll() is None


def redis_server_client(server):
    import redis

    return redis.Redis.from_url(server.url)


def wait_completed(services, mid: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = mission(services, mid)
        if row and row["status"] == "completed":
            return row
        time.sleep(0.2)
    raise AssertionError(f"mission {mid} not completed: {mission(services, mid)}")
