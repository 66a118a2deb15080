"""The error hierarchy: one-line messages, and the retry class and metric label of each error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline import errors
from driftline.errors import DriftError, PermanentError, RetryableError

PERMANENT = {
    "InvalidJob": "invalid_job",
    "ForcingError": "forcing",
    "SimulationError": "simulation",
    "JobTimeout": "timeout",
}
RETRYABLE = {
    "StorageUnavailable": "s3_unavailable",
    "DatabaseUnavailable": "db_unavailable",
    "QueueUnavailable": "redis_unavailable",
    "DiskFull": "disk_full",
    "ForcingSourceUnavailable": "forcing_unavailable",
    "ForcingSourceMalformed": "forcing_malformed",
    "JobCrashed": "crashed",
}


@given(st.text())
def test_the_message_is_one_line_with_single_spaces(text):
    message = str(errors.InvalidJob(text))
    assert message.split() == text.split()  # the words are kept, in order
    assert all(c == " " or not c.isspace() for c in message)
    assert "  " not in message and message == message.strip()


def test_a_multi_line_message_is_joined():
    error = errors.ForcingError("file x.nc\n\tdoes not cover\r\n the mission ")
    assert str(error) == "file x.nc does not cover the mission"


@pytest.mark.parametrize(("name", "reason"), PERMANENT.items())
def test_permanent_errors_are_not_retryable(name, reason):
    cls = getattr(errors, name)
    assert issubclass(cls, PermanentError) and not issubclass(cls, RetryableError)
    assert cls.reason == reason


@pytest.mark.parametrize(("name", "reason"), RETRYABLE.items())
def test_retryable_errors_are_not_permanent(name, reason):
    cls = getattr(errors, name)
    assert issubclass(cls, RetryableError) and not issubclass(cls, PermanentError)
    assert cls.reason == reason


def test_every_error_is_a_drift_error_with_a_distinct_reason():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert all(issubclass(c, DriftError) for c in classes)
    reasons = [c.reason for c in classes]
    assert len(reasons) == len(set(reasons))
    assert {c.__name__ for c in classes} == {"DriftError", "PermanentError", "RetryableError", *PERMANENT, *RETRYABLE}
