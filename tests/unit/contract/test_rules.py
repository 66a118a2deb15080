"""Cross-field rules of the job contract: conflicting keys, run timing, backward-only limits, drifter overlap."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from config import leeway_object
from driftline.contract.drift_objects import ObjectShare
from driftline.contract.drifters import DrifterFix, DrifterTrack
from driftline.contract.params import MissionParams
from driftline.contract.rules import check_conflicts, check_drifters_overlap_run, check_run
from driftline.errors import InvalidJob

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _params(**kw) -> MissionParams:
    kw.setdefault("objects", (ObjectShare(leeway_object("PIW-1"), 1.0),))
    return MissionParams(latitude=60.0, longitude=4.0, start_time=T0, **kw)


def test_conflicting_keys_are_named_sorted_on_both_sides():
    with pytest.raises(InvalidJob) as e:
        check_conflicts({"area": {}, "end_time": "x", "end_latitude": 1})
    assert str(e.value) == "conflicting params: area cannot be combined with end_latitude, end_time"
    check_conflicts({"end_time": "x", "end_latitude": 1, "radius_m": 5})  # no conflict without the left side


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"output_step_minutes": 25.0}, "output_step_minutes (25) must be a multiple of time_step_minutes (10)"),
        ({"duration_hours": 0.5}, "duration_hours (0.5) is shorter than one output step"),
        ({"end_latitude": 60.1}, "end_latitude and end_longitude must be given together"),
        ({"end_radius_m": 100.0}, "end_time and end_radius_m need end_latitude and end_longitude"),
        ({"release_end_time": T0}, "release_end_time must be after start_time"),
        (
            {"release_end_time": T0 + timedelta(hours=1), "direction": "backward"},
            "release_end_time must be before start_time",
        ),
        (
            {"release_end_time": T0 + timedelta(hours=24)},
            "release_end_time must fall within duration_hours of start_time",
        ),
        (
            {"direction": "backward", "capsizing": {}},
            "capsizing cannot be used with direction 'backward' (capsizing is not reversible)",
        ),
        (
            {"direction": "backward", "jibe_probability_per_hour": 0.1},
            "jibe_probability_per_hour cannot be used with direction 'backward'",
        ),
        (
            {"capsizing": {"wind_threshold_ms": 30.0}},
            "capsizing applies to life rafts only: object_type has no LIFE-RAFT type that can capsize",
        ),
        (
            {"ensemble": (object(), object()), "num_particles": 1},
            "num_particles must be at least the number of ensemble members",
        ),
    ],
)
def test_run_rules_refuse_with_their_message(kw, message):
    with pytest.raises(InvalidJob, match=f"^{re.escape(message)}$"):
        check_run(_params(**kw))


def test_valid_runs_pass_including_a_backward_window_and_an_upright_raft():
    check_run(_params(output_step_minutes=30.0, time_step_minutes=7.5))
    check_run(_params(direction="backward", release_end_time=T0 - timedelta(hours=23, minutes=59)))
    check_run(_params(capsizing={}, objects=(ObjectShare(leeway_object("LIFE-RAFT-NB-1"), 1.0),)))


def test_a_capsized_raft_cannot_capsize_again():
    capsized = leeway_object("LIFE-RAFT-DB-21")  # "Deep ballast system, general (mean values), capsized"
    with pytest.raises(InvalidJob, match="^capsizing applies to life rafts only"):
        check_run(_params(capsizing={}, objects=(ObjectShare(capsized, 1.0),)))


def _track(first: datetime, last: datetime) -> DrifterTrack:
    return DrifterTrack("SLDMB-1", (DrifterFix(first, 60.0, 4.0), DrifterFix(last, 60.0, 4.01)))


def test_drifter_tracks_must_come_within_persistence_of_the_run():
    run = _params(duration_hours=6.0)  # 12:00 to 18:00
    check_drifters_overlap_run(_params(drifters=(_track(T0 - timedelta(hours=5), T0 - timedelta(hours=3)),)))
    check_drifters_overlap_run(
        _params(duration_hours=6.0, drifters=(_track(T0 + timedelta(hours=9), T0 + timedelta(hours=10)),))
    )
    late = _track(T0 + timedelta(hours=9, minutes=1), T0 + timedelta(hours=10))
    with pytest.raises(InvalidJob) as e:
        check_drifters_overlap_run(_params(duration_hours=run.duration_hours, drifters=(late,)))
    assert str(e.value) == (
        "drifters[0] (SLDMB-1): fixes from 2024-03-01 21:01 to 2024-03-01 22:00 UTC are more than 3 h from the run "
        "(2024-03-01 12:00 to 2024-03-01 18:00 UTC)"
    )


def test_a_backward_run_sorts_its_window_for_the_drifter_overlap():
    early = _track(T0 - timedelta(hours=30), T0 - timedelta(hours=28))
    check_drifters_overlap_run(_params(direction="backward", duration_hours=25.0, drifters=(early,)))
    with pytest.raises(InvalidJob, match=r"\(2024-02-29 12:00 to 2024-03-01 12:00 UTC\)$"):
        check_drifters_overlap_run(_params(direction="backward", duration_hours=24.0, drifters=(early,)))
