"""Seeding sections of the job contract: extra search-area times within the run, and the area polygon."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import Settings
from driftline.contract.fields import iso
from driftline.contract.seeding import MAX_SEARCH_AREA_TIMES, parse_area, parse_search_area_times
from driftline.errors import InvalidJob

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_times_are_deduplicated_sorted_and_may_touch_both_ends():
    value = ["2024-03-01T18:00:00Z", "2024-03-01T12:00:00Z", "2024-03-01T19:00:00+01:00", "2024-03-02T12:00:00Z"]
    got = parse_search_area_times({"search_area_times": value}, T0, 24.0, False)
    assert got == (T0, T0 + timedelta(hours=6), T0 + timedelta(hours=24))
    assert parse_search_area_times({}, T0, 24.0, False) == ()


def test_a_backward_run_accepts_times_before_the_start_only():
    before = parse_search_area_times({"search_area_times": ["2024-03-01T06:00:00Z"]}, T0, 12.0, True)
    assert before == (T0 - timedelta(hours=6),)
    with pytest.raises(InvalidJob) as e:
        parse_search_area_times({"search_area_times": ["2024-03-01T13:00:00Z"]}, T0, 12.0, True)
    assert str(e.value) == (
        "search_area_times[0] 2024-03-01T13:00:00Z is outside the run (2024-03-01T00:00:00Z to 2024-03-01T12:00:00Z)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-03-01T12:00:00Z", f"search_area_times must be a list of at most {MAX_SEARCH_AREA_TIMES} ISO 8601 times"),
        (
            ["2024-03-01T12:00:00Z"] * (MAX_SEARCH_AREA_TIMES + 1),
            "search_area_times must be a list of at most 50 ISO 8601 times",
        ),
        (["2024-03-01T12:00:00Z", None], "search_area_times[1] is required (ISO 8601, e.g. 2024-01-01T12:00:00Z)"),
        (["noon"], "search_area_times[0] is not an ISO 8601 time: 'noon'"),
    ],
)
def test_malformed_lists_are_refused_naming_the_entry(value, message):
    with pytest.raises(InvalidJob, match=f"^{re.escape(message)}$"):
        parse_search_area_times({"search_area_times": value}, T0, 24.0, False)


@given(st.lists(st.integers(-48 * 60, 48 * 60), max_size=MAX_SEARCH_AREA_TIMES), st.booleans())
def test_accepted_times_are_exactly_the_distinct_ones_inside_the_run(minutes, backward):
    times = [T0 + timedelta(minutes=m) for m in minutes]
    lo, hi = (T0 - timedelta(hours=24), T0) if backward else (T0, T0 + timedelta(hours=24))
    p = {"search_area_times": [iso(t) for t in times]}
    if all(lo <= t <= hi for t in times):
        assert parse_search_area_times(p, T0, 24.0, backward) == tuple(sorted(set(times)))
    else:
        first_bad = next(i for i, t in enumerate(times) if not lo <= t <= hi)
        with pytest.raises(InvalidJob, match=rf"^search_area_times\[{first_bad}\] .* is outside the run"):
            parse_search_area_times(p, T0, 24.0, backward)


def test_an_area_is_checked_against_the_settings_limit():
    ring = [
        [4.0, 60.0],
        [4.1, 60.0],
        [4.1, 60.1],
        [4.0, 60.1],
        [4.0, 60.0],
    ]  # 0.1° x 0.1° at 60° N: about 5.57 km x 11.12 km = 62 km²
    area = {"type": "Polygon", "coordinates": [ring]}
    assert parse_area(None, Settings()) is None
    assert parse_area(area, Settings())["type"] == "Polygon"
    with pytest.raises(InvalidJob, match=r"^area is 62 km², above the limit of 10 km²$"):
        parse_area(area, Settings(max_area_km2=10.0))
