"""Operator tool: push example drift jobs and inspect the queue (not a pytest module).

python test_worker.py                 push the example job (and insert its queued mission row)
python test_worker.py --multiple 5    push 5 jobs
python test_worker.py --wait          ...and wait for them, with a progress bar
python test_worker.py --check         queue, delayed, processing (per worker), dead-letter counts
python test_worker.py --clear         empty the queue
python test_worker.py --requeue-dead  move dead-letter jobs back to the queue
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

from config import ConfigError, Settings
from driftline.db import MissionStore
from driftline.errors import DriftError
from driftline.queue import REDIS_ERRORS, RedisQueue

EXAMPLE_PARAMS = {
    "latitude": 60.0,
    "longitude": -3.0,
    "start_time": "2024-01-01T12:00:00Z",
    "duration_hours": 24,
    "num_particles": 1000,
    "object_type": 1,
    "wind": {"speed_ms": 8.0, "from_deg": 270},
    "current": {"speed_ms": 0.3, "to_deg": 45},
}


def push(queue: RedisQueue, store: MissionStore | None, params: dict, mission_id: str | None = None) -> str:
    """Insert the queued mission row (if a database is configured), then RPUSH the job."""
    mission_id = mission_id or str(uuid.uuid4())
    if store is not None:
        try:
            store.ensure_queued(mission_id, params)
        except DriftError as e:
            print(f"warning: mission row not inserted ({e}); the worker will create it", file=sys.stderr)
    queue.r.rpush(queue.s.queue_name, json.dumps({"mission_id": mission_id, "params": params}))
    return mission_id


def check(queue: RedisQueue) -> None:
    stats = queue.stats()
    print(
        f"queue {queue.s.queue_name}: {stats['queued']} queued, {stats['delayed']} waiting to retry, "
        f"{sum(p['jobs'] for p in stats['processing'].values())} processing, {stats['dead']} dead, "
        f"{stats['status_outbox']} status updates waiting for PostgreSQL"
    )
    for worker, info in sorted(stats["processing"].items()):
        print(f"  processing on {worker}: {info['jobs']} ({'alive' if info['alive'] else 'heartbeat expired'})")
    for record in queue.r.lrange(queue.s.dead_queue, 0, 9):
        dead = json.loads(record)
        print(f"  dead: mission {dead.get('mission_id')} after {dead['attempts']} attempt(s): {dead['error']}")


def wait(store: MissionStore, mission_ids: list[str], timeout_s: float) -> int:
    """Poll PostgreSQL until every mission is completed or failed; print a progress bar."""
    deadline = time.monotonic() + timeout_s
    final: dict[str, tuple] = {}
    while len(final) < len(mission_ids) and time.monotonic() < deadline:
        with store.transaction() as cur:
            cur.execute(
                "SELECT id::text, status, progress, error_message, result_location FROM missions "
                "WHERE id = ANY(%s::uuid[])",
                (mission_ids,),
            )
            rows = {r[0]: r for r in cur.fetchall()}
        progress = [(rows[m][2] or 0.0) if m in rows else 0.0 for m in mission_ids]
        for m, row in rows.items():
            if row[1] in ("completed", "failed"):
                final[m] = row
        mean = sum(1.0 if m in final else p for m, p in zip(mission_ids, progress)) / len(mission_ids)
        print(
            f"\r[{'#' * int(mean * 40):<40}] {mean:4.0%}  {len(final)}/{len(mission_ids)} finished", end="", flush=True
        )
        time.sleep(0.5)
    print()
    for m in mission_ids:
        row = final.get(m)
        if row is None:
            print(f"{m}: not finished within {timeout_s:.0f} s")
        elif row[1] == "completed":
            print(f"{m}: completed -> {row[4]}")
        else:
            print(f"{m}: failed: {row[3]}")
    return 0 if len(final) == len(mission_ids) and all(r[1] == "completed" for r in final.values()) else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="print queue, processing and dead-letter counts")
    p.add_argument("--clear", action="store_true", help="empty the queue")
    p.add_argument("--requeue-dead", action="store_true", help="move dead-letter jobs back to the queue")
    p.add_argument("--multiple", type=int, metavar="N", help="push N jobs")
    p.add_argument("--wait", action="store_true", help="wait for the pushed missions and print their status")
    p.add_argument("--timeout", type=float, default=600, help="seconds --wait waits (default 600)")
    p.add_argument("--params", help="job params as JSON (default: the example job)")
    p.add_argument("--mission-id", help="mission UUID for a single job (default: new)")
    args = p.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    queue = RedisQueue(settings)
    store = MissionStore(settings.database_url) if settings.database_url else None
    try:
        if args.check:
            check(queue)
            return 0
        if args.clear:
            print(f"removed {queue.r.delete(settings.queue_name)} queue list ({settings.queue_name})")
            return 0
        if args.requeue_dead:
            print(f"requeued {queue.requeue_dead(store.requeue_failed if store else None)} dead job(s)")
            return 0
        params = json.loads(args.params) if args.params else EXAMPLE_PARAMS
        ids = [
            push(queue, store, params, args.mission_id if (args.multiple or 1) == 1 else None)
            for _ in range(args.multiple or 1)
        ]
        for mission_id in ids:
            print(f"pushed mission {mission_id}")
        if args.wait:
            if store is None:
                print("--wait needs DATABASE_URL", file=sys.stderr)
                return 2
            return wait(store, ids, args.timeout)
        return 0
    except REDIS_ERRORS as e:
        print(f"Redis connection error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
