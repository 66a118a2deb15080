"""Mission store: mission status and result rows in PostgreSQL.

Every write is an idempotent upsert guarded so a mission never leaves
`completed`, because delivery is at least once and updates can be replayed
from the outbox out of band.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extras

from driftline.errors import DatabaseUnavailable, DriftError
from driftline.storage import StoredObject

log = logging.getLogger(__name__)

REQUIRED_TABLES = ("missions", "mission_results")


class SchemaMissing(DriftError):
    reason = "schema"


class MissionStore:
    """A lazily (re)connected PostgreSQL connection with the mission queries."""

    def __init__(self, database_url: str, connect_timeout_s: int = 5):
        self.database_url = database_url
        self.connect_timeout_s = connect_timeout_s
        self._conn = None

    def connect(self):
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg2.connect(
                    self.database_url,
                    connect_timeout=self.connect_timeout_s,
                    application_name="driftline-worker",
                    keepalives=1,
                    keepalives_idle=30,
                )
            except psycopg2.OperationalError as e:
                raise DatabaseUnavailable(f"PostgreSQL unreachable: {_first_line(e)}") from e
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.cursor]:
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                yield cur
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            self.close()
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {_first_line(e)}") from e

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

    def apply(self, update: dict) -> None:
        """Apply one status update (the same dicts travel through the Redis outbox)."""
        op = update["op"]
        if op == "processing":
            self.mark_processing(update["mission_id"], update.get("params"), update["worker_id"])
        elif op == "completed":
            stored = [StoredObject(**s) for s in update["stored"]]
            self.mark_completed(update["mission_id"], stored, update["location"], update.get("params"))
        elif op == "failed":
            self.mark_failed(update["mission_id"], update["error"], update.get("worker_id"), update.get("params"))
        elif op == "requeued":
            self.mark_requeued(update["mission_id"], update["error"])
        elif op == "progress":
            self.set_progress(update["mission_id"], update["progress"])
        else:
            raise ValueError(f"unknown status update {op!r}")

    def mark_processing(self, mission_id: str, params: dict | None, worker_id: str) -> None:
        with self.transaction() as cur:
            cur.execute(
                """
                INSERT INTO missions (id, status, params, attempts, worker_id, started_at, progress)
                VALUES (%s, 'processing', %s, 1, %s, now(), 0)
                ON CONFLICT (id) DO UPDATE SET
                    status = 'processing', attempts = missions.attempts + 1, worker_id = EXCLUDED.worker_id,
                    started_at = now(), updated_at = now(), progress = 0, error_message = NULL,
                    params = COALESCE(missions.params, EXCLUDED.params)
                WHERE missions.status <> 'completed'
                """,
                (mission_id, _json(params), worker_id),
            )

    def set_progress(self, mission_id: str, progress: float) -> None:
        with self.transaction() as cur:
            cur.execute(
                "UPDATE missions SET progress = %s, updated_at = now() WHERE id = %s AND status = 'processing'",
                (max(0.0, min(1.0, progress)), mission_id),
            )

    def mark_completed(
        self, mission_id: str, stored: list[StoredObject], location: str, params: dict | None = None
    ) -> None:
        """Result rows and the completed status in one transaction."""
        with self.transaction() as cur:
            cur.execute(
                """
                INSERT INTO missions (id, status, params, progress, result_location, completed_at, attempts)
                VALUES (%s, 'completed', %s, 1, %s, now(), 1)
                ON CONFLICT (id) DO UPDATE SET
                    status = 'completed', progress = 1, result_location = EXCLUDED.result_location,
                    completed_at = now(), updated_at = now(), error_message = NULL,
                    params = COALESCE(missions.params, EXCLUDED.params)
                """,
                (mission_id, _json(params), location),
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

    def mark_requeued(self, mission_id: str, reason: str) -> None:
        """Back to queued while a service outage lasts; the reason is visible to the coordinator."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE missions SET status = 'queued', error_message = %s, updated_at = now() "
                "WHERE id = %s AND status = 'processing'",
                (reason[:2000], mission_id),
            )

    def mark_failed(self, mission_id: str, error: str, worker_id: str | None, params: dict | None = None) -> None:
        with self.transaction() as cur:
            cur.execute(
                """
                INSERT INTO missions (id, status, params, error_message, worker_id, completed_at)
                VALUES (%s, 'failed', %s, %s, %s, now())
                ON CONFLICT (id) DO UPDATE SET
                    status = 'failed', error_message = EXCLUDED.error_message, updated_at = now(),
                    completed_at = now(), worker_id = COALESCE(EXCLUDED.worker_id, missions.worker_id)
                WHERE missions.status <> 'completed'
                """,
                (mission_id, _json(params), error[:2000], worker_id),
            )


def _json(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
