"""Logging: one line per event, human-readable or JSON (LOG_FORMAT=json), with the mission id."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

mission_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("mission_id", default=None)


class MissionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "mission_id", None):
            record.mission_id = mission_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.mission_id:
            data["mission_id"] = record.mission_id
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s [%(process)d] %(name)s: %(message)s%(mission)s")

    def format(self, record: logging.LogRecord) -> str:
        record.mission = f" mission_id={record.mission_id}" if record.mission_id else ""
        return super().format(record)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger once per process (the daemon, each job process, the CLI)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(MissionFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # OpenDrift and botocore are chatty at INFO; keep their warnings.
    for name in ("opendrift", "botocore", "boto3", "s3transfer", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
