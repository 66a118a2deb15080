"""Driftline drift worker: the queue daemon (`python worker.py`); the command line is driftline/cli.py.

The supervising process holds the Redis/PostgreSQL connections and never runs OpenDrift itself. Each job runs
in a child forked from a forkserver whose preload imported OpenDrift and built the landmask, so children start
warm, share the landmask copy-on-write and inherit no threads or sockets. The supervisor's parts are in
driftline/supervisor/ (launcher, admission, outcomes, status, housekeeping, startup).
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from config import Settings
from driftline.db import MissionStore
from driftline.errors import RetryableError
from driftline.metrics import Metrics
from driftline.queue import REDIS_ERRORS, RedisQueue, describe_redis_error
from driftline.readiness import clear_ready, mark_ready
from driftline.supervisor.admission import Admission
from driftline.supervisor.backoff import Backoff
from driftline.supervisor.housekeeping import MAINTENANCE_INTERVAL_S, Housekeeping
from driftline.supervisor.launcher import Launcher
from driftline.supervisor.outcomes import Outcomes
from driftline.supervisor.running import RunningJob
from driftline.supervisor.startup import Startup
from driftline.supervisor.status import StatusWriter

__all__ = ["Backoff", "DriftWorker", "RunningJob", "main"]
log = logging.getLogger("driftline.worker")


class DriftWorker:
    """Claim → run (in a warm child) → finish, with heartbeats, reaping, retries and a clean stop."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None, launcher: Launcher | None = None):
        self.s = settings
        self.metrics = metrics or Metrics()
        self.running: dict[int, RunningJob] = {}
        self.signals = 0
        self.queue: RedisQueue | None = None
        self.store = MissionStore(
            settings.database_url,
            connect_timeout_s=max(2, int(settings.io_timeout_s)),
            io_timeout_s=settings.io_timeout_s,
        )
        self.claim_after = 0.0  # no claims before (monotonic): a job could not start through no fault of its own
        self.reconnect_max_s = min(30.0, max(1.0, settings.heartbeat_ttl_s / 3))
        self.launcher = launcher or Launcher(settings)
        self.launcher.stopping = lambda: self.signals > 0
        self.startup = Startup(self)
        self.admission = Admission(self)
        self.outcomes = Outcomes(self)
        self.status = StatusWriter(self)
        self.housekeeping = Housekeeping(self)

    def run(self) -> int:
        self._install_signal_handlers()
        clear_ready(self.s.worker_id)
        # The forkserver (a fresh interpreter: it inherits no sockets) loads while we connect: first claim sooner.
        with ThreadPoolExecutor(1, thread_name_prefix="forkserver-start") as pool:
            warm = pool.submit(self.launcher.until_ready)
            self.startup.connect()
            warm.result()
        self.serve_metrics()
        log.info(
            "Worker %s listening on queue %s (max %d concurrent jobs)",
            self.s.worker_id,
            self.s.queue_name,
            self.s.max_concurrent_jobs,
        )
        mark_ready(self.s.worker_id)
        backoff = Backoff(self.s.retry_base_s / 2 or 0.5, self.reconnect_max_s)
        while self.signals == 0:
            self.run_once(backoff)
        self.shutdown()
        return 0

    def run_once(self, backoff: Backoff) -> None:
        """One loop step; whatever it raises is logged in one line and waited out, never the end of the worker."""
        try:
            self.step()
        except Exception as e:  # noqa: BLE001 - the supervisor must outlive any fault of a service or a job
            delay = backoff.next()
            if isinstance(e, REDIS_ERRORS):
                log.error("%s (retrying in %.1f s)", describe_redis_error(e), delay)
            elif isinstance(e, RetryableError):
                log.error("%s (retrying in %.1f s)", e, delay)
            else:
                log.exception("Unexpected error in the worker loop (retrying in %.1f s)", delay)
            self.metrics.up.set(0)
            self.pause(delay)
        else:
            backoff.reset()
            self.metrics.up.set(1)

    def pause(self, delay_s: float) -> None:
        """Back off while children keep running; renew the heartbeat when Redis lets us, so we are not reaped."""
        deadline = time.monotonic() + delay_s
        while self.signals == 0 and (left := deadline - time.monotonic()) > 0:
            self.launcher.wait(self.running.values(), min(left, self.s.io_timeout_s))
            try:
                self.queue.heartbeat()
            except REDIS_ERRORS:
                pass  # the loop already said Redis is failing; one line per retry is enough

    def serve_metrics(self) -> None:
        try:
            self.metrics.serve(self.s.metrics_port)
        except OSError as e:
            log.error(
                "Metrics port %d cannot be opened (%s): running without /metrics; set METRICS_PORT to a free port",
                self.s.metrics_port,
                e.strerror or e,
            )

    def step(self) -> None:
        self.housekeeping.maintain()
        self.outcomes.collect_finished()
        can_start = time.monotonic() >= self.claim_after and self.launcher.ready()
        if len(self.running) < self.s.max_concurrent_jobs and can_start:
            raw = self.queue.claim(0 if self.running else self.s.poll_interval_s)
            if raw is not None and self.signals:
                self.queue.requeue_front(raw)  # the stop signal arrived while we were blocked in BLMOVE
            elif raw is not None:
                self.admission.take(raw)
            elif self.running:
                self.launcher.wait(self.running.values(), 0.05)
        else:
            self.launcher.wait(self.running.values(), MAINTENANCE_INTERVAL_S)

    def _install_signal_handlers(self) -> None:
        def handler(signum, _frame):
            self.signals += 1
            what = "stopping at once" if self.signals > 1 else f"draining (grace {self.s.shutdown_grace_s:g} s)"
            log.warning("Received %s: %s", signal.Signals(signum).name, what)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def shutdown(self) -> None:
        deadline = time.monotonic() + self.s.shutdown_grace_s
        log.info(
            "Stopped claiming; waiting up to %.0f s for %d running job(s)", self.s.shutdown_grace_s, len(self.running)
        )
        while self.running and self.signals < 2 and time.monotonic() < deadline:
            self.launcher.wait(self.running.values(), 0.5)
            self._guarded(self.outcomes.collect_finished)
            self._guarded(self.queue.heartbeat)
        for job in list(self.running.values()):
            self.launcher.kill(job)
            log.warning("Mission %s interrupted by shutdown: returned to the head of the queue", job.mission_id)
            self._guarded(self.outcomes.requeue_interrupted, job)
            self.outcomes.clean_up(job)
        self.running.clear()
        clear_ready(self.s.worker_id)
        self._guarded(self.queue.unregister)
        self.metrics.up.set(0)
        log.info("Worker %s stopped", self.s.worker_id)

    def _guarded(self, fn, *args) -> None:
        try:
            fn(*args)
        except REDIS_ERRORS as e:
            log.error("Redis connection error during shutdown: %s", e)

    def quietly(self, fn, *args) -> None:
        try:
            fn(*args)
        except REDIS_ERRORS as e:
            log.debug("best effort %s failed: %s", getattr(fn, "__name__", fn), e)


def main(argv: list[str] | None = None) -> int:
    """`python worker.py [daemon|run|health|forcing] …`; the command line is loaded here only (not in job processes)."""
    from driftline.cli import main as cli_main

    return cli_main(argv, run_daemon=lambda settings: DriftWorker(settings).run())


if __name__ == "__main__":
    sys.exit(main())
