"""Every call on the supervisor's main thread is bounded, so one maintenance step stays well
under the heartbeat TTL even when the object store black-holes the publication of parked completions."""

from __future__ import annotations

import time
import uuid

from config import Settings
from tests.conftest import RESULTS_BUCKET
from tests.inprocess import inprocess_worker
from tests.services import BlackHole

TTL_S = 6.0


def test_a_maintenance_step_with_a_black_holed_s3_and_parked_completions_stays_under_half_the_ttl(services):
    hole = BlackHole()
    try:
        s = Settings(
            database_url=services.database_url,
            redis_url=services.redis_url,
            s3_endpoint=f"http://127.0.0.1:{hole.port}",
            s3_access_key="testing",
            s3_secret_key="testing",
            queue_name=f"b-{uuid.uuid4().hex[:8]}",
            worker_id="bounded",
            heartbeat_ttl_s=TTL_S,
            reaper_interval_s=2,
            poll_interval_s=1,
        )
        w = inprocess_worker(s)
        for _ in range(3):  # completions parked while PostgreSQL was down; S3 now hangs on the copies
            mid = str(uuid.uuid4())
            w.queue.push_status(
                {"op": "completed", "mission_id": mid, "stored": [], "location": f"s3://{RESULTS_BUCKET}/{mid}/",
                 "lease": f"{int(time.time() * 1e6):016x}-park", "attempt": 1,
                 "staged": [[f".staging/{mid}/x/{mid}/products/summary.json", f"{mid}/products/summary.json"]]}
            )  # fmt: skip
        w.housekeeping.next_maintenance = w.housekeeping.next_reap = 0.0
        started = time.monotonic()
        w.housekeeping.maintain()
        took = time.monotonic() - started
        print(f"one maintenance step: {took:.2f} s (TTL {TTL_S:g} s)")
        assert took < TTL_S / 2, f"one maintenance step took {took:.1f} s with a {TTL_S:g} s heartbeat TTL"
        assert w.queue.r.pttl(s.heartbeat_key()) > 0  # still alive to the reapers
        assert w.queue.r.llen(s.status_outbox) == 3  # nothing lost: the items wait for S3
    finally:
        hole.close()
