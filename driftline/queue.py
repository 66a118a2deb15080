"""The Redis side of the reliable queue.

Keys (all prefixed with QUEUE_NAME, default `drift_jobs`):
  drift_jobs                         pending jobs; producers RPUSH, workers take from the head
  drift_jobs:processing:<worker>     jobs a worker holds (BLMOVE target); removed only when finished
  drift_jobs:heartbeat:<worker>      set with a TTL while the worker lives
  drift_jobs:workers                 set of worker ids, for the reaper
  drift_jobs:delayed                 sorted set of jobs waiting for a retry, scored by due time
  drift_jobs:dead                    dead letters: JSON records with the job, reason and attempts
  drift_jobs:attempts                hash mission_id -> deliveries so far
  drift_jobs:status_outbox           status updates waiting for PostgreSQL to come back
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import redis

from config import Settings
from driftline.errors import QueueUnavailable

log = logging.getLogger(__name__)
# Every Redis failure is a service fault, not a job's: dropped connections and timeouts, but also error
# answers (OOM at maxmemory, MISCONF when its disk is full, READONLY after a failover, LOADING at restart).
REDIS_ERRORS = (redis.RedisError, ConnectionError, OSError)
DEAD_BODY_MAX = 65536

# Move every job of a dead worker's processing list back to the head of the queue, atomically.
REQUEUE_ALL = """
local n = 0
while true do
  local job = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  if not job then break end
  n = n + 1
end
redis.call('DEL', KEYS[1])
return n
"""
# Move due retries from the delayed set to the head of the queue.
PROMOTE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('LPUSH', KEYS[2], job)
end
return #due
"""


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
        self._requeue_all = self.r.register_script(REQUEUE_ALL)
        self._promote = self.r.register_script(PROMOTE_DUE)

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

    def retry_later(self, raw: bytes, delay_s: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(self.s.delayed_queue, {raw: time.time() + delay_s})
        pipe.lrem(self.s.processing_list(), 1, raw)
        pipe.execute()

    def dead_letter(self, raw: bytes, reason: str, error: str, attempts: int, mission_id: str | None) -> None:
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
        pipe.lrem(self.s.processing_list(), 1, raw)
        if mission_id:
            pipe.hdel(self.s.attempts_hash, mission_id)
        pipe.execute()

    def count_attempt(self, mission_id: str) -> int:
        return int(self.r.hincrby(self.s.attempts_hash, mission_id, 1))

    # --- liveness and recovery ---------------------------------------------------------------
    def heartbeat(self) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.set(self.s.heartbeat_key(), str(time.time()), px=int(self.s.heartbeat_ttl_s * 1000))
        pipe.sadd(self.s.workers_set, self.s.worker_id)
        pipe.execute()

    def heartbeat_age_s(self, worker_id: str | None = None) -> float | None:
        value = self.r.get(self.s.heartbeat_key(worker_id))
        return None if value is None else max(0.0, time.time() - float(value))

    def reap(self) -> int:
        """Requeue jobs held by workers whose heartbeat expired; returns how many jobs moved."""
        moved = 0
        prefix = f"{self.s.queue_name}:processing:"
        holders = {k.decode()[len(prefix) :] for k in self.r.scan_iter(match=prefix + "*", count=500)}
        for worker_id in holders | {m.decode() for m in self.r.smembers(self.s.workers_set)}:
            if worker_id == self.s.worker_id or self.r.exists(self.s.heartbeat_key(worker_id)):
                continue
            n = int(self._requeue_all(keys=[self.s.processing_list(worker_id), self.s.queue_name]))
            self.r.srem(self.s.workers_set, worker_id)
            if n:
                log.warning("Requeued %d job(s) held by dead worker %s", n, worker_id)
            moved += n
        return moved

    def promote_due(self) -> int:
        return int(self._promote(keys=[self.s.delayed_queue, self.s.queue_name], args=[time.time()]))

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

    def drain_status(self, apply) -> int:
        """Apply queued status updates in order; stop at the first that fails (PostgreSQL still down)."""
        done = 0
        while (item := self.r.lindex(self.s.status_outbox, 0)) is not None:
            apply(json.loads(item))  # raises DatabaseUnavailable while PostgreSQL is down
            self.r.lpop(self.s.status_outbox)  # apply is idempotent: a crash in between replays harmlessly
            done += 1
        return done

    # --- inspection --------------------------------------------------------------------------
    def stats(self) -> dict:
        prefix = f"{self.s.queue_name}:processing:"
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
            "status_outbox": self.r.llen(self.s.status_outbox),
            "workers": sorted(m.decode() for m in self.r.smembers(self.s.workers_set)),
        }

    def requeue_dead(self) -> int:
        """Move dead letters back to the queue (bodies cut at the size cap stay dead)."""
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
            moved += 1
        return moved


def guard(call, *args, **kwargs):
    """Run a Redis call, translating connection problems into QueueUnavailable."""
    try:
        return call(*args, **kwargs)
    except REDIS_ERRORS as e:
        raise QueueUnavailable(f"Redis unavailable: {e}") from e
