"""Mission store: mission status and result rows in PostgreSQL.

Every write is an idempotent upsert guarded so a mission never leaves
`completed`, because delivery is at least once and updates can be replayed
from the outbox out of band.
"""

from __future__ import annotations

import json
import logging
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extras

from driftline.errors import DatabaseUnavailable, DriftError, PermanentError
from driftline.objects import StoredObject
from driftline.protocol import StatusUpdate

log = logging.getLogger("driftline.store")  # the logger name log readers know (module was store.py)

REQUIRED_TABLES = ("missions", "mission_results")
# TCP keepalives at both ends of a bounded session: libpq's notice a dead server; the server's (session settings)
# a dead client. Without the server's, a job process cut off while its completion held the mission row FOR UPDATE
# leaves that row locked for the OS default of two hours (~15 minutes when its last answer was unacknowledged),
# and every other worker's completion of the mission waits behind it.
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT = 30, 10, 3


class SchemaMissing(DriftError):
    reason = "schema"


class DatabaseRejected(PermanentError):
    """PostgreSQL refused the content of a write (e.g. a value out of range): retrying cannot help."""

    reason = "db_rejected"


class BoundedConnection(psycopg2.extensions.connection):
    """A connection whose every wait for the server ends after `io_timeout_s` (see _bounded_wait)."""

    io_timeout_s: float | None = None


def _session_options(io_timeout_s: float) -> str:
    """A bounded session's settings: the server cancels a statement first (keeping the session), and keepalives."""
    statement_ms = max(1, int(io_timeout_s * 800))
    # tcp_user_timeout: the same bound while the server's last answer is still unacknowledged (keepalives only
    # probe an idle connection; retransmissions alone would go on for ~15 minutes)
    dead_after_ms = 1000 * (KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_COUNT)
    return (
        f"-c statement_timeout={statement_ms} -c tcp_keepalives_idle={KEEPALIVE_IDLE_S} "
        f"-c tcp_keepalives_interval={KEEPALIVE_INTERVAL_S} -c tcp_keepalives_count={KEEPALIVE_COUNT} "
        f"-c tcp_user_timeout={dead_after_ms}"
    )


