"""The reconciler: PostgreSQL, not Redis, decides which missions still need a run.

Redis can lose data (restart without persistence, failover to a lagging replica, FLUSHALL). One
worker per queue at a time (a PostgreSQL advisory lock) looks for missions of its queue (or not
claimed yet) that are `queued` or `processing` in PostgreSQL, untouched for RECONCILE_AFTER_S,
whose mission id is in no Redis structure (queue, delayed set, processing lists, status outbox).
A mission seen missing on runs at least RECONCILE_AFTER_S apart is re-enqueued from the `params`
of its row; one whose params cannot make a valid job any more is marked failed with the reason.
"""

from __future__ import annotations

import json
import logging

from config import Settings
from driftline.contract.parse import extract_mission_id, parse_job
from driftline.errors import InvalidJob
from driftline.stored_params import job_params

log = logging.getLogger(__name__)
BATCH = 500
PRODUCER_WINDOW_S = 10.0  # after a Redis loss: a producer pushes within this long of its row insert


def reconcile(settings: Settings, store, queue, after_loss: bool = False) -> int:
    """Re-enqueue missions whose job Redis lost; returns how many were re-enqueued or failed.

    `after_loss`: Redis is known to have lost data (driftline/redis_loss.py) and every live worker has put
    its running jobs back since. Then a mission some claim touched is missing for good and is re-enqueued
    at once; one never claimed waits PRODUCER_WINDOW_S from its row insert, so a producer still between
    the insert and its push is never doubled.
    """
    suspects_key = settings.reconcile_suspects
    with store.transaction() as cur:
        if not store.lock_reconciler(cur, settings.queue_name):
            return 0  # another worker is reconciling
        after_s = PRODUCER_WINDOW_S if after_loss else settings.reconcile_after_s
        candidates = store.unfinished(cur, settings.queue_name, after_s, after_loss, BATCH)
        present = {extract_mission_id({"mission_id": i}) for i in queue.mission_ids()} if candidates else set()
        missing = {mid: params for mid, params in candidates.items() if mid not in present}
        if after_loss:
            due = list(missing)
        else:
            due = _due(queue.r, suspects_key, list(missing), settings.reconcile_after_s)
        for mid in due:
            _requeue_or_fail(store, cur, queue, settings, mid, missing[mid])
    return len(due)


def _due(r, key: str, missing: list[str], after_s: float) -> list[str]:
    """Remember when each mission was first seen missing; those missing for after_s are due.

    Stamps are on Redis's clock (TIME), the one all workers share, so clock skew between workers cannot
    make a mission due early or late."""
    sec, usec = r.time()
    now = sec + usec / 1e6
    seen = {k.decode(): float(v) for k, v in r.hgetall(key).items()}
    pipe = r.pipeline(transaction=True)
    pipe.delete(key)
    keep = {mid: seen.get(mid, now) for mid in missing if now - seen.get(mid, now) < after_s}
    if keep:
        pipe.hset(key, mapping=keep)
    pipe.execute()
    return [mid for mid in missing if mid not in keep]


def _requeue_or_fail(store, cur, queue, settings: Settings, mission_id: str, params: dict | None) -> None:
    body = job_body(mission_id, params, settings)
    if body is None:
        error = "the job was lost from the queue and the stored params cannot be re-enqueued"
        store.fail_lost(cur, mission_id, error)
        log.error("Mission %s failed: %s", mission_id, error)
        return
    queue.enqueue(body)
    store.requeue_lost(cur, mission_id, "re-enqueued: its job was lost from Redis")
    log.warning("Reconciler: mission %s is in PostgreSQL but its job is in no Redis list: re-enqueued", mission_id)


def job_body(mission_id: str, params: dict | None, settings: Settings) -> str | None:
    """A valid job body from a mission row's params (the producer's, or the worker's record of them)."""
    if not isinstance(params, dict):
        return None
    body = json.dumps({"mission_id": mission_id, "params": job_params(params, mission_id)})
    try:
        parse_job(body, settings)
    except InvalidJob:
        return None
    return body
