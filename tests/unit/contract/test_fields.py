"""The field validators every section of the job contract uses: each rejection names the key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from driftline.contract.fields import choice, integer, iso, number, timestamp
from driftline.errors import InvalidJob


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "speed is required"),
        ({"speed": None}, "speed must be a number, got null"),
        ({"speed": True}, "speed must be a number, got bool"),
        ({"speed": float("nan")}, "speed must be a finite number"),
        ({"speed": 11}, "speed must be between 0 and 10, got 11"),
        ({"speed": 10**400}, "speed must be between 0 and 10, got an integer of 401 digits"),
    ],
)
def test_a_number_outside_its_rule_is_refused_naming_the_key(params, message):
    with pytest.raises(InvalidJob, match=f"^{message}$"):
        number(params, "speed", None, 0, 10)


def test_number_defaults_and_open_lower_bounds():
    assert number({}, "k", 2.5, 0, 10) == 2.5
    with pytest.raises(InvalidJob, match="k must be greater than 0 and at most 10, got 0"):
        number({"k": 0}, "k", None, 0, 10, low_open=True)


def test_integers_accept_whole_floats_only():
    assert integer({"n": 3.0}, "n", 1, 1, 5) == 3
    with pytest.raises(InvalidJob, match="n must be an integer, got 2.5"):
        integer({"n": 2.5}, "n", 1, 1, 5)


def test_times_are_utc_and_within_the_supported_years():
    assert timestamp({"t": "2024-01-01T13:00:00+01:00"}, "t") == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert timestamp({}, "t") is None
    with pytest.raises(InvalidJob, match="t is outside the years 1950-2100"):
        timestamp({"t": "2200-01-01T00:00:00Z"}, "t")
    assert iso(datetime(2024, 1, 1, 12, tzinfo=UTC)) == "2024-01-01T12:00:00Z"


def test_a_choice_names_the_allowed_values():
    with pytest.raises(InvalidJob, match="direction must be one of forward, backward, got 'up'"):
        choice({"direction": "up"}, "direction", "forward", ("forward", "backward"))
