"""Fenced failures through the real supervisor: the daemon as a subprocess. An invalid second body with a running
mission's id, or MAX_ATTEMPTS+1 copies of one body in flight on two workers, never fail the mission that a
running copy holds: it completes once, with its results."""

from __future__ import annotations

import json
import uuid

from tests.conftest import mission, push_job, results, wait_for, wait_status
from tests.e2e.test_redis_loss_daemon import final_objects_match_rows

# ~5-10 s of simulation on this machine: the copies overlap
RUNNING = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 24,
           "num_particles": 3000, "wind": {"speed_ms": 8, "from_deg": 250}}  # fmt: skip


def test_daemon_an_invalid_body_with_a_running_missions_id_leaves_it_running_and_completed(services, spawn):
    queue = f"fence-{uuid.uuid4().hex[:8]}"
    worker = spawn(services, queue, "fence-1", MAX_CONCURRENT_JOBS="2")
    mid = push_job(services, queue, RUNNING)
    worker.wait_log(f"Mission {mid} started in job process", 60)
    push_job(services, queue, {**RUNNING, "num_particles": -5}, mission_id=mid)  # same id, invalid params
    worker.wait_log("the mission is held by another copy", 30)
    assert mission(services, mid)["status"] == "processing"  # the invalid copy changed nothing
    row = wait_status(services, mid, timeout_s=180)
    assert row["status"] == "completed" and row["error_message"] is None, row
    dead = [json.loads(x) for x in services.redis().lrange(f"{queue}:dead", 0, -1)]
    assert [(d["reason"], d["mission_id"]) for d in dead] == [("invalid_job", mid)] and "num_particles" in dead[0][
        "error"
    ]
    assert results(services, mid)
    final_objects_match_rows(services, mid)
    assert worker.log().count(f"Mission {mid} completed successfully") == 1
    assert worker.proc.poll() is None


def test_daemon_max_attempts_plus_one_copies_in_flight_never_fail_the_mission(services, spawn):
    queue = f"fence-{uuid.uuid4().hex[:8]}"
    extra = {"MAX_CONCURRENT_JOBS": "2", "MAX_ATTEMPTS": "3"}
    workers = [spawn(services, queue, f"copies-{i}", wait=False, **extra) for i in range(2)]
    for w in workers:
        w.wait_ready()
    mid = str(uuid.uuid4())
    body = json.dumps({"mission_id": mid, "params": RUNNING})
    services.redis().rpush(queue, *[body] * 4)  # MAX_ATTEMPTS + 1 copies, as many as the two workers' slots

    def log() -> str:
        return "".join(w.log() for w in workers)

    wait_for(lambda: "a surplus copy (attempt 4) dropped" in log(), 60, "the fourth copy to stand down")
    row = wait_status(services, mid, timeout_s=240)
    assert row["status"] == "completed" and row["error_message"] is None, row
    wait_for(lambda: services.redis().llen(f"{queue}:processing:copies-0") == 0, 120, "every copy to end")
    wait_for(lambda: services.redis().llen(f"{queue}:processing:copies-1") == 0, 120, "every copy to end")
    assert services.redis().llen(f"{queue}:dead") == 0
    assert mission(services, mid)["status"] == "completed"
    final_objects_match_rows(services, mid)
    everything = log()
    assert everything.count(f"Mission {mid} started in job process") == 3
    assert everything.count(f"Mission {mid} completed successfully") == 1
    assert f"Mission {mid} failed" not in everything
    assert all(w.proc.poll() is None for w in workers)