class MissionStore:
    """A lazily (re)connected PostgreSQL connection with the mission queries.

    With `io_timeout_s` (the supervisor) every call is bounded: connect and each wait for an answer
    (a black-holed or frozen server), statement_timeout for the server side (a lock held elsewhere).
    """

    def __init__(self, database_url: str, connect_timeout_s: int = 5, io_timeout_s: float | None = None):
        self.database_url = database_url
        self.connect_timeout_s = connect_timeout_s
        self.io_timeout_s = io_timeout_s
        self._conn = None

    def connect(self):
        if self._conn is None or self._conn.closed:
            options = {}
            if self.io_timeout_s:
                psycopg2.extensions.set_wait_callback(_bounded_wait)  # this process only; set at first use
                factory = type("BoundedConnection", (BoundedConnection,), {"io_timeout_s": self.io_timeout_s})
                options = {"connection_factory": factory, "options": _session_options(self.io_timeout_s)}
            try:
                self._conn = psycopg2.connect(
                    self.database_url,
                    connect_timeout=self.connect_timeout_s,
                    application_name="driftline-worker",
                    keepalives=1,
                    keepalives_idle=KEEPALIVE_IDLE_S,
                    keepalives_interval=KEEPALIVE_INTERVAL_S,
                    keepalives_count=KEEPALIVE_COUNT,
                    **options,
                )
            except psycopg2.OperationalError as e:
                raise DatabaseUnavailable(f"PostgreSQL unreachable: {_first_line(e)}") from e
            except psycopg2.Error as e:  # an unparsable DATABASE_URL: libpq's message may quote the password
                raise DatabaseUnavailable(f"PostgreSQL connection refused ({type(e).__name__})") from None
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass  # already broken: dropping it is all that is left to do
            self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.cursor]:
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                yield cur
        except psycopg2.Error as e:
            cause = _root_cause(e)
            if isinstance(cause, (psycopg2.DataError, psycopg2.IntegrityError)):
                raise DatabaseRejected(f"PostgreSQL refused the write: {_first_line(cause)}") from e
            # Connection lost, server shutting down (AdminShutdown), read-only after a failover, statement
            # timeout, disk full, schema not there yet: the service's fault, never the mission's. Reconnect next time.
            self.close()
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {_first_line(cause)}") from e

    def check_schema(self) -> None:
        with self.transaction() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name = ANY(%s)", (list(REQUIRED_TABLES),)
            )
            found = {row[0] for row in cur.fetchall()}
        missing = [t for t in REQUIRED_TABLES if t not in found]
        if missing:
            raise SchemaMissing(
                f"database tables missing: {', '.join(missing)}; run sql/init/01_schema.sql "
                '(psql "$DATABASE_URL" -f sql/init/01_schema.sql)'
            )

    def read_only(self) -> bool:
        """True when this server cannot take writes (a standby after a failover, default_transaction_read_only)."""
        with self.transaction() as cur:
            cur.execute("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'")
            return bool(cur.fetchone()[0])

    def status(self, mission_id: str) -> str | None:
        with self.transaction() as cur:
            cur.execute("SELECT status FROM missions WHERE id = %s", (mission_id,))
            row = cur.fetchone()
        return row[0] if row else None

    def ensure_queued(self, mission_id: str, params: dict) -> None:
        """Producer side: create the mission row as queued (no-op if it exists)."""
        with self.transaction() as cur:
            cur.execute(
                "INSERT INTO missions (id, status, params) VALUES (%s, 'queued', %s) ON CONFLICT (id) DO NOTHING",
                (mission_id, json.dumps(params)),
            )

    def apply(self, update: dict, publish: Callable[[], None] | None = None) -> bool:
        """Apply one status update (the same dicts travel through the Redis outbox); False if fenced out.

        `lease` (when present) is the attempt token of the claim that wrote the update: a write of an
        attempt that a later claim superseded is skipped, so a late copy can never undo the current one.
        """
        return StatusUpdate.from_dict(update).apply(self, publish)

    def mark_processing(
        self,
        mission_id: str,
        params: dict | None,
        worker_id: str,
        lease: str | None = None,
        attempt: int | None = None,
        queue: str | None = None,
    ) -> bool:
        """A claim: only over `queued`/`processing` and only by a claim later than the row's lease."""
        with self.transaction() as cur:
            cur.execute(
                """
                INSERT INTO missions (id, status, params, attempts, worker_id, started_at, progress, lease, queue)
                VALUES (%(id)s, 'processing', %(params)s, COALESCE(%(attempt)s, 1), %(worker)s, now(), 0, %(lease)s,
                    %(queue)s)
                ON CONFLICT (id) DO UPDATE SET
                    status = 'processing', attempts = COALESCE(%(attempt)s, missions.attempts + 1),
                    worker_id = EXCLUDED.worker_id, started_at = now(), updated_at = now(), progress = 0,
                    error_message = NULL, params = COALESCE(missions.params, EXCLUDED.params), lease = %(lease)s,
                    queue = COALESCE(%(queue)s, missions.queue)
                WHERE missions.status IN ('queued', 'processing')
                    AND (missions.lease IS NULL OR %(lease)s::text IS NULL OR missions.lease < %(lease)s::text)
                """,
                {
                    "id": mission_id,
                    "params": _json(params),
                    "worker": worker_id,
                    "lease": lease,
                    "attempt": attempt,
                    "queue": queue,
                },
            )
            return cur.rowcount == 1

    def set_progress(self, mission_id: str, progress: float, lease: str | None = None) -> bool:
        with self.transaction() as cur:
            cur.execute(
                "UPDATE missions SET progress = %s, updated_at = now() WHERE id = %s AND status = 'processing' "
                "AND (%s::text IS NULL OR lease = %s::text)",
                (max(0.0, min(1.0, progress)), mission_id, lease, lease),
            )
            return cur.rowcount == 1

    def mark_completed(
        self,
        mission_id: str,
        stored: list[StoredObject],
        location: str,
        params: dict | None = None,
        lease: str | None = None,
        publish: Callable[[], None] | None = None,
        attempt: int | None = None,
    ) -> bool:
        """Result rows and the completed status in one transaction, fenced on the lease; False if superseded.

        The row is locked while `publish` (copying this attempt's staged objects to their final keys) runs,
        so the objects the rows describe are written only by the attempt that commits the rows.
        """
        with self.transaction() as cur:
            cur.execute(
                "INSERT INTO missions (id, status, params, attempts) VALUES (%s, 'queued', %s, 1) "
                "ON CONFLICT (id) DO NOTHING",
                (mission_id, _json(params)),
            )
            cur.execute("SELECT status, lease FROM missions WHERE id = %s FOR UPDATE", (mission_id,))
            status, current = cur.fetchone()
            if status == "completed" and lease is not None and current == lease:
                return True  # a replay of this very completion (outbox): already applied
            if status not in ("queued", "processing") or (lease and current and current > lease):
                return False
            if publish is not None:
                publish()
            cur.execute(
                """
                UPDATE missions SET status = 'completed', progress = 1, result_location = %s, completed_at = now(),
                    updated_at = now(), error_message = NULL, lease = COALESCE(%s, lease),
                    params = COALESCE(params, %s), attempts = GREATEST(attempts, COALESCE(%s, 1))
                WHERE id = %s
                """,
                (location, lease, _json(params), attempt, mission_id),
            )
            psycopg2.extras.execute_values(
                cur,
                """
                INSERT INTO mission_results (mission_id, kind, uri, content_type, size_bytes, sha256)
                VALUES %s
                ON CONFLICT (mission_id, kind) DO UPDATE SET
                    uri = EXCLUDED.uri, content_type = EXCLUDED.content_type, size_bytes = EXCLUDED.size_bytes,
                    sha256 = EXCLUDED.sha256, created_at = now()
                """,
                [(mission_id, s.kind, s.uri, s.content_type, s.size_bytes, s.sha256) for s in stored],
            )
            return True

    def mark_requeued(
        self, mission_id: str, reason: str, lease: str | None = None, attempts: int | None = None
    ) -> bool:
        """Back to queued (same attempt: outage wait, shutdown); the reason is visible to the coordinator."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE missions SET status = 'queued', error_message = %s, updated_at = now(), "
                "attempts = COALESCE(%s, attempts) "
                "WHERE id = %s AND status = 'processing' AND (%s::text IS NULL OR lease = %s::text)",
                (reason[:2000], attempts, mission_id, lease, lease),
            )
            return cur.rowcount == 1

    def mark_failed(
        self,
        mission_id: str,
        error: str,
        worker_id: str | None,
        params: dict | None = None,
        lease: str | None = None,
    ) -> bool:
        """Failed, fenced like a completion: a write without a lease (an invalid or surplus copy of the body)
        applies only to a mission no claim holds, so it never fails a mission another copy runs."""
        with self.transaction() as cur:
            cur.execute(
                """
                INSERT INTO missions (id, status, params, error_message, worker_id, completed_at, lease)
                VALUES (%(id)s, 'failed', %(params)s, %(error)s, %(worker)s, now(), %(lease)s)
                ON CONFLICT (id) DO UPDATE SET
                    status = 'failed', error_message = EXCLUDED.error_message, updated_at = now(),
                    completed_at = now(), worker_id = COALESCE(EXCLUDED.worker_id, missions.worker_id)
                WHERE missions.status IN ('queued', 'processing')
                    AND (missions.lease IS NULL OR missions.lease <= %(lease)s::text)
                """,
                {"id": mission_id, "params": _json(params), "error": error[:2000], "worker": worker_id, "lease": lease},
            )
            return cur.rowcount == 1

    def refund_attempt(self, mission_id: str) -> bool:
        """An attempt that ended through no fault of the job (reaped while alive) gives its count back.

        A completed mission ran at least once: a refund that arrives after the completion (a copy standing
        down late whose successor's count was lost with Redis, so both were attempt 1) leaves it at 1.
        """
        with self.transaction() as cur:
            cur.execute(
                "UPDATE missions SET attempts = attempts - 1 "
                "WHERE id = %s AND attempts > CASE WHEN status = 'completed' THEN 1 ELSE 0 END",
                (mission_id,),
            )
            return cur.rowcount == 1

    def requeue_failed(self, mission_id: str) -> bool:
        """Operator: a dead letter goes back to the queue, so its failed mission is queued again."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE missions SET status = 'queued', attempts = 0, updated_at = now() "
                "WHERE id = %s AND status = 'failed'",
                (mission_id,),
            )
            return cur.rowcount == 1

    # --- the reconciler's rows, inside its transaction (driftline/reconcile.py) --------------------
    @staticmethod
    def lock_reconciler(cur, queue_name: str) -> bool:
        """The per-queue advisory lock for this transaction: False when another worker is reconciling."""
        cur.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (f"driftline-reconcile:{queue_name}",))
        return bool(cur.fetchone()[0])

    @staticmethod
    def unfinished(cur, queue_name: str, after_s: float, after_loss: bool, limit: int) -> dict[str, dict | None]:
        """mission id -> params of `queued`/`processing` missions of the queue untouched for after_s (oldest first)."""
        cur.execute(
            "SELECT id::text, params FROM missions WHERE status IN ('queued', 'processing') "
            "AND (queue = %s OR queue IS NULL) "
            "AND (updated_at < now() - make_interval(secs => %s) OR (%s AND lease IS NOT NULL)) "
            "ORDER BY updated_at LIMIT %s",
            (queue_name, after_s, after_loss, limit),
        )
        return dict(cur.fetchall())

    @staticmethod
    def fail_lost(cur, mission_id: str, error: str) -> None:
        """A lost job whose stored params cannot be re-enqueued: the mission fails with the reason."""
        cur.execute(
            "UPDATE missions SET status = 'failed', error_message = %s, completed_at = now(), updated_at = now() "
            "WHERE id = %s AND status IN ('queued', 'processing')",
            (error, mission_id),
        )

    @staticmethod
    def requeue_lost(cur, mission_id: str, note: str) -> None:
        """A lost job pushed again: the mission is `queued` with a note saying why."""
        cur.execute(
            "UPDATE missions SET status = 'queued', updated_at = now(), error_message = %s "
            "WHERE id = %s AND status IN ('queued', 'processing')",
            (note, mission_id),
        )

    def claim_state(self, mission_id: str) -> tuple[str, int, str | None] | None:
        """(status, attempts, lease) of a mission, None if it has no row: what a new claim builds on."""
        with self.transaction() as cur:
            cur.execute("SELECT status, attempts, lease FROM missions WHERE id = %s", (mission_id,))
            row = cur.fetchone()
        return (row[0], row[1], row[2]) if row else None

    def state(self, mission_id: str) -> tuple[str, int] | None:
        """(status, attempts) of a mission, None if it has no row."""
        with self.transaction() as cur:
            cur.execute("SELECT status, attempts FROM missions WHERE id = %s", (mission_id,))
            row = cur.fetchone()
        return (row[0], row[1]) if row else None


def _bounded_wait(conn) -> None:
    """psycopg2 wait callback: poll the connection, giving up after its io_timeout_s without an answer."""
    timeout_s = getattr(conn, "io_timeout_s", None)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while (state := conn.poll()) != psycopg2.extensions.POLL_OK:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if state == psycopg2.extensions.POLL_READ:
            ready = select.select([conn.fileno()], [], [], left)[0]
        elif state == psycopg2.extensions.POLL_WRITE:
            ready = select.select([], [conn.fileno()], [], left)[1]
        else:
            raise psycopg2.OperationalError(f"unexpected connection poll state {state}")
        if not ready:
            raise psycopg2.OperationalError(f"PostgreSQL did not answer within {timeout_s:g} s")


def _json(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _root_cause(e: BaseException) -> BaseException:
    """The server's error rather than the "connection already closed" of the rollback that followed it."""
    context = e.__context__
    return context if isinstance(e, psycopg2.InterfaceError) and isinstance(context, psycopg2.Error) else e


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
