"""Redis losing its data is noticed at once and lost missions are re-enqueued without the usual waits,
never doubling a job a live worker still runs or one whose producer has not pushed it yet."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from config import Settings
from driftline.db import MissionStore
from tests.conftest import Services, mission
from tests.inprocess import inprocess_worker
from tests.services import RedisServer
from worker import RunningJob

SHORT = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 2}
AREA = {
    **SHORT,
    "area": {"type": "Polygon", "coordinates": [[[3.9, 59.9], [4.1, 59.9], [4.1, 60.1], [3.9, 60.1], [3.9, 59.9]]]},
}


@pytest.fixture
def redis_server():
    server = RedisServer().start()  # its own: the test flushes it
    yield server
    server.cleanup()


def settings_for(services: Services, redis_url: str, queue: str) -> Settings:
    return Settings(
        database_url=services.database_url,
        redis_url=redis_url,
        s3_endpoint=services.s3_endpoint,
        queue_name=queue,
        worker_id="survivor",
        heartbeat_ttl_s=2,
        reaper_interval_s=0.5,
        poll_interval_s=0.5,
    )


def maintain(w) -> None:
    w.housekeeping.next_maintenance = 0.0
    w.housekeeping.maintain()


def record(params: dict, mid: str) -> dict:
    from driftline.contract.parse import parse_job

    return parse_job(json.dumps({"mission_id": mid, "params": params}), Settings()).params.as_record()


def test_after_a_flushall_lost_missions_are_back_at_once_and_nothing_is_doubled(services, redis_server):
    queue = f"l-{uuid.uuid4().hex[:8]}"
    w = inprocess_worker(settings_for(services, redis_server.url, queue))
    r, store = w.queue.r, MissionStore(services.database_url)
    r.set(f"{queue}:epoch", 41)  # a Redis that served the fleet for a while
    maintain(w)
    lost_area, lost_point, running, young, old = (str(uuid.uuid4()) for _ in range(5))
    # no producer rows: the rows are the worker's record of claims (a worker killed -9 held them)
    store.mark_processing(lost_area, record(AREA, lost_area), "gone", f"{1:016x}-a", 1, queue)
    store.mark_processing(lost_point, record(SHORT, lost_point), "gone", f"{2:016x}-a", 2, queue)
    store.mark_processing(running, record(SHORT, running), "survivor", f"{3:016x}-a", 1, queue)
    raw = json.dumps({"mission_id": running, "params": SHORT}).encode()
    r.rpush(w.s.processing_list(), raw)
    w.running[1] = RunningJob(None, None, raw, running, 1, deadline=time.monotonic() + 600, lease=f"{3:016x}-a")
    store.ensure_queued(old, SHORT)  # a producer row whose job was pushed long ago
    conn = services.db()
    with conn.cursor() as cur:  # older than any other test's leftover rows: first in the reconciler's batch
        cur.execute("UPDATE missions SET updated_at = '2000-01-01' WHERE id = ANY(%s::uuid[])",
                    ([old, lost_area, lost_point],))  # fmt: skip
    conn.close()
    store.ensure_queued(young, SHORT)  # a producer between its row insert and its push
    r.flushall()
    lost_at = time.monotonic()
    maintain(w)  # notices the loss; puts its running job back at once
    assert r.lrange(w.s.processing_list(), 0, -1) == [raw]
    assert r.llen(queue) == 0  # not yet: live workers get half a TTL to put their jobs back
    while time.monotonic() < lost_at + w.housekeeping.loss.grace_s:
        time.sleep(0.05)
    maintain(w)
    mine = {lost_area, lost_point, running, young, old}  # (rows of other tests without a queue may join in)
    queued = sorted(m for b in r.lrange(queue, 0, -1) if (m := json.loads(b)["mission_id"]) in mine)
    assert queued == sorted([lost_area, lost_point, old]), queued  # not `running`, not `young`
    assert time.monotonic() - lost_at < 5
    for mid in (lost_area, lost_point, old):
        assert mission(services, mid)["status"] == "queued"
    r.rpush(queue, json.dumps({"mission_id": young, "params": SHORT}))  # the slow producer pushes now
    maintain(w)
    ids = [m for b in r.lrange(queue, 0, -1) if (m := json.loads(b)["mission_id"]) in mine]
    assert ids.count(young) == 1 and ids.count(running) == 0 and len(ids) == 4
    w.running.clear()
