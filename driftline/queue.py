"""The Redis side of the reliable queue (the Lua scripts are driftline/lua/*.lua; key names: config.Settings).

Keys (all prefixed with QUEUE_NAME, default `drift_jobs`):
  drift_jobs                         pending jobs; producers RPUSH, workers take from the head
  drift_jobs:processing:<worker>     jobs a worker holds (BLMOVE target); removed only when finished
  drift_jobs:heartbeat:<worker>      set with a TTL while the worker lives
  drift_jobs:workers                 set of worker ids, for the reaper
  drift_jobs:delayed                 sorted set of jobs waiting for a retry, scored by due time
  drift_jobs:dead                    dead letters: JSON records with the job, reason and attempts
  drift_jobs:attempts                hash mission_id -> deliveries so far
  drift_jobs:status_outbox           status updates waiting for PostgreSQL to come back
  drift_jobs:status_outbox:lock      held by the one worker draining the outbox (token, with a TTL)
  drift_jobs:epoch                   a counter every worker increments: going back means Redis lost data
  drift_jobs:dead_dropped            dead letters dropped at the cap (oldest first)
  drift_jobs:reconcile_suspects      hash mission_id -> when the reconciler first saw it missing (Redis clock)
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis

from config import Settings
from driftline.contract.parse import extract_mission_id
from driftline.errors import QueueUnavailable

log = logging.getLogger(__name__)
# Every Redis failure is a service fault, not a job's: dropped connections and timeouts, but also error
# answers (OOM at maxmemory, MISCONF when its disk is full, READONLY after a failover, LOADING at restart).
REDIS_ERRORS = (redis.RedisError, ConnectionError, OSError)
DEAD_BODY_MAX = 65536
# The dead-letter list keeps the newest DEAD_LETTERS_MAX records (at most ~64 MiB): under `noeviction` a flood
# of bad bodies must not fill Redis and stall the fleet. Dropped records are counted in {queue}:dead_dropped.
DEAD_LETTERS_MAX = 1000

OUTBOX_LOCK_MS = 60_000
LUA_DIR = Path(__file__).with_name("lua")  # the Lua scripts, one per file


@functools.cache
def lua(name: str) -> str:
    """The text of driftline/lua/{name}.lua, read on first use (not at import)."""
    return (LUA_DIR / f"{name}.lua").read_text()


def connect(settings: Settings) -> redis.Redis:
    """A Redis client whose every call (the blocking claim included) ends within settings.io_timeout_s."""
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=min(5.0, settings.io_timeout_s),
        socket_timeout=settings.io_timeout_s,  # claim() blocks for less than this
        socket_keepalive=True,
        health_check_interval=30,
    )


def describe_redis_error(e: BaseException) -> str:
    """One line naming the kind of Redis fault (never the URL, which may hold a password)."""
    kind = "error answer" if isinstance(e, redis.ResponseError) else "connection error"
    if isinstance(e, redis.BusyLoadingError):
        kind = "still loading its dataset"
    return f"Redis {kind} ({type(e).__name__}): {' '.join(str(e).split())[:300]}"


class RedisQueue:
    def __init__(self, settings: Settings, client: redis.Redis | None = None):
        self.s = settings
        self.r = client or connect(settings)
        self._requeue_all = self.r.register_script(lua("requeue_all"))
        self._promote = self.r.register_script(lua("promote_due"))
        self._scripts = {
            name: self.r.register_script(lua(file))
            for name, file in (
                ("reap", "reap_one"),
                ("sync", "sync_held"),
                ("retry", "retry_if_held"),
                ("count", "count_attempt"),
                ("refund", "refund_attempt"),
                ("head", "outbox_head"),
                ("pop", "outbox_pop"),
                ("unlock", "unlock"),
                ("ids", "mission_ids"),
            )
        }
        self._missing_since: dict[str, float] = {}  # worker id -> when this reaper first saw no heartbeat

    # --- claiming and finishing -------------------------------------------------------------
    def claim(self, timeout_s: float) -> bytes | None:
        """Move the head job into this worker's processing list (blocking up to timeout_s; 0 = don't block)."""
        src, dst = self.s.queue_name, self.s.processing_list()
        if timeout_s <= 0:
            return self.r.lmove(src, dst, "LEFT", "RIGHT")
        # Block for at most 4/5 of the socket timeout, so Redis's empty answer always arrives before it.
        return self.r.blmove(src, dst, min(timeout_s, 0.8 * self.s.io_timeout_s), "LEFT", "RIGHT")

    def ack(self, raw: bytes, mission_id: str | None = None) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.lrem(self.s.processing_list(), 1, raw)
        if mission_id:
            pipe.hdel(self.s.attempts_hash, mission_id)
        pipe.execute()

    def requeue_front(self, raw: bytes) -> None:
        """Give a job back (shutdown): head of the queue, so it is the next one taken."""
        pipe = self.r.pipeline(transaction=True)
        pipe.lpush(self.s.queue_name, raw)
        pipe.lrem(self.s.processing_list(), 1, raw)
        pipe.execute()

    def holds(self, raw: bytes) -> bool:
        """Whether this worker's processing list still has the job (False once another worker reaped it)."""
        return self.r.lpos(self.s.processing_list(), raw) is not None

    def copies_held(self, mission_id: str) -> int:
        """How many bodies of this mission all workers' processing lists hold (this worker's claim included)."""
        prefix = self.s.processing_prefix
        held = 0
        for key in self.r.scan_iter(match=prefix + "*", count=500):
            for raw in self.r.lrange(key, 0, -1):
                try:
                    held += extract_mission_id(json.loads(raw)) == mission_id
                except (ValueError, RecursionError):
                    continue
        return held

    def release(self, raw: bytes) -> None:
        """Drop a job from this worker's list without touching its attempts (a superseded copy stands down)."""
        self.r.lrem(self.s.processing_list(), 1, raw)

    def retry_later(self, raw: bytes, delay_s: float) -> bool:
        """Schedule a retry; False (nothing done) if this worker no longer holds the job (it was reaped)."""
        keys = [self.s.processing_list(), self.s.delayed_queue]
        return bool(self._scripts["retry"](keys=keys, args=[raw, delay_s]))

    def dead_letter(self, raw: bytes, reason: str, error: str, attempts: int, mission_id: str | None) -> int:
        """Dead-letter the job; returns how many of the oldest records the cap dropped (0 or 1)."""
        body = raw[:DEAD_BODY_MAX].decode("utf-8", errors="replace")
        record = {
            "job": body,
            "body_truncated": len(raw) > DEAD_BODY_MAX,
            "mission_id": mission_id,
            "reason": reason,
            "error": error,
            "attempts": attempts,
            "worker_id": self.s.worker_id,
            "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        pipe = self.r.pipeline(transaction=True)
        pipe.rpush(self.s.dead_queue, json.dumps(record))
        pipe.ltrim(self.s.dead_queue, -DEAD_LETTERS_MAX, -1)
        pipe.lrem(self.s.processing_list(), 1, raw)
        if mission_id:
            pipe.hdel(self.s.attempts_hash, mission_id)
        dropped = max(0, int(pipe.execute()[0]) - DEAD_LETTERS_MAX)
        if dropped:
            self.r.incrby(self.s.dead_dropped_key, dropped)
        return dropped

    def count_attempt(self, mission_id: str, floor: int = 0, after: str | None = None) -> tuple[int, str]:
        """Count a delivery (at least floor + 1) and make its lease: Redis time in hex, then random.

        The lease sorts after `after` (the mission row's current lease) even when Redis's clock is behind
        the one that made it (a failover to a replica whose clock lags): a new claim is never fenced out.
        """
        n, sec, usec = self._scripts["count"](keys=[self.s.attempts_hash], args=[mission_id, floor])
        stamp = int(sec) * 1_000_000 + int(usec)
        if after:
            try:
                stamp = max(stamp, int(after[:16], 16) + 1)
            except ValueError:
                pass  # not a lease of ours: Redis time alone
        return int(n), f"{stamp:016x}-{uuid.uuid4().hex[:8]}"

    def refund_attempt(self, mission_id: str) -> int:
        return int(self._scripts["refund"](keys=[self.s.attempts_hash], args=[mission_id]))

    # --- liveness and recovery ---------------------------------------------------------------
    def tick_epoch(self) -> int:
        """Increment the fleet's epoch counter (driftline/redis_loss.py): it only grows while Redis keeps its data."""
        return int(self.r.incr(self.s.epoch_key))

    def heartbeat(self) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.set(self.s.heartbeat_key(), str(time.time()), px=int(self.s.heartbeat_ttl_s * 1000))
        pipe.sadd(self.s.workers_set, self.s.worker_id)
        pipe.execute()

    def heartbeat_age_s(self, worker_id: str | None = None) -> float | None:
        value = self.r.get(self.s.heartbeat_key(worker_id))
        return None if value is None else max(0.0, time.time() - float(value))

    def reap(self, grace_s: float) -> int:
        """Requeue jobs of workers this reaper has seen without a heartbeat for grace_s; returns jobs moved.

        Grace counts only while this worker is connected (forget_missing after its own outage), so
        workers whose heartbeats expired during a Redis outage get time to come back first.
        """
        moved, now = 0, time.monotonic()
        prefix = self.s.processing_prefix
        holders = {k.decode()[len(prefix) :] for k in self.r.scan_iter(match=prefix + "*", count=500)}
        candidates = (holders | {m.decode() for m in self.r.smembers(self.s.workers_set)}) - {self.s.worker_id}
        for worker_id in candidates:
            if self.r.exists(self.s.heartbeat_key(worker_id)):
                self._missing_since.pop(worker_id, None)
                continue
            first = self._missing_since.setdefault(worker_id, now)
            if now - first < grace_s:
                continue
            keys = [
                self.s.heartbeat_key(worker_id),
                self.s.processing_list(worker_id),
                self.s.queue_name,
                self.s.workers_set,
            ]
            n = int(self._scripts["reap"](keys=keys, args=[worker_id]))
            self._missing_since.pop(worker_id, None)
            if n > 0:
                log.warning("Requeued %d job(s) held by dead worker %s", n, worker_id)
                moved += n
        for gone in set(self._missing_since) - candidates:
            del self._missing_since[gone]
        return moved

    def forget_missing(self) -> None:
        """After this worker's own outage, others' silence proves nothing: start the grace again."""
        self._missing_since.clear()

    def sync_held(self, running: list[bytes]) -> tuple[int, int]:
        """(stranded jobs requeued, lost running jobs put back) for this worker's processing list."""
        prefix = self.s.processing_prefix
        own = self.s.processing_list()
        others = [k for k in self.r.scan_iter(match=prefix + "*", count=500) if k.decode() != own]
        keys = [own, self.s.queue_name, self.s.delayed_queue, *others]
        stranded, restored = self._scripts["sync"](keys=keys, args=running)
        return int(stranded), int(restored)

    def promote_due(self) -> int:
        return int(self._promote(keys=[self.s.delayed_queue, self.s.queue_name]))

    def unregister(self) -> int:
        """Clean exit: return anything still held to the queue head, drop the heartbeat."""
        n = int(self._requeue_all(keys=[self.s.processing_list(), self.s.queue_name]))
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.s.heartbeat_key())
        pipe.srem(self.s.workers_set, self.s.worker_id)
        pipe.execute()
        return n

    # --- status outbox (PostgreSQL outage) ---------------------------------------------------
    def push_status(self, update: dict) -> None:
        self.r.rpush(self.s.status_outbox, json.dumps(update, default=str))

    def drain_status(self, apply, budget_s: float | None = None, between=None) -> int:
        """Apply queued status updates in order; stop at the first that fails (PostgreSQL still down).

        One drainer at a time (a lock with a token); an item leaves the outbox only after it was applied,
        and only by the lock holder, so two workers draining at once neither lose nor reorder updates.
        No new item is started after `budget_s`; `between()` (the heartbeat) runs after each item.
        """
        lock, token = self.s.outbox_lock, uuid.uuid4().hex
        if not self.r.set(lock, token, nx=True, px=OUTBOX_LOCK_MS):
            return 0
        keys, done = [lock, self.s.status_outbox], 0
        stop_at = None if budget_s is None else time.monotonic() + budget_s
        try:
            while (item := self._scripts["head"](keys=keys, args=[token, OUTBOX_LOCK_MS])) is not None:
                apply(json.loads(item))  # raises DatabaseUnavailable while PostgreSQL is down
                if not self._scripts["pop"](keys=keys, args=[token, item]):
                    break  # lock lost (apply outlasted it): the next holder replays this item, harmlessly
                done += 1
                if between is not None:
                    between()
                if stop_at is not None and time.monotonic() >= stop_at:
                    break  # the rest at the next reaper interval
        finally:
            self._scripts["unlock"](keys=[lock], args=[token])
        return done

    def mission_ids(self) -> set[str]:
        """Ids of every mission with a job or a status update anywhere in Redis."""
        prefix = self.s.processing_prefix
        lists = list(self.r.scan_iter(match=prefix + "*", count=500))
        keys = [self.s.queue_name, self.s.delayed_queue, self.s.status_outbox, *lists]
        return {i.decode() if isinstance(i, bytes) else i for i in self._scripts["ids"](keys=keys)}

    def enqueue(self, body: str) -> None:
        self.r.lpush(self.s.queue_name, body)

    # --- inspection --------------------------------------------------------------------------
    def stats(self) -> dict:
        prefix = self.s.processing_prefix
        processing = {}
        for key in self.r.scan_iter(match=prefix + "*", count=500):
            worker = key.decode()[len(prefix) :]
            alive = bool(self.r.exists(self.s.heartbeat_key(worker)))
            processing[worker] = {"jobs": self.r.llen(key), "alive": alive}
        return {
            "queued": self.r.llen(self.s.queue_name),
            "delayed": self.r.zcard(self.s.delayed_queue),
            "processing": processing,
            "dead": self.r.llen(self.s.dead_queue),
            "dead_dropped": int(self.r.get(self.s.dead_dropped_key) or 0),
            "status_outbox": self.r.llen(self.s.status_outbox),
            "workers": sorted(m.decode() for m in self.r.smembers(self.s.workers_set)),
        }

    def requeue_dead(self, on_requeued=None) -> int:
        """Move dead letters back to the queue (bodies cut at the size cap stay dead).

        on_requeued(mission_id) sets the failed mission back to queued (the only way out of `failed`).
        """
        moved = 0
        for _ in range(self.r.llen(self.s.dead_queue)):
            item = self.r.lpop(self.s.dead_queue)
            if item is None:
                break
            record = json.loads(item)
            if record.get("body_truncated"):
                self.r.rpush(self.s.dead_queue, item)
                continue
            self.r.rpush(self.s.queue_name, record["job"])
            if record.get("mission_id"):
                self.r.hdel(self.s.attempts_hash, record["mission_id"])
                if on_requeued is not None:
                    on_requeued(record["mission_id"])
            moved += 1
        return moved


def guard(call, *args, **kwargs):
    """Run a Redis call, translating connection problems into QueueUnavailable."""
    try:
        return call(*args, **kwargs)
    except REDIS_ERRORS as e:
        raise QueueUnavailable(f"Redis unavailable: {e}") from e
