"""Readiness: a worker marks, in a file of its temporary directory, that its preload is done and it claims jobs.

The heartbeat starts before the forkserver preload (~10-20 s) so that a restarted worker recovers its own
processing list at once; `worker.py health` runs beside the worker (same container or host) and also asks for
this mark, so a HEALTHCHECK or readiness probe turns healthy only once the worker can take jobs.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path


def ready_path(worker_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"driftline-ready-{re.sub(r'[^A-Za-z0-9_.-]', '_', worker_id)}"


def mark_ready(worker_id: str) -> None:
    """After the preload, when the worker starts claiming."""
    ready_path(worker_id).write_text("ready\n")


def clear_ready(worker_id: str) -> None:
    """At start (a mark left by a killed predecessor of the same id is stale) and at shutdown."""
    ready_path(worker_id).unlink(missing_ok=True)


def is_ready(worker_id: str) -> bool:
    return ready_path(worker_id).exists()
