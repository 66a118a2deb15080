"""Sweep widths from the tables: rows, conservative columns, weather, fatigue and speed corrections, refusals."""

from __future__ import annotations

import json

import pytest

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from driftline.search.sweepwidth import tables

SETTINGS = Settings.from_env({})
C6 = "2024-01-01T06:00:00Z"
CALM = {"visibility_nm": 5, "wind_kn": 5}


def _units(unit: dict, object_type="PIW-1", **search):
    params = {"latitude": 65.0, "longitude": 2.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 12,
              "object_type": object_type, "search": {"commence_time": C6, "units": [unit], **search}}  # fmt: skip
    body = json.dumps({"mission_id": "550e8400-e29b-41d4-a716-446655440000", "params": params})
    return parse_job(body, SETTINGS).params.search.units


def test_the_table_file_names_its_source_and_holds_every_row_and_visibility():
    data = tables()
    assert "COMDTINST M16130.2F" in data["source"] and "NOT CHECKED" in data["source"]
    assert data["tables"]["vessel"]["medium"]["rows"]["Raft 4 person"][2] == 3.0  # 14 ft eye height, 5 nm
    assert data["tables"]["helicopter"]["500"]["Raft 6 person"] == [0.5, 1.4, 1.9, 2.7, 3.2, 3.5, 3.5]


def test_a_person_in_water_from_a_small_boat_in_calm_weather_and_in_a_gale():
    unit = {"name": "RHIB", "speed_kn": 20, "endurance_hours": 2, "platform": {"type": "vessel", "size": "small"}}
    calm = _units(unit, visibility_nm=10, wind_kn=10)[0]
    assert calm.sweep_width_nm == pytest.approx(0.3)  # 8 ft eye height, 10 nm visibility
    assert "Person in Water" in calm.sweep_width_source
    windy = _units(unit, visibility_nm=12, wind_kn=20)[0]  # 12 nm: the 10 nm column (no extrapolation upwards)
    assert windy.sweep_width_nm == pytest.approx(0.3 * 0.5)
    gale = _units({**unit, "platform": {"type": "vessel", "size": "small", "fatigue": True}}, visibility_nm=10,
                  wind_kn=30)[0]  # fmt: skip
    assert gale.sweep_width_nm == pytest.approx(0.3 * 0.25 * 0.9)


def test_a_raft_from_a_helicopter_with_the_speed_correction_and_a_large_ship_in_wind():
    unit = {"name": "H", "speed_kn": 90, "endurance_hours": 2, "platform": {"type": "helicopter", "altitude_ft": 500}}
    u = _units(unit, "LIFE-RAFT-DB-11", visibility_nm=5, wind_kn=10, object={"type": "raft", "persons": 7})[0]
    assert u.sweep_width_nm == pytest.approx(1.9 * 1.0)  # raft 6 (≤ 7) at 5 nm, speed 90 kn: × 1.0
    slow = _units(
        {**unit, "speed_kn": 50}, "LIFE-RAFT-DB-11", visibility_nm=5, wind_kn=10, object={"type": "raft", "persons": 7}
    )
    assert slow[0].sweep_width_nm == pytest.approx(1.9 * 1.2)  # 60 kn column
    ship = _units({**unit, "platform": {"type": "vessel", "size": "medium"}, "speed_kn": 12}, "LIFE-RAFT-DB-11",
                  visibility_nm=20, wind_kn=20, object={"type": "ship", "length_ft": 400})[0]  # fmt: skip
    assert ship.sweep_width_nm == pytest.approx(29.2 * 0.9)


def test_a_given_sweep_width_overrides_the_tables():
    unit = {
        "name": "A",
        "speed_kn": 10,
        "endurance_hours": 2,
        "sweep_width_nm": 0.7,
        "platform": {"type": "vessel", "size": "small"},
    }
    assert _units(unit)[0].sweep_width_nm == 0.7


@pytest.mark.parametrize(
    "platform, search, object_type, words",
    [
        ({"type": "vessel", "size": "large"}, {"visibility_nm": 5, "wind_kn": 5}, "PIW-1", ["platform.size", "small"]),
        ({"type": "fixed_wing", "altitude_ft": 700}, {"visibility_nm": 5, "wind_kn": 5}, "PIW-1", ["altitude_ft 700"]),
        ({"type": "vessel", "size": "small"}, {"wind_kn": 5}, "PIW-1", ["search.visibility_nm"]),
        ({"type": "vessel", "size": "small"}, {"visibility_nm": 0.5, "wind_kn": 5}, "PIW-1", ["below the tables"]),
        ({"type": "vessel", "size": "small"}, {"visibility_nm": 5}, "PIW-1", ["wind_kn"]),
        ({"type": "vessel", "size": "small"}, {"visibility_nm": 5, "wind_kn": 5}, "LIFE-RAFT-DB-11", ["search.object"]),
        ({"type": "vessel", "size": "small"}, {**CALM, "object": {"type": "sail_boat", "length_ft": 10}},
         "LIFE-RAFT-DB-11", ["sail_boat length_ft 10"]),
        ({"type": "fixed_wing", "altitude_ft": 500}, CALM, "PIW-1", ["speed_kn 400", "210"]),
        ({"type": "submarine"}, {"visibility_nm": 5, "wind_kn": 5}, "PIW-1", ["platform.type"]),
    ],
)  # fmt: skip
def test_combinations_the_tables_do_not_hold_are_refused_naming_them(platform, search, object_type, words):
    fast = platform.get("type") == "fixed_wing" and platform.get("altitude_ft") == 500
    unit = {"name": "A", "speed_kn": 400 if fast else 20, "endurance_hours": 2, "platform": platform}
    with pytest.raises(InvalidJob) as e:
        _units(unit, object_type, **search)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert str(e.value).startswith("search.units[0]") and "\n" not in str(e.value)
