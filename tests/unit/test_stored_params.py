"""job_params: a stored mission record turned back into producer params that parse to the same mission."""

from __future__ import annotations

import json

from config import Settings
from driftline.contract.parse import parse_job
from driftline.stored_params import job_params

MISSION = "550e8400-e29b-41d4-a716-446655440000"
RING = [[4.0, 60.0], [4.1, 60.0], [4.1, 60.1], [4.0, 60.1], [4.0, 60.0]]
AREA = {"type": "Polygon", "coordinates": [RING]}


def parse(params: dict):
    return parse_job(json.dumps({"mission_id": MISSION, "params": params}), Settings()).params


def round_trip(params: dict):
    first = parse(params)
    record = json.loads(json.dumps(first.as_record()))
    again = parse(job_params(record, MISSION))
    return first, record, again


def test_an_area_mission_drops_the_default_radius_and_parses_the_same():
    first, record, again = round_trip(
        {"latitude": 60.05, "longitude": 4.05, "start_time": "2024-03-01T12:00:00Z", "area": AREA}
    )
    assert "radius_m" in record and "radius_m" not in job_params(record)
    assert again == first


def test_weighted_objects_and_ensemble_members_come_back_in_producer_form():
    params = {
        "latitude": 60.0,
        "longitude": 4.0,
        "start_time": "2024-03-01T12:00:00Z",
        "object_type": [{"type": "PIW-1", "weight": 1}, {"type": "LIFE-RAFT-NB-1", "weight": 3}],
        "ensemble": [{"wind": {"speed_ms": 5, "from_deg": 270}}, {"current": {"speed_ms": 0.3, "to_deg": 90}}],
    }
    first, record, again = round_trip(params)
    back = job_params(record)
    assert back["object_type"] == [{"type": "PIW-1", "weight": 0.25}, {"type": "LIFE-RAFT-NB-1", "weight": 0.75}]
    assert back["ensemble"] == [
        {"wind": {"speed_ms": 5.0, "from_deg": 270.0}},
        {"current": {"speed_ms": 0.3, "to_deg": 90.0}},
    ]
    assert again == first


def test_derived_search_fields_are_dropped():
    record = {
        "latitude": 60.0,
        "end_time": None,
        "search": {
            "conditions": {"visibility_nm": 10},
            "units": [
                {"name": "A", "sweep_width_nm": 1.5, "sweep_width_source": "job"},
                {"name": "B", "sweep_width_nm": 2.1, "sweep_width_source": "IAMSAR table"},
            ],
        },
        "searches_done": [
            {"area": AREA, "pod": 0.5, "sweep_width_nm": 1.0, "track_spacing_nm": 2.0, "detection": "exponential"},
            {"area": AREA, "pod": 0.4, "sweep_width_nm": 1.0, "track": [[4, 60, 0]], "detection": "inverse_cube"},
        ],
    }
    back = job_params(record)
    assert "end_time" not in back and "conditions" not in back["search"]
    assert back["search"]["units"] == [{"name": "A", "sweep_width_nm": 1.5}, {"name": "B"}]
    assert back["searches_done"] == [
        {"area": AREA, "sweep_width_nm": 1.0, "track_spacing_nm": 2.0},
        {"area": AREA, "pod": 0.4, "sweep_width_nm": 1.0, "track": [[4, 60, 0]], "detection": "inverse_cube"},
    ]


def test_producer_params_pass_through_unchanged():
    params = {"latitude": 60.0, "longitude": 4.0, "object_type": "PIW-1", "radius_m": 50, "ensemble": "x"}
    assert job_params(params) == params
    assert job_params({"object_type": [3, {"type": "PIW-1"}]})["object_type"] == [3, {"type": "PIW-1", "weight": 1.0}]


def test_the_seed_keeps_its_source_through_the_record():
    derived = round_trip({"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z"})
    given = round_trip({"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "random_seed": 7})
    assert (derived[0].seed_was_given, derived[2].seed_was_given) == (False, False)
    assert derived[2].random_seed == derived[0].random_seed
    assert (given[2].seed_was_given, given[2].random_seed) == (True, 7)
