"""Small helpers shared by the forcing modules: quantity names, URI check, times, error translation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urlsplit

from driftline.contract.metocean import check_forcing_uri  # noqa: F401 - the forcing modules' import
from driftline.errors import DatabaseUnavailable, ForcingError, StorageUnavailable
from driftline.objects import translate_s3_error

CURRENT_VARS = ("x_sea_water_velocity", "y_sea_water_velocity")
WIND_VARS = ("x_wind", "y_wind")
QUANTITIES = {"currents": CURRENT_VARS, "wind": WIND_VARS}


def one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300] or type(e).__name__


def as_utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def iso(t: datetime | None) -> str:
    return as_utc(t).strftime("%Y-%m-%dT%H:%MZ") if t else "-"


def covers_time(start: datetime | None, end: datetime | None, t: datetime) -> bool:
    return start is None or (start <= as_utc(t) <= (end or start))


@contextmanager
def db_errors(what: str) -> Iterator[None]:
    """Translate psycopg2 errors into DatabaseUnavailable (retryable)."""
    import psycopg2

    try:
        yield
    except psycopg2.Error as e:
        detail = one_line(e) if str(e).strip() else type(e).__name__
        raise DatabaseUnavailable(f"forcing catalog {what} failed: {detail}") from e


def s3_key(uri: str) -> str:
    return urlsplit(uri).path.lstrip("/")


def s3_error(e: Exception, uri: str, what: str) -> Exception:
    """Missing object -> ForcingError naming the URI; the rest as translate_s3_error decides."""
    code = str((getattr(e, "response", None) or {}).get("Error", {}).get("Code", ""))
    if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
        return ForcingError(f"forcing file {uri} does not exist in S3")
    if code in ("412", "PreconditionFailed"):
        return StorageUnavailable(f"forcing file {uri} changed during download")
    return translate_s3_error(e, f"{what} of forcing file {uri}")
