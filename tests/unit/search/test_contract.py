"""The new search keys: detection law, pattern, search endurance factor, route, conditions; refusals name the key."""

from __future__ import annotations

import json

import pytest

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob

SETTINGS = Settings.from_env({})
UNIT = {"name": "Rescue 51", "speed_kn": 90, "sweep_width_nm": 1.2, "endurance_hours": 2.5}
C6 = "2024-01-01T06:00:00Z"
ROUTE = {"type": "LineString", "coordinates": [[2.0, 65.0], [2.5, 65.2]]}


def job(**params) -> str:
    base = {"latitude": 65.0, "longitude": 2.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 12}
    return json.dumps({"mission_id": "550e8400-e29b-41d4-a716-446655440000", "params": {**base, **params}})


def test_defaults_are_iamsar_search_endurance_exponential_detection_and_auto_pattern():
    p = parse_job(job(search={"commence_time": C6, "units": [UNIT]}), SETTINGS).params
    u = p.search.units[0]
    assert (u.detection, u.pattern, u.search_endurance_factor) == ("exponential", "auto", 0.85)
    assert u.search_hours == pytest.approx(2.125) and u.effort_nm2 == pytest.approx(90 * 1.2 * 2.125)
    assert u.mid_time.hour == 7 and u.mid_time.minute == 3  # 06:00 + 2.125 h / 2
    record = json.loads(json.dumps(p.as_record()))
    assert record["search"]["units"][0]["search_endurance_factor"] == 0.85


def test_per_unit_keys_and_the_route_are_parsed():
    units = [{**UNIT, "detection": "inverse_cube", "pattern": "TSR", "search_endurance_factor": 1}]
    p = parse_job(job(search={"commence_time": C6, "route": ROUTE, "search_endurance_factor": 0.9,
                              "units": units + [{**UNIT, "name": "B"}]}), SETTINGS).params  # fmt: skip
    a, b = p.search.units
    assert (a.detection, a.pattern, a.search_endurance_factor, b.search_endurance_factor) == (
        "inverse_cube",
        "TSR",
        1,
        0.9,
    )
    assert p.search.route == ((2.0, 65.0), (2.5, 65.2))


@pytest.mark.parametrize(
    "search, words",
    [
        ({"units": [{**UNIT, "detection": "cookie"}]}, ["search.units[0].detection", "exponential, inverse_cube"]),
        ({"units": [{**UNIT, "pattern": "zigzag"}]}, ["search.units[0].pattern", "PS", "VS"]),
        ({"units": [{**UNIT, "pattern": "TSN"}]}, ["search.units[0].pattern TSN needs search.route"]),
        ({"units": [{**UNIT, "search_endurance_factor": 0}]}, ["search.units[0].search_endurance_factor"]),
        ({"units": [UNIT], "search_endurance_factor": 1.5}, ["search.search_endurance_factor"]),
        ({"units": [UNIT], "route": {"type": "LineString", "coordinates": [[2, 65]]}}, ["search.route", "2 to 500"]),
        ({"units": [UNIT], "route": {"type": "Polygon"}}, ["search.route must be a GeoJSON LineString"]),
        ({"units": [UNIT], "visibility_nm": -1}, ["search.visibility_nm"]),
        ({"units": [UNIT], "fuel": 1}, ["search must be an object", "unknown: fuel"]),
        ({"units": [{k: v for k, v in UNIT.items() if k != "sweep_width_nm"}]}, ["search.units[0].sweep_width_nm"]),
    ],
)
def test_bad_new_keys_fail_naming_the_key(search, words):
    with pytest.raises(InvalidJob) as e:
        parse_job(job(search={"commence_time": C6, **search}), SETTINGS)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert "\n" not in str(e.value)
