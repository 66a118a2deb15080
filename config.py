"""Settings and constants of the drift worker.

`Settings.from_env()` is the only place that reads the environment; everything
else receives a `Settings` instance explicitly.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

QUEUE_NAME = "drift_jobs"
RESULTS_BUCKET = "driftline-results"
FORCING_BUCKET = "driftline-forcing"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Every environment variable the worker reads, with its default (None = required
# for the daemon). docs/configuration.md documents each; a test keeps the three in step.
ENV_DEFAULTS: dict[str, str | None] = {
    "DATABASE_URL": None,
    "REDIS_URL": "redis://localhost:6379/0",
    "S3_ENDPOINT": "",
    "S3_ACCESS_KEY": "",
    "S3_SECRET_KEY": "",
    "S3_REGION": "us-east-1",
    "RESULTS_BUCKET": RESULTS_BUCKET,
    "FORCING_BUCKET": FORCING_BUCKET,
    "QUEUE_NAME": QUEUE_NAME,
    "POLL_INTERVAL": "5",
    "MAX_CONCURRENT_JOBS": "2",
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",
    "WORKER_ID": "",
    "MAX_PARTICLES": "50000",
    "MAX_DURATION_HOURS": "240",
    "MAX_JOB_BYTES": "65536",
    "MAX_AREA_KM2": "100000",
    "MAX_ATTEMPTS": "3",
    "JOB_TIMEOUT_S": "1800",
    "MAX_JOB_MEMORY_MB": "2300",
    "SHUTDOWN_GRACE_S": "60",
    "HEARTBEAT_TTL_S": "15",
    "REAPER_INTERVAL_S": "10",
    "RECONCILE_AFTER_S": "120",
    "RETRY_BASE_S": "2",
    "RETRY_MAX_S": "60",
    "METRICS_PORT": "9100",
    "FORCING_CACHE_DIR": "/tmp/driftline-forcing-cache",
    "FORCING_CACHE_MAX_GB": "5",
    "DENSITY_MIN_CELLS": "50",
    "FORCING_REMOTE_HOSTS": "",
    "FORCING_REMOTE_TIMEOUT_S": "30",
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """All tunables of the worker, read once at start."""

    database_url: str | None = None
    redis_url: str = "redis://localhost:6379/0"
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    results_bucket: str = RESULTS_BUCKET
    forcing_bucket: str = FORCING_BUCKET
    queue_name: str = QUEUE_NAME
    poll_interval_s: float = 5.0
    max_concurrent_jobs: int = 2
    log_level: str = "INFO"
    log_format: str = "text"
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    worker_id_explicit: bool = False  # WORKER_ID was set; else it is "{hostname}-{pid}"
    max_particles: int = 50000
    max_duration_hours: float = 240.0
    max_job_bytes: int = 65536
    max_area_km2: float = 100000.0
    max_attempts: int = 3
    job_timeout_s: float = 1800.0
    max_job_memory_mb: int = 2300  # (6 GB per replica - ~1.4 GB idle worker) / 2 concurrent jobs, rounded down
    shutdown_grace_s: float = 60.0
    heartbeat_ttl_s: float = 15.0
    reaper_interval_s: float = 10.0
    reconcile_after_s: float = 120.0
    retry_base_s: float = 2.0
    retry_max_s: float = 60.0
    metrics_port: int = 9100
    forcing_cache_dir: Path = Path("/tmp/driftline-forcing-cache")
    forcing_cache_max_gb: float = 5.0
    density_min_cells: int = 50
    forcing_remote_hosts: tuple[str, ...] = ()  # host or host:port entries; ".example.org" = its subdomains
    forcing_remote_timeout_s: float = 30.0  # per request to a remote forcing server

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment; raise ConfigError naming a bad variable."""
        env = os.environ if env is None else env
        get = lambda name: env.get(name, ENV_DEFAULTS[name]) or ENV_DEFAULTS[name]  # noqa: E731
        worker_id = env.get("WORKER_ID") or f"{socket.gethostname()}-{os.getpid()}"
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            redis_url=_url("REDIS_URL", get("REDIS_URL"), ("redis", "rediss", "unix")),
            s3_endpoint=_optional_url("S3_ENDPOINT", env.get("S3_ENDPOINT", "")),
            s3_access_key=env.get("S3_ACCESS_KEY") or None,
            s3_secret_key=env.get("S3_SECRET_KEY") or None,
            s3_region=get("S3_REGION"),
            results_bucket=_bucket("RESULTS_BUCKET", get("RESULTS_BUCKET")),
            forcing_bucket=_bucket("FORCING_BUCKET", get("FORCING_BUCKET")),
            queue_name=_name("QUEUE_NAME", get("QUEUE_NAME")),
            poll_interval_s=_number("POLL_INTERVAL", get("POLL_INTERVAL"), float, 0.1, 300),
            max_concurrent_jobs=_number("MAX_CONCURRENT_JOBS", get("MAX_CONCURRENT_JOBS"), int, 1, 64),
            log_level=_choice("LOG_LEVEL", get("LOG_LEVEL").upper(), LOG_LEVELS),
            log_format=_choice("LOG_FORMAT", get("LOG_FORMAT").lower(), ("text", "json")),
            worker_id=_name("WORKER_ID", worker_id),
            worker_id_explicit=bool(env.get("WORKER_ID")),
            max_particles=_number("MAX_PARTICLES", get("MAX_PARTICLES"), int, 1, 10_000_000),
            max_duration_hours=_number("MAX_DURATION_HOURS", get("MAX_DURATION_HOURS"), float, 1, 24 * 365),
            max_job_bytes=_number("MAX_JOB_BYTES", get("MAX_JOB_BYTES"), int, 256, 64 * 2**20),
            max_area_km2=_number("MAX_AREA_KM2", get("MAX_AREA_KM2"), float, 1, 1e8),
            max_attempts=_number("MAX_ATTEMPTS", get("MAX_ATTEMPTS"), int, 1, 100),
            job_timeout_s=_number("JOB_TIMEOUT_S", get("JOB_TIMEOUT_S"), float, 1, 86400),
            max_job_memory_mb=_number("MAX_JOB_MEMORY_MB", get("MAX_JOB_MEMORY_MB"), int, 64, 10**7),
            shutdown_grace_s=_number("SHUTDOWN_GRACE_S", get("SHUTDOWN_GRACE_S"), float, 0, 86400),
            heartbeat_ttl_s=_number("HEARTBEAT_TTL_S", get("HEARTBEAT_TTL_S"), float, 2, 3600),
            reaper_interval_s=_number("REAPER_INTERVAL_S", get("REAPER_INTERVAL_S"), float, 0.5, 3600),
            reconcile_after_s=_number("RECONCILE_AFTER_S", get("RECONCILE_AFTER_S"), float, 1, 86400),
            retry_base_s=_number("RETRY_BASE_S", get("RETRY_BASE_S"), float, 0, 3600),
            retry_max_s=_number("RETRY_MAX_S", get("RETRY_MAX_S"), float, 0, 86400),
            metrics_port=_number("METRICS_PORT", get("METRICS_PORT"), int, 0, 65535),
            forcing_cache_dir=Path(get("FORCING_CACHE_DIR")),
            forcing_cache_max_gb=_number("FORCING_CACHE_MAX_GB", get("FORCING_CACHE_MAX_GB"), float, 0.001, 10000),
            density_min_cells=_number("DENSITY_MIN_CELLS", get("DENSITY_MIN_CELLS"), int, 5, 2000),
            forcing_remote_hosts=_hosts("FORCING_REMOTE_HOSTS", get("FORCING_REMOTE_HOSTS")),
            forcing_remote_timeout_s=_number(
                "FORCING_REMOTE_TIMEOUT_S", get("FORCING_REMOTE_TIMEOUT_S"), float, 0.1, 3600
            ),
        ).check_timing()

    def check_timing(self) -> Settings:
        """Refuse settings under which one loop step could outlast a third of the heartbeat TTL."""
        if self.poll_interval_s > self.io_timeout_s:
            raise ConfigError(
                f"POLL_INTERVAL={self.poll_interval_s:g} must be at most HEARTBEAT_TTL_S/3 "
                f"(HEARTBEAT_TTL_S={self.heartbeat_ttl_s:g}): a blocking poll would outlast a third of the "
                "heartbeat TTL; lower POLL_INTERVAL or raise HEARTBEAT_TTL_S"
            )
        return self

    @property
    def io_timeout_s(self) -> float:
        """Bound on any one network call of the supervisor (Redis, PostgreSQL, S3): a third of the heartbeat TTL."""
        return self.heartbeat_ttl_s / 3

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)

    def require_services(self) -> None:
        """The daemon needs a database; the local `run` command does not."""
        if not self.database_url:
            raise ConfigError("DATABASE_URL is not set (e.g. postgresql://user:pass@host:5432/driftline)")
        _url("DATABASE_URL", self.database_url, ("postgres", "postgresql"))

    # Redis keys, all derived from the queue name so several queues can share a Redis.
    @property
    def dead_queue(self) -> str:
        return f"{self.queue_name}:dead"

    @property
    def delayed_queue(self) -> str:
        return f"{self.queue_name}:delayed"

    @property
    def status_outbox(self) -> str:
        return f"{self.queue_name}:status_outbox"

    @property
    def workers_set(self) -> str:
        return f"{self.queue_name}:workers"

    @property
    def attempts_hash(self) -> str:
        return f"{self.queue_name}:attempts"

    @property
    def outbox_lock(self) -> str:
        return f"{self.status_outbox}:lock"

    @property
    def epoch_key(self) -> str:
        return f"{self.queue_name}:epoch"

    @property
    def dead_dropped_key(self) -> str:
        return f"{self.queue_name}:dead_dropped"

    @property
    def reconcile_suspects(self) -> str:
        return f"{self.queue_name}:reconcile_suspects"

    @property
    def processing_prefix(self) -> str:
        return f"{self.queue_name}:processing:"

    def processing_list(self, worker_id: str | None = None) -> str:
        return f"{self.processing_prefix}{worker_id or self.worker_id}"

    def heartbeat_key(self, worker_id: str | None = None) -> str:
        return f"{self.queue_name}:heartbeat:{worker_id or self.worker_id}"


