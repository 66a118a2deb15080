"""MissionParams and its record: direction, end of run, primary object, and the JSON-ready record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from config import leeway_object
from driftline.contract.drift_objects import ObjectShare
from driftline.contract.drifters import DrifterFix, DrifterTrack
from driftline.contract.params import MissionParams, Scenario, search_records
from driftline.search.contract import SearchDone, SearchRequest, SearchUnit

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
PIW, RAFT = leeway_object("PIW-1"), leeway_object("LIFE-RAFT-NB-1")


def _params(**kw) -> MissionParams:
    kw.setdefault("objects", (ObjectShare(PIW, 1.0),))
    return MissionParams(latitude=60.0, longitude=4.0, start_time=T0, **kw)


@given(st.floats(0.1, 240), st.sampled_from(["forward", "backward"]))
def test_the_end_of_run_lies_duration_hours_along_the_direction(hours, direction):
    p = _params(duration_hours=hours, direction=direction)
    assert p.backward is (direction == "backward")
    offset = (p.end_of_run - T0).total_seconds() / 3600
    assert abs(offset - (-hours if p.backward else hours)) < 1e-6


def test_the_primary_object_is_the_heaviest_share():
    p = _params(objects=(ObjectShare(PIW, 0.3), ObjectShare(RAFT, 0.7)))
    assert p.primary_object == RAFT


def test_the_record_is_json_ready_and_drops_empty_and_internal_fields():
    track = DrifterTrack("B1", (DrifterFix(T0, 60.0, 4.0), DrifterFix(T0 + timedelta(hours=1), 60.01, 4.0)))
    p = _params(
        objects=(ObjectShare(PIW, 0.25), ObjectShare(RAFT, 0.75)),
        release_end_time=T0 + timedelta(hours=2),
        search_area_times=(T0 + timedelta(hours=3),),
        seed_was_given=True,
        drifters=(track,),
    )
    record = json.loads(json.dumps(p.as_record()))
    assert record["start_time"] == "2024-03-01T12:00:00Z" and record["release_end_time"] == "2024-03-01T14:00:00Z"
    assert record["search_area_times"] == ["2024-03-01T15:00:00Z"]
    assert record["object_type"] == [
        {"type": "PIW-1", "number": PIW.number, "description": PIW.description, "weight": 0.25},
        {"type": "LIFE-RAFT-NB-1", "number": RAFT.number, "description": RAFT.description, "weight": 0.75},
    ]
    assert record["drifters"] == [track.record()]
    for absent in ("objects", "seed_was_given", "end_time", "wind", "forcing", "ensemble", "scenarios", "search"):
        assert absent not in record
    assert record["duration_hours"] == 24.0 and record["direction"] == "forward"


def test_a_scenario_record_rounds_its_weight_and_keeps_its_own_keys():
    s = Scenario("drifting", 1 / 3, _params(), given={"radius_m": 500})
    assert s.record() == {"name": "drifting", "weight": 0.333333333, "radius_m": 500}
    record = _params(scenarios=(s,)).as_record()
    assert record["scenarios"] == [{"name": "drifting", "weight": 0.333333333, "radius_m": 500}]


def test_search_records_keep_set_fields_and_iso_times():
    unit = SearchUnit("Heli", 90.0, 1.2, 2.5, T0 + timedelta(hours=6))
    area = {"type": "Polygon", "coordinates": [[[4, 60], [5, 60], [5, 61], [4, 60]]]}
    done = SearchDone(area, T0, T0 + timedelta(hours=1), float("nan"), sweep_width_nm=1.0, track_spacing_nm=2.0)
    p = _params(search=SearchRequest((unit,), route=((4.0, 60.0), (4.5, 60.5))), searches_done=(done,))
    out = search_records(p)
    assert out["search"]["units"][0]["commence_time"] == "2024-03-01T18:00:00Z"
    assert "platform" not in out["search"]["units"][0] and "conditions" not in out["search"]
    assert out["search"]["route"] == {"type": "LineString", "coordinates": [[4.0, 60.0], [4.5, 60.5]]}
    assert out["searches_done"] == [
        {
            "area": area,
            "start_time": "2024-03-01T12:00:00Z",
            "end_time": "2024-03-01T13:00:00Z",
            "sweep_width_nm": 1.0,
            "track_spacing_nm": 2.0,
            "detection": "exponential",
        }
    ]  # the NaN POD (to be computed from sweep width and spacing) and the missing track are left out
    assert search_records(_params()) == {}
