"""Job section `drifters`: drifter tracks validated fix by fix and leg by leg, and the great-circle distance."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.contract.drifters import (
    EARTH_RADIUS_M,
    MAX_FIXES,
    MAX_TRACKS,
    DrifterFix,
    haversine_m,
    parse_drifters,
)
from driftline.errors import InvalidJob


def fix(time: str, lat: float = 60.0, lon: float = 4.0) -> dict:
    return {"time": time, "lat": lat, "lon": lon}


A, B = fix("2024-03-01T12:00:00Z"), fix("2024-03-01T13:00:00+00:00", 60.01)


def test_a_track_is_parsed_with_utc_fixes_and_a_stripped_id():
    (track,) = parse_drifters([{"id": " SLDMB-1 ", "positions": [A, B]}])
    assert track.id == "SLDMB-1"
    assert track.fixes[0] == DrifterFix(datetime(2024, 3, 1, 12, tzinfo=UTC), 60.0, 4.0)
    assert (track.first.hour, track.last.hour) == (12, 13)
    assert track.record() == {
        "id": "SLDMB-1",
        "positions": [fix("2024-03-01T12:00:00Z"), fix("2024-03-01T13:00:00Z", 60.01)],
    }
    assert parse_drifters(None) == ()


def test_a_meridian_degree_and_the_antimeridian():
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(EARTH_RADIUS_M * math.pi / 180)
    assert haversine_m(0.0, 179.5, 0.0, -179.5) == pytest.approx(EARTH_RADIUS_M * math.pi / 180)
    got = haversine_m(np.array([0.0, 90.0]), 0.0, np.array([0.0, -90.0]), 0.0)
    np.testing.assert_allclose(got, [0.0, EARTH_RADIUS_M * math.pi])


@given(st.floats(-90, 90), st.floats(-180, 180), st.floats(-90, 90), st.floats(-180, 180))
def test_haversine_is_symmetric_and_at_most_half_the_circumference(lat1, lon1, lat2, lon2):
    d = float(haversine_m(lat1, lon1, lat2, lon2))
    assert 0 <= d <= EARTH_RADIUS_M * math.pi * (1 + 1e-12)
    assert d == pytest.approx(float(haversine_m(lat2, lon2, lat1, lon1)), abs=1e-6)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, f"drifters must be a list of 1 to {MAX_TRACKS} tracks"),
        ([], "drifters must be a list of 1 to 20 tracks"),
        ([{"id": "a"}], "drifters[0] must be an object with exactly 'id' and 'positions'"),
        ([{"id": " ", "positions": [A, B]}], "drifters[0].id must be a string of 1 to 64 characters"),
        ([{"id": "a", "positions": [A]}], f"drifters[0].positions must be a list of 2 to {MAX_FIXES} fixes"),
        (
            [{"id": "a", "positions": [A, {"time": "2024-03-01T13:00:00Z", "lat": 60}]}],
            "drifters[0].positions[1] must be an object with exactly time, lat and lon",
        ),
        (
            [{"id": "a", "positions": [A, fix("2024-03-01T13:00:00Z", 91)]}],
            "drifters[0].positions[1].lat must be between -90 and 90, got 91",
        ),
        ([{"id": "a", "positions": [fix("soon"), B]}], "drifters[0].positions[0].time is not an ISO 8601 time: 'soon'"),
        ([{"id": "a", "positions": [B, A]}], "drifters[0] (a): fix 1 is not later than fix 0 (times must increase)"),
        (
            [{"id": "a", "positions": [A, B]}, {"id": "a ", "positions": [A, B]}],
            "drifters: two tracks have the same id",
        ),
    ],
)
def test_malformed_tracks_are_refused_naming_the_fix(value, message):
    with pytest.raises(InvalidJob, match=f"^{re.escape(message)}$"):
        parse_drifters(value)


def test_a_leg_faster_than_five_metres_per_second_is_a_wrong_fix():
    # 0.2° of latitude is 22.24 km; in 60 min that is 6.18 m/s, above the 5 m/s limit
    far = fix("2024-03-01T13:00:00Z", 60.2)
    with pytest.raises(InvalidJob) as e:
        parse_drifters([{"id": "b", "positions": [A, far]}])
    assert str(e.value) == (
        "drifters[0] (b): fixes 0 to 1 imply 6.2 m/s (22.24 km in 60 min), above the plausible 5 m/s"
    )
    (ok,) = parse_drifters([{"id": "b", "positions": [A, fix("2024-03-01T13:00:00Z", 60.16)]}])  # 4.9 m/s
    assert len(ok.fixes) == 2
