"""Small helpers shared by the forcing modules: quantity names, URI check, times, error translation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from config import Settings
from driftline.errors import DatabaseUnavailable, ForcingError, InvalidJob, StorageUnavailable
from driftline.objects import translate_s3_error

CURRENT_VARS = ("x_sea_water_velocity", "y_sea_water_velocity")
WIND_VARS = ("x_wind", "y_wind")
QUANTITIES = {"currents": CURRENT_VARS, "wind": WIND_VARS}


def check_forcing_uri(uri: Any, settings: Settings) -> str:
    """Accept only s3://{FORCING_BUCKET}/key.nc; refuse anything else before any fetch."""
    if not isinstance(uri, str) or len(uri) > 1024:
        raise InvalidJob("forcing entries must be s3:// URI strings")
    if not uri.isprintable():  # NUL, newlines, lone surrogates: never a key, and PostgreSQL refuses some
        raise InvalidJob(f"forcing URI {uri!r} contains control or unencodable characters")
    try:
        parts = urlsplit(uri)
    except ValueError as e:  # e.g. an unbalanced "[" in the host
        raise InvalidJob(f"forcing URI {uri!r} is malformed: {e}") from e
    if parts.scheme != "s3" or parts.netloc != settings.forcing_bucket or parts.query or parts.fragment:
        raise InvalidJob(f"forcing URI {uri!r} is not allowed: only s3://{settings.forcing_bucket}/... is accepted")
    key = parts.path.lstrip("/")
    if not key or ".." in key.split("/") or not key.endswith((".nc", ".nc4")):
        raise InvalidJob(f"forcing URI {uri!r} is not allowed: the key must name a .nc file")
    return uri


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300] or type(e).__name__


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _iso(t: datetime | None) -> str:
    return _utc(t).strftime("%Y-%m-%dT%H:%MZ") if t else "-"


def _covers_time(start: datetime | None, end: datetime | None, t: datetime) -> bool:
    return start is None or (start <= _utc(t) <= (end or start))


@contextmanager
def _db(what: str) -> Iterator[None]:
    """Translate psycopg2 errors into DatabaseUnavailable (retryable)."""
    import psycopg2

    try:
        yield
    except psycopg2.Error as e:
        detail = _one_line(e) if str(e).strip() else type(e).__name__
        raise DatabaseUnavailable(f"forcing catalog {what} failed: {detail}") from e


def _s3_key(uri: str) -> str:
    return urlsplit(uri).path.lstrip("/")


def _s3_error(e: Exception, uri: str, what: str) -> Exception:
    """Missing object -> ForcingError naming the URI; the rest as translate_s3_error decides."""
    code = str((getattr(e, "response", None) or {}).get("Error", {}).get("Code", ""))
    if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
        return ForcingError(f"forcing file {uri} does not exist in S3")
    if code in ("412", "PreconditionFailed"):
        return StorageUnavailable(f"forcing file {uri} changed during download")
    return translate_s3_error(e, f"{what} of forcing file {uri}")
