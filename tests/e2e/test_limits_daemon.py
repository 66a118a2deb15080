"""The daemon refuses a job that cannot fit its memory budget at once, with the numbers (no job process starts)."""

from __future__ import annotations

import json

from tests.conftest import push_job, wait_status

HUGE = {"latitude": 57.0, "longitude": 3.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 240,
        "num_particles": 50000, "time_step_minutes": 2, "output_step_minutes": 2}  # fmt: skip


def test_an_over_budget_job_fails_at_once_naming_the_estimate_and_the_budget(services, shared_worker):
    q = shared_worker.env["QUEUE_NAME"]
    mid = push_job(services, q, HUGE)
    row = wait_status(services, mid, timeout_s=30)
    error = row["error_message"]
    assert row["status"] == "failed" and error.startswith("job too large: estimated memory"), error
    assert "50000 particles x 7201 outputs" in error and "MAX_JOB_MEMORY_MB=2300" in error
    assert "output_step_minutes" in error and "\n" not in error
    dead = [json.loads(x) for x in services.redis().lrange(f"{q}:dead", 0, -1)]
    assert any(d["mission_id"] == mid and d["reason"] == "too_large" for d in dead)
    assert f"Mission {mid} started in job process" not in shared_worker.log()
