"""An invalid or surplus copy of a body never changes a mission another copy holds.

Both cases go through the supervisor's own start path (`DriftWorker._take`) on real Redis and PostgreSQL,
with job process launches recorded instead of forked.
"""

from __future__ import annotations

import json
import uuid

from config import Settings
from driftline.db import MissionStore
from tests.conftest import Services, mission
from tests.inprocess import forget_running, inprocess_worker

SHORT = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 2}


def settings_for(services: Services, queue: str, worker_id: str) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": services.database_url,
            "REDIS_URL": services.redis_url,
            "S3_ENDPOINT": services.s3_endpoint,
            "QUEUE_NAME": queue,
            "WORKER_ID": worker_id,
            "MAX_ATTEMPTS": "3",
        }
    )


def take(worker, raw: bytes) -> None:
    """Claim exactly this body (as BLMOVE would) and start it through the real start path."""
    worker.queue.r.rpush(worker.s.queue_name, raw)
    claimed = worker.queue.claim(0)
    assert claimed == raw
    worker.admission.take(claimed)


def lease_of(services: Services, mission_id: str) -> str | None:
    conn = services.db()
    with conn.cursor() as cur:
        cur.execute("SELECT lease FROM missions WHERE id = %s", (mission_id,))
        row = cur.fetchone()
    conn.close()
    return row[0] if row else None


def test_a_second_body_with_a_running_missions_id_and_invalid_params_does_not_fail_it(services):
    queue = f"f-{uuid.uuid4().hex[:8]}"
    a, b = (inprocess_worker(settings_for(services, queue, w)) for w in ("a", "b"))
    mid = str(uuid.uuid4())
    good = json.dumps({"mission_id": mid, "params": SHORT}).encode()
    bad = json.dumps({"mission_id": mid, "params": {**SHORT, "num_particles": -5}}).encode()
    take(a, good)
    assert a.running and mission(services, mid)["status"] == "processing"
    running_lease = lease_of(services, mid)
    take(b, bad)
    dead = [json.loads(x) for x in b.queue.r.lrange(b.s.dead_queue, 0, -1)]
    assert [(d["reason"], d["mission_id"]) for d in dead] == [("invalid_job", mid)]
    assert "num_particles" in dead[0]["error"]
    row = mission(services, mid)
    assert row["status"] == "processing" and lease_of(services, mid) == running_lease, row
    # the running copy's completion is still accepted
    assert MissionStore(services.database_url).mark_completed(mid, [], "s3://b/x/", None, running_lease)
    assert mission(services, mid)["status"] == "completed"
    forget_running(a)


def test_max_attempts_plus_one_copies_in_flight_never_fail_the_mission(services):
    queue = f"f-{uuid.uuid4().hex[:8]}"
    workers = [inprocess_worker(settings_for(services, queue, f"w{i}")) for i in range(4)]
    mid = str(uuid.uuid4())
    raw = json.dumps({"mission_id": mid, "params": SHORT}).encode()
    for w in workers:
        take(w, raw)
    r = workers[0].queue.r
    assert r.llen(workers[0].s.dead_queue) == 0, r.lrange(workers[0].s.dead_queue, 0, -1)
    assert [bool(w.running) for w in workers] == [True, True, True, False]  # the fourth copy stood down
    row = mission(services, mid)
    assert row["status"] == "processing" and row["attempts"] == 3, row
    assert MissionStore(services.database_url).mark_completed(mid, [], "s3://b/x/", None, lease_of(services, mid))
    assert mission(services, mid)["status"] == "completed"
    for w in workers:
        forget_running(w)


def test_a_real_crash_loop_is_still_dead_lettered_and_failed(services):
    """The fence does not hide the real case: three attempts each took their worker down, no copy is held."""
    queue = f"f-{uuid.uuid4().hex[:8]}"
    mid = str(uuid.uuid4())
    raw = json.dumps({"mission_id": mid, "params": SHORT}).encode()
    for i in range(4):
        w = inprocess_worker(settings_for(services, queue, f"c{i}"))
        take(w, raw)
        forget_running(w)
        w.queue.r.delete(w.s.processing_list())  # its worker died; the reaper moved the body back
    row = mission(services, mid)
    assert row["status"] == "failed" and "died with its worker in each of 3 attempts" in row["error_message"], row