# The worker's own secrets: never handed to helper processes that talk to outside servers.
WORKER_SECRET_VARS = ("DATABASE_URL", "REDIS_URL", "S3_ACCESS_KEY", "S3_SECRET_KEY")


def helper_environment() -> dict[str, str]:
    """The environment for a helper process that contacts remote servers: everything but the worker's secrets."""
    return {k: v for k, v in os.environ.items() if k not in WORKER_SECRET_VARS}


def redact_url(url: str | None) -> str:
    """The URL with any password replaced, for logs; safe with unencoded #, ?, @ or / in the password."""
    if not url:
        return ""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if "@" in rest:
        # The userinfo ends at the last "@": urlsplit would cut it at a "/", "?" or "#" inside the password.
        userinfo, _, host = rest.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        rest = f"{user}:***@{host}" if colon else rest
    return f"{scheme}://{_redact_query(rest)}"


# Query parameters that carry a secret: libpq's password/sslpassword, redis-py's password, S3-style tokens.
SECRET_QUERY_KEYS = re.compile(r"(?i)^(?:[a-z_]*pass(?:word|wd)?|[a-z_]*secret[a-z_]*|[a-z_]*token|sslkey|auth)$")


def _redact_query(rest: str) -> str:
    """Mask the values of secret-bearing query parameters (`?password=…`, `&sslpassword=…`), keeping the rest."""
    base, qmark, query = rest.partition("?")
    if not qmark:
        return rest
    query, hash_, fragment = query.partition("#")
    parts = []
    for item in query.split("&"):
        key, eq, _ = item.partition("=")
        parts.append(f"{key}=***" if eq and SECRET_QUERY_KEYS.match(unquote(key)) else item)
    return f"{base}?{'&'.join(parts)}{hash_}{fragment}"


