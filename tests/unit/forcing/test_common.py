"""Unit tests of driftline/forcing/common.py: message shortening, UTC times, and the error translations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import psycopg2
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from hypothesis import given
from hypothesis import strategies as st

from driftline.errors import DatabaseUnavailable, ForcingError, PermanentError, StorageUnavailable
from driftline.forcing.common import as_utc, covers_time, db_errors, iso, one_line, s3_error, s3_key


@given(st.text(max_size=700))
def test_one_line_is_one_short_line(text):
    """Whitespace runs become one space, at most 300 characters, and never empty (the exception's class name)."""
    got = one_line(ValueError(text))
    assert got == (" ".join(text.split())[:300] or "ValueError")
    assert "\n" not in got and 0 < len(got) <= 300


def test_utc_times_and_coverage():
    """Naive times are UTC, aware ones converted; iso to the minute with Z; coverage inclusive, open without start."""
    naive = datetime(2024, 5, 1, 12, 30)
    assert as_utc(naive) == datetime(2024, 5, 1, 12, 30, tzinfo=UTC) and as_utc(None) is None
    assert iso(datetime(2024, 5, 1, 14, 30, 59, tzinfo=timezone(timedelta(hours=2)))) == "2024-05-01T12:30Z"
    assert iso(None) == "-"
    start, end = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)
    assert covers_time(start, end, datetime(2024, 5, 2)) and covers_time(start, end, start)
    assert not covers_time(start, end, datetime(2024, 5, 2, 0, 1))
    assert covers_time(None, None, naive) and covers_time(start, None, start)
    assert not covers_time(start, None, start + timedelta(seconds=1))  # no end: the start instant only


def test_db_errors_translates_psycopg2_only():
    """A psycopg2 error becomes DatabaseUnavailable naming the step; other errors pass unchanged."""
    with pytest.raises(DatabaseUnavailable, match=r"^forcing catalog lookup failed: server closed the connection$"):
        with db_errors("lookup"):
            raise psycopg2.OperationalError("server closed\n  the connection")
    with pytest.raises(DatabaseUnavailable, match=r"^forcing catalog insert failed: InterfaceError$"):
        with db_errors("insert"):
            raise psycopg2.InterfaceError("  ")
    with pytest.raises(KeyError):
        with db_errors("lookup"):
            raise KeyError("x")


def _client_error(code, status):
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


def test_s3_error_and_key():
    """Missing object: ForcingError naming the URI; changed: StorageUnavailable; the rest by translate_s3_error."""
    uri = "s3://bucket/forcing/a.nc"
    assert s3_key(uri) == "forcing/a.nc"
    for code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
        err = s3_error(_client_error(code, 404), uri, "download")
        assert type(err) is ForcingError and str(err) == f"forcing file {uri} does not exist in S3"
    err = s3_error(_client_error("PreconditionFailed", 412), uri, "download")
    assert type(err) is StorageUnavailable and str(err) == f"forcing file {uri} changed during download"
    err = s3_error(_client_error("InternalError", 500), uri, "download")
    assert type(err) is StorageUnavailable
    assert str(err) == f"S3 error during download of forcing file {uri}: InternalError"
    assert isinstance(s3_error(_client_error("InvalidRange", 416), uri, "download"), PermanentError)
    assert type(s3_error(EndpointConnectionError(endpoint_url="http://x"), uri, "head")) is StorageUnavailable
