"""Start-up: wait for Redis, PostgreSQL and S3 in turn (however long), backing off; a stop signal exits cleanly."""

from __future__ import annotations

import logging
import time

from config import redact_url
from driftline.queue import REDIS_ERRORS, RedisQueue, describe_redis_error
from driftline.supervisor.backoff import Backoff
from driftline.supervisor.running import SERVICE_FAULTS, Supervisor

log = logging.getLogger("driftline.worker")


class Startup:
    """Connects one supervisor to its services and announces it."""

    def __init__(self, worker: Supervisor) -> None:
        self.w = worker

    def connect(self) -> None:
        """Wait for Redis, PostgreSQL and S3 in turn (however long), then announce this worker."""
        from driftline.objects import ensure_buckets, make_s3_client

        self.until_ready("Redis", self._connect_redis)
        log.info("Connected to Redis at %s", redact_url(self.w.s.redis_url))
        # A restarted container keeps its worker id: jobs our previous life held go back to the queue.
        recovered = self.until_ready("Redis", self.w.queue.unregister)
        if recovered:
            log.warning("Requeued %d job(s) left in this worker's processing list by a previous run", recovered)
        self.until_ready("PostgreSQL", self.w.store.check_schema)
        log.info("Connected to PostgreSQL at %s", redact_url(self.w.s.database_url))
        timeout_s = self.w.s.io_timeout_s
        s3 = make_s3_client(self.w.s, connect_timeout_s=min(5, timeout_s), read_timeout_s=timeout_s, attempts=1)
        self.until_ready("S3", ensure_buckets, s3, [self.w.s.results_bucket, self.w.s.forcing_bucket])
        log.info("Connected to S3 at %s", self.w.s.s3_endpoint or "AWS")
        self.until_ready("Redis", self.w.queue.heartbeat)
        self.w.metrics.up.set(1)

    def _connect_redis(self) -> None:
        self.w.queue = RedisQueue(self.w.s)
        self.w.queue.r.ping()

    def until_ready(self, service: str, fn, *args):
        """Call fn until it succeeds, backing off on service faults; a stop signal exits cleanly (0)."""
        backoff = Backoff(1, 30)
        while self.w.signals == 0:
            try:
                return fn(*args)
            except SERVICE_FAULTS as e:
                text = describe_redis_error(e) if isinstance(e, REDIS_ERRORS) else str(e)
                delay = backoff.next()
                log.error("%s not ready: %s (retrying in %.1f s)", service, text, delay)
                self.w.metrics.up.set(0)
                deadline = time.monotonic() + delay
                while self.w.signals == 0 and time.monotonic() < deadline:
                    time.sleep(min(0.2, delay))
        raise SystemExit(0)