def _url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    if _userinfo_ambiguous(value):
        raise ConfigError(
            f"{name} has unencoded reserved characters (#, ?, @ or /) in its user or password: "
            "percent-encode them (e.g. %23 for #, %40 for @)"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as e:  # the library's message may quote part of a password: name the URL redacted
        raise ConfigError(f"{name} is malformed ({type(e).__name__}): {redact_url(value)}") from None
    if parts.scheme not in schemes:
        raise ConfigError(f"{name} must start with one of {', '.join(s + '://' for s in schemes)}")
    return value


def _userinfo_ambiguous(url: str) -> bool:
    _, sep, rest = url.partition("://")
    userinfo = rest.rpartition("@")[0] if sep else ""
    return any(c in userinfo for c in "#?@/")


def _optional_url(name: str, value: str) -> str | None:
    return _url(name, value, ("http", "https")) if value else None


def _number(name: str, raw: str, kind: type, low: float, high: float):
    try:
        value = kind(raw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from e
    if not (low <= value <= high):
        raise ConfigError(f"{name}={raw!r} is out of range {low}..{high}")
    return value


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def _bucket(name: str, value: str) -> str:
    if not (3 <= len(value) <= 63) or not all(c.isalnum() or c in "-." for c in value) or value != value.lower():
        raise ConfigError(f"{name}={value!r} is not a valid bucket name")
    return value


def _hosts(name: str, value: str) -> tuple[str, ...]:
    """Comma-separated host, host:port or .domain entries (lower case; no scheme, path or credentials)."""
    hosts = tuple(h.strip().lower() for h in value.split(",") if h.strip())
    for host in hosts:
        if any(c in host for c in "/@ ") or host.count(":") > 1 and not host.startswith("["):
            raise ConfigError(f"{name} entry {host!r} must be a host, host:port or .domain (no scheme or path)")
    return hosts


def _name(name: str, value: str) -> str:
    if not value or len(value) > 200 or any(c.isspace() for c in value):
        raise ConfigError(f"{name}={value!r} must be a non-empty name without spaces")
    return value


@dataclass(frozen=True)
class LeewayObject:
    """One row of OpenDrift's Leeway object table (OBJECTPROP.DAT)."""

    number: int  # 1-based, as OpenDrift's `object_type` seed argument
    key: str
    description: str


@lru_cache(maxsize=1)
def leeway_objects() -> tuple[LeewayObject, ...]:
    """The full Leeway object table, read from the copy OpenDrift itself uses."""
    # Located without importing OpenDrift (5 s): the supervising parent validates jobs cheaply.
    from importlib.util import find_spec

    spec = find_spec("opendrift")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("OpenDrift is not installed (pip install -r requirements.txt)")
    path = Path(spec.submodule_search_locations[0]) / "models" / "OBJECTPROP.DAT"
    lines = path.read_text().splitlines()
    return tuple(_parse_objectprop(lines))


def _parse_objectprop(lines: list[str]) -> list[LeewayObject]:
    # 3-line records (key, description, coefficients) up to the first blank line, as Leeway reads it.
    records = []
    for i in range(0, len(lines) - 2, 3):
        if not lines[i].strip():
            break
        records.append(LeewayObject(number=i // 3 + 1, key=lines[i].split()[0], description=lines[i + 1].strip()))
    return records


def leeway_object(ref: int | str) -> LeewayObject:
    """Look up an object type by its 1-based number or its key (case-insensitive)."""
    table = leeway_objects()
    if isinstance(ref, int) and not isinstance(ref, bool):
        if 1 <= ref <= len(table):
            return table[ref - 1]
    elif isinstance(ref, str):
        for obj in table:
            if obj.key.upper() == ref.strip().upper():
                return obj
    raise KeyError(ref)
