"""Searches done: the track flown removes exactly the along-track detection; the area form warns on large drift."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from driftline.search.contract import SearchDone
from driftline.search.done import apply_searches_done
from driftline.search.geo import LocalPlane
from driftline.search.plan import plan_search
from tests.unit.search.helpers import LAT0, LON0, T0, raft_cloud, unit

SETTINGS = Settings.from_env({})


def _flown(plan, up) -> SearchDone:
    """The plan's waypoints reported back as the track flown, with their times."""
    lon, lat = plan.plane.to_lonlat(up.pattern.waypoints[:, 0], up.pattern.waypoints[:, 1])
    track = tuple((float(a), float(b), float(s)) for a, b, s in zip(lon, lat, up.pattern.times_s))
    start = up.unit.commence_time
    return SearchDone({}, start, start + timedelta(seconds=float(track[-1][2])), float("nan"), up.unit.sweep_width_nm,
                      up.pattern.spacing_nm, track, up.unit.detection)  # fmt: skip


def test_flying_the_plan_and_reporting_the_tracks_removes_exactly_the_planned_detection():
    traj = raft_cloud(n=2000, hours=14)
    plan = plan_search(traj, (unit("V1", 10, 0.5, 6.0, 4.0), unit("V2", 12, 0.6, 4.0, 5.0)), (LON0, LAT0))
    report = apply_searches_done(traj, tuple(_flown(plan, up) for up in plan.units))
    expected = np.prod([1 - up.detection for up in plan.units], axis=0)
    # the done search is counted on a plane centred on its own track, the plan on the cloud: 0.1 % apart in scale
    assert traj.weight == pytest.approx(expected, abs=2e-3)
    assert report["cumulative_pos"] == pytest.approx(plan.cumulative_pos, abs=5e-4)
    assert [r["form"] for r in report["searches"]] == ["track", "track"]


def test_the_area_form_warns_when_the_object_drifts_far_during_the_search():
    traj = raft_cloud(n=500, hours=10)
    plane = LocalPlane.at(LON0, LAT0)
    lon, lat = plane.to_lonlat(np.array([-3, 3, 3, -3, -3]), np.array([-3, -3, 3, 3, -3]))
    square = {"type": "Polygon", "coordinates": [np.column_stack([lon, lat]).tolist()]}
    warnings: list[str] = []
    apply_searches_done(traj, (SearchDone(square, T0, T0 + timedelta(hours=6), 0.6),), warnings)
    assert len(warnings) == 1 and "drifted 6.3 nm" in warnings[0] and "searches_done[0]" in warnings[0]
    warnings.clear()
    apply_searches_done(raft_cloud(n=500), (SearchDone(square, T0, T0 + timedelta(minutes=30), 0.6),), warnings)
    assert warnings == []


GPX = """<?xml version="1.0"?><gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
<trkpt lat="65.0" lon="2.0"><time>2024-01-01T02:00:00Z</time></trkpt>
<trkpt lat="65.05" lon="2.0"><time>2024-01-01T02:18:00Z</time></trkpt>
<trkpt lat="65.05" lon="2.05"><time>2024-01-01T02:25:00Z</time></trkpt></trkseg></trk></gpx>"""
LINE = {"type": "LineString", "coordinates": [[2.0, 65.0], [2.0, 65.05], [2.05, 65.05]]}


def _job(**params) -> str:
    base = {"latitude": LAT0, "longitude": LON0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 12}
    return json.dumps({"mission_id": "550e8400-e29b-41d4-a716-446655440000", "params": {**base, **params}})


def test_tracks_flown_are_parsed_from_gpx_times_or_from_start_time_and_speed():
    done = parse_job(_job(searches_done=[
        {"gpx": GPX, "sweep_width_nm": 0.5},
        {"track": LINE, "start_time": "2024-01-01T03:00:00Z", "speed_kn": 10, "sweep_width_nm": 1.0,
         "detection": "inverse_cube"},
    ]), SETTINGS).params.searches_done  # fmt: skip
    a, b = done
    assert a.start_time == T0 + timedelta(hours=2) and a.end_time == T0 + timedelta(hours=2, minutes=25)
    assert [p[2] for p in a.track] == [0.0, 1080.0, 1500.0]
    assert b.detection == "inverse_cube" and b.track[-1][2] == pytest.approx((3.0 + 1.27) / 10 * 3600, rel=0.01)


@pytest.mark.parametrize(
    "item, words",
    [
        ({"track": LINE, "sweep_width_nm": 1}, ["searches_done[0]", "start_time"]),
        ({"track": LINE, "start_time": "2024-01-01T03:00:00Z", "speed_kn": 10}, ["searches_done[0].sweep_width_nm"]),
        ({"gpx": "<gpx", "sweep_width_nm": 1}, ["searches_done[0].gpx is not valid GPX"]),
        ({"track": {"type": "Point"}, "sweep_width_nm": 1}, ["searches_done[0].track must be a GeoJSON LineString"]),
        ({"gpx": GPX, "track": LINE, "sweep_width_nm": 1}, ["either track or gpx"]),
        ({"gpx": GPX, "sweep_width_nm": 1, "pod": 0.5}, ["unknown searches_done[0] keys: pod"]),
        ({"gpx": GPX.replace("02:25", "01:25"), "sweep_width_nm": 1}, ["backwards"]),
    ],
)
def test_bad_tracks_fail_naming_the_key(item, words):
    with pytest.raises(InvalidJob) as e:
        parse_job(_job(searches_done=[item]), SETTINGS)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert "\n" not in str(e.value)
