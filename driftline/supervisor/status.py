"""Status writer: every mission-row update of the supervisor, applied now or parked in the Redis outbox.

While PostgreSQL is down an update waits in the outbox (Redis) and is applied in order later; a completion
parked there publishes the objects its job process staged when it is applied.
"""

from __future__ import annotations

import logging

from driftline.db import DatabaseRejected
from driftline.errors import DatabaseUnavailable, DriftError, RetryableError
from driftline.protocol import StatusUpdate
from driftline.supervisor.running import Supervisor

log = logging.getLogger("driftline.worker")
MESSAGE_MAX = 1000  # characters of an error stored for users
OUTBOX_BUDGET_FRACTION = 0.2  # of the heartbeat TTL: one outbox pass never holds the loop longer


class StatusWriter:
    """Applies status updates through the mission store, with the Redis outbox while PostgreSQL is down."""

    def __init__(self, worker: Supervisor) -> None:
        self.w = worker

    def record(self, mission_id: str, update: StatusUpdate) -> bool | None:
        """Apply a status update now, or park it in the Redis outbox while PostgreSQL is down (None)."""
        update = storable(update.to_dict())  # no NUL or lone surrogate reaches PostgreSQL (or the outbox)
        try:
            return self.w.store.apply(update)
        except DatabaseUnavailable as e:
            log.warning("%s: %s update for mission %s kept in the Redis status outbox", e, update["op"], mission_id)
            self.w.queue.push_status(update)
        except DatabaseRejected as e:
            log.error("%s: %s update for mission %s dropped", e, update["op"], mission_id)
        return None

    def drain_outbox(self) -> None:
        try:
            budget_s = OUTBOX_BUDGET_FRACTION * self.w.s.heartbeat_ttl_s
            applied = self.w.queue.drain_status(self._apply_parked, budget_s=budget_s, between=self.w.queue.heartbeat)
            if applied:
                log.info("Applied %d status update(s) from the outbox to PostgreSQL", applied)
        except DatabaseUnavailable as e:
            log.warning("Status outbox waiting: %s", e)
        except DriftError as e:
            log.warning("Status outbox waiting for S3: %s", e)

    def take_over_completion(self, update: dict) -> None:
        """Record a completion its job process could not (PostgreSQL and Redis both out of its reach): apply it
        now, or park it in the outbox while PostgreSQL is down; a Redis error is raised (the caller retries)."""
        try:
            self._apply_parked(update, "handed over by its job process")
        except RetryableError as e:  # PostgreSQL down (DatabaseUnavailable) or S3 unable to publish
            log.warning("%s: completion of mission %s kept in the Redis status outbox", e, update["mission_id"])
            self.w.queue.push_status(update)

    def _apply_parked(self, update: dict, source: str = "from the status outbox") -> None:
        """Apply one outbox update; a completion publishes the objects its job process staged."""
        from driftline.fencing import apply_update, discard, staging_prefix

        try:
            applied = apply_update(self.w.store, update, self.w.housekeeping.s3_bounded, self.w.s.results_bucket)
        except (DatabaseUnavailable, RetryableError):
            raise
        except Exception:  # noqa: BLE001 - an update PostgreSQL refuses must not block the ones behind it
            log.exception("Status update %s for mission %s dropped", update.get("op"), update.get("mission_id"))
            return
        if update["op"] == "completed" and applied:
            log.info("Mission %s completed successfully (%s)", update["mission_id"], source)
        if update["op"] == "completed" and update.get("lease"):
            self.w.housekeeping.in_background(
                discard, self.w.s.results_bucket, staging_prefix(update["mission_id"], update["lease"])
            )


def one_line(text: str) -> str:
    """An error as users see it: one line, bounded, nothing PostgreSQL or a JSON log cannot hold."""
    return storable(" ".join(str(text).split()))[:MESSAGE_MAX]


def storable(value):
    """The value with NUL characters and lone surrogates escaped in every string (PostgreSQL refuses both)."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value
