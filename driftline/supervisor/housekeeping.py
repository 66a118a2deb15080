"""Housekeeping of the supervisor loop: heartbeat, reaping, held-job sync, outbox, reconcile and S3 sweeps.

Each runs on its own schedule (next_* are monotonic times); S3 work runs in a thread so a slow object store
never delays the heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from driftline.errors import DatabaseUnavailable
from driftline.redis_loss import LossDetector
from driftline.supervisor.running import Supervisor

log = logging.getLogger("driftline.worker")
MAINTENANCE_INTERVAL_S = 1.0
STAGING_SWEEP_INTERVAL_S = 600.0


class Housekeeping:
    """The periodic work of one supervisor, called from every loop step (maintain)."""

    def __init__(self, worker: Supervisor) -> None:
        self.w = worker
        s = worker.s
        self.next_maintenance = 0.0
        self.next_reap = 0.0
        self.next_reconcile = 0.0
        self.next_sweep = 0.0
        self.last_beat: float | None = None  # last heartbeat renewal that reached Redis
        self.reap_after = 0.0
        self.loss = LossDetector(grace_s=s.heartbeat_ttl_s / 2)  # live workers renew well within it
        self._s3_client = None
        self._s3_main = None
        self._s3_lock = threading.Lock()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="housekeeping")

    def maintain(self) -> None:
        now = time.monotonic()
        if now < self.next_maintenance:
            return
        self.next_maintenance = now + MAINTENANCE_INTERVAL_S
        self.w.queue.heartbeat()  # first, so others never see us silent longer than needed
        if self.last_beat is not None:
            self._after_own_outage(now - self.last_beat)
        self.last_beat = now
        first = self.loss.last is None
        if self.loss.observe(self.w.queue.tick_epoch(), now):
            self._after_redis_loss(now, first)
        self.w.launcher.watch()
        self.w.queue.promote_due()
        self.w.metrics.queue_length.set(self.w.queue.r.llen(self.w.s.queue_name))
        self.w.metrics.up.set(1)
        if now >= self.next_reap:
            self.next_reap = now + self.w.s.reaper_interval_s
            if now >= self.reap_after:
                self.w.queue.reap(grace_s=self.w.s.heartbeat_ttl_s)
            self.sync_held()
            self.w.status.drain_outbox()
            self.w.launcher.sweep_workdirs(self.w.running.values())
        if now >= self.next_reconcile:
            after_loss = self.loss.after_loss(now)  # then every reaper interval, without the usual waits
            normal = max(self.w.s.reaper_interval_s, self.w.s.reconcile_after_s / 4)
            every = self.w.s.reaper_interval_s if after_loss else normal
            self.next_reconcile = now + every
            self.reconcile(after_loss)

    def _after_redis_loss(self, now: float, first: bool) -> None:
        """Redis lost data: our running jobs go back now; reconcile from PostgreSQL once all live workers did."""
        what = "Redis has no epoch for this queue yet (a new queue, or Redis lost its data)"
        log.warning(
            "%s: running jobs put back; re-enqueueing lost missions from PostgreSQL in %.0f s",
            what if first else "Redis lost its data (epoch counter went back)",
            self.loss.grace_s,
        )
        self.sync_held()
        self.next_reconcile = now + self.loss.grace_s

    def _after_own_outage(self, silent_s: float) -> None:
        """After we could not reach Redis, give the others time to reconnect before reaping anyone."""
        if silent_s <= self.w.s.heartbeat_ttl_s / 2 + self.w.s.poll_interval_s:
            return
        grace = self.w.s.heartbeat_ttl_s + self.w.reconnect_max_s
        self.w.queue.forget_missing()
        self.reap_after = time.monotonic() + grace
        log.warning("Heartbeat renewed after %.1f s without Redis; no reaping for the next %.0f s", silent_s, grace)

    def sync_held(self) -> None:
        stranded, restored = self.w.queue.sync_held([j.raw for j in self.w.running.values()])
        if stranded:
            log.warning("Requeued %d stranded job(s) from this worker's processing list", stranded)
        if restored:
            log.warning("Put %d running job(s) that Redis had lost back into this worker's processing list", restored)

    def reconcile(self, after_loss: bool = False) -> None:
        from driftline.fencing import sweep
        from driftline.reconcile import reconcile

        try:
            reconcile(self.w.s, self.w.store, self.w.queue, after_loss=after_loss)
            if time.monotonic() >= self.next_sweep:
                self.next_sweep = time.monotonic() + STAGING_SWEEP_INTERVAL_S
                age_s = max(3600.0, 2 * self.w.s.job_timeout_s)
                self.in_background(sweep, self.w.s.results_bucket, age_s, self._parked_prefixes)
        except DatabaseUnavailable as e:
            log.debug("Reconciler skipped: %s", e)
        except Exception as e:  # noqa: BLE001 - S3 answers: housekeeping retries next time
            log.warning("Housekeeping skipped: %s", e)

    def _parked_prefixes(self) -> set[str]:
        """Staging prefixes the sweep must keep: completions waiting in the outbox (read from Redis each time)."""
        from driftline.fencing import parked_prefixes

        return parked_prefixes(self.w.queue.r.lrange(self.w.s.status_outbox, 0, -1))

    def in_background(self, fn, *args) -> None:
        """S3 housekeeping (fn(client, *args)) in a thread, so a slow object store never delays the heartbeat."""

        def run() -> None:
            try:
                done = fn(self._s3(), *args)
                if any(done if isinstance(done, tuple) else (done,)):
                    log.info("S3 housekeeping: %s removed %s", fn.__name__, done)
            except Exception as e:  # noqa: BLE001 - leftovers are swept later
                log.warning("S3 housekeeping (%s) failed, retried later: %s", fn.__name__, e)

        self.executor.submit(run)

    def s3_bounded(self):
        """The main loop's own S3 client: one attempt, every wait within IO timeout (the heartbeat's third)."""
        if self._s3_main is None:
            from driftline.objects import make_s3_client

            io_s = self.w.s.io_timeout_s
            # botocore's max_attempts counts retries: 0 is the one attempt (1 made two, 2 x IO timeout)
            self._s3_main = make_s3_client(self.w.s, connect_timeout_s=min(2, io_s), read_timeout_s=io_s, attempts=0)
        return self._s3_main

    def _s3(self):
        with self._s3_lock:  # used from the housekeeping thread
            if self._s3_client is None:
                from driftline.objects import make_s3_client

                self._s3_client = make_s3_client(self.w.s, connect_timeout_s=3, read_timeout_s=10)
            return self._s3_client
