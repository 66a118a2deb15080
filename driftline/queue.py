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
  drift_jobs:status_outbox:lock      held by the one worker draining the outbox (token, with a TTL)
  drift_jobs:epoch                   a counter every worker increments: going back means Redis lost data
  drift_jobs:dead_dropped            dead letters dropped at the cap (oldest first)
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime

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
# Reap one worker: check its heartbeat and requeue its jobs in one step, so a worker that renewed its
# heartbeat a moment ago is never reaped. KEYS: heartbeat, processing list, queue, workers set.
REAP_ONE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local n = 0
while redis.call('RPOPLPUSH', KEYS[2], KEYS[3]) do n = n + 1 end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[1])
return n
"""
# Make this worker's processing list match the jobs it really runs (ARGV): anything else there is
# stranded (lost BLMOVE reply, failure before the child started) and goes back to the queue head;
# a running job found nowhere in Redis (FLUSHALL, restart without persistence) is put back.
# KEYS: own processing list, queue, delayed set, other workers' processing lists.
SYNC_HELD = """
local want = {}
for _, b in ipairs(ARGV) do want[b] = (want[b] or 0) + 1 end
local stranded = 0
for _, b in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if (want[b] or 0) > 0 then
    want[b] = want[b] - 1
  else
    redis.call('LREM', KEYS[1], 1, b)
    redis.call('LPUSH', KEYS[2], b)
    stranded = stranded + 1
  end
end
local restored = 0
for b, n in pairs(want) do
  local found = n == 0 or redis.call('LPOS', KEYS[2], b) or redis.call('ZSCORE', KEYS[3], b)
  for i = 4, #KEYS do
    if found then break end
    found = redis.call('LPOS', KEYS[i], b)
  end
  if not found then
    redis.call('RPUSH', KEYS[1], b)
    restored = restored + 1
  end
end
return {stranded, restored}
"""
# Move due retries from the delayed set to the head of the queue. Due times are on Redis's clock (TIME),
# the one all workers share: a worker whose own clock is off never delays or hurries another's retry.
PROMOTE_DUE = """
local t = redis.call('TIME')
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t[1] + t[2] / 1e6, 'LIMIT', 0, 100)
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('LPUSH', KEYS[2], job)
end
return #due
"""
# Schedule a retry ARGV[2] seconds from now on Redis's clock, only if this worker still holds the job
# (a reaped copy must not add a second one).
RETRY_IF_HELD = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[2], t[1] + t[2] / 1e6 + tonumber(ARGV[2]), ARGV[1])
return 1
"""
# Count a delivery; never below what PostgreSQL already recorded (ARGV[2]) in case Redis lost the hash.
# Returns the attempt and Redis's clock, the one clock all workers share (it orders the leases).
COUNT_ATTEMPT = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local floor = tonumber(ARGV[2])
if n <= floor then
  n = floor + 1
  redis.call('HSET', KEYS[1], ARGV[1], n)
end
local t = redis.call('TIME')
return {n, t[1], t[2]}
"""
# Give back an attempt that was not the job's fault (outage wait, shutdown, reaped while alive).
REFUND_ATTEMPT = """
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n <= 1 then redis.call('HDEL', KEYS[1], ARGV[1]) return 0 end
return redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
"""
# Outbox head / pop / unlock, each only while the caller's token still holds the drain lock.
OUTBOX_HEAD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('LINDEX', KEYS[2], 0)
"""
OUTBOX_POP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[2] then return 0 end
redis.call('LPOP', KEYS[2])
return 1
"""
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Mission ids of every job and status update Redis holds, read in one atomic step (the reconciler).
MISSION_IDS = """
local ids = {}
local function add(body)
  local ok, item = pcall(cjson.decode, body)
  if ok and type(item) == 'table' and type(item['mission_id']) == 'string' then
    ids[#ids + 1] = item['mission_id']
  end
end
for i, key in ipairs(KEYS) do
  local items
  if i == 2 then items = redis.call('ZRANGE', key, 0, -1) else items = redis.call('LRANGE', key, 0, -1) end
  for _, body in ipairs(items) do add(body) end
end
return ids
"""
OUTBOX_LOCK_MS = 60_000


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
        self._scripts = {
            name: self.r.register_script(text)
            for name, text in (
                ("reap", REAP_ONE),
                ("sync", SYNC_HELD),
                ("retry", RETRY_IF_HELD),
                ("count", COUNT_ATTEMPT),
                ("refund", REFUND_ATTEMPT),
                ("head", OUTBOX_HEAD),
                ("pop", OUTBOX_POP),
                ("unlock", UNLOCK),
                ("ids", MISSION_IDS),
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
        prefix = f"{self.s.queue_name}:processing:"
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
            self.r.incrby(f"{self.s.queue_name}:dead_dropped", dropped)
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
        return int(self.r.incr(f"{self.s.queue_name}:epoch"))

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
        prefix = f"{self.s.queue_name}:processing:"
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
        prefix = f"{self.s.queue_name}:processing:"
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
        lock, token = f"{self.s.status_outbox}:lock", uuid.uuid4().hex
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
        prefix = f"{self.s.queue_name}:processing:"
        lists = list(self.r.scan_iter(match=prefix + "*", count=500))
        keys = [self.s.queue_name, self.s.delayed_queue, self.s.status_outbox, *lists]
        return {i.decode() if isinstance(i, bytes) else i for i in self._scripts["ids"](keys=keys)}

    def enqueue(self, body: str) -> None:
        self.r.lpush(self.s.queue_name, body)

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
            "dead_dropped": int(self.r.get(f"{self.s.queue_name}:dead_dropped") or 0),
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
