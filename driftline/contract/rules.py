"""Cross-field rules of the job contract: checks that need several fields (or the whole MissionParams) at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from driftline.contract.drift_objects import can_capsize
from driftline.contract.drifters import PERSISTENCE
from driftline.contract.fields import iso
from driftline.errors import InvalidJob

if TYPE_CHECKING:
    from driftline.contract.params import MissionParams


CONFLICTS = [
    ({"area"}, {"end_latitude", "end_longitude", "end_time", "end_radius_m"}),
    ({"area"}, {"radius_m"}),
    ({"ensemble"}, {"forcing", "wind", "current"}),
    ({"release_end_time"}, {"end_time"}),  # both would set the seeding time span of a track
]


def check_conflicts(p: dict) -> None:
    for left, right in CONFLICTS:
        a, b = sorted(left & p.keys()), sorted(right & p.keys())
        if a and b:
            raise InvalidJob(f"conflicting params: {', '.join(a)} cannot be combined with {', '.join(b)}")


def check_run(params: MissionParams) -> None:
    step, out = params.time_step_minutes, params.output_step_minutes
    if abs(out / step - round(out / step)) > 1e-9:
        raise InvalidJob(f"output_step_minutes ({out:g}) must be a multiple of time_step_minutes ({step:g})")
    if params.duration_hours * 60 < out:
        raise InvalidJob(f"duration_hours ({params.duration_hours:g}) is shorter than one output step")
    if (params.end_latitude is None) != (params.end_longitude is None):
        raise InvalidJob("end_latitude and end_longitude must be given together")
    has_track = params.end_latitude is not None
    if (params.end_time or params.end_radius_m is not None) and not has_track:
        raise InvalidJob("end_time and end_radius_m need end_latitude and end_longitude")
    sign = -1 if params.backward else 1
    for key in ("release_end_time", "end_time"):
        value = getattr(params, key)
        if value is None:
            continue
        offset_h = sign * (value - params.start_time).total_seconds() / 3600
        if offset_h <= 0:
            word = "before" if params.backward else "after"
            raise InvalidJob(f"{key} must be {word} start_time")
        if offset_h >= params.duration_hours:
            raise InvalidJob(f"{key} must fall within duration_hours of start_time")
    if params.backward and params.capsizing is not None:
        raise InvalidJob("capsizing cannot be used with direction 'backward' (capsizing is not reversible)")
    if params.backward and params.jibe_probability_per_hour is not None:
        raise InvalidJob("jibe_probability_per_hour cannot be used with direction 'backward'")
    if params.capsizing is not None and not any(can_capsize(s.obj) for s in params.objects):
        raise InvalidJob("capsizing applies to life rafts only: object_type has no LIFE-RAFT type that can capsize")
    if params.ensemble and params.num_particles < len(params.ensemble):
        raise InvalidJob("num_particles must be at least the number of ensemble members")


def check_search_times(params: MissionParams) -> None:
    """Searches must lie inside a forward forecast: each unit's and each done search's whole time window."""
    if not (params.search or params.searches_done):
        return
    if params.backward:
        key = "search" if params.search else "searches_done"
        raise InvalidJob(f"{key} cannot be used with direction 'backward' (search planning needs a forward forecast)")
    units = params.search.units if params.search else ()
    windows = [(f"search.units[{i}]", u.commence_time, u.end_time) for i, u in enumerate(units)]
    windows += [(f"searches_done[{i}]", d.start_time, d.end_time) for i, d in enumerate(params.searches_done)]
    first, last = params.start_time, params.end_of_run
    for key, start, end in windows:
        if start < first:
            raise InvalidJob(f"{key} starts at {iso(start)}, before start_time {iso(first)}")
        if end > last:
            raise InvalidJob(
                f"{key} ends at {iso(end)}, after the end of the forecast {iso(last)} (raise duration_hours)"
            )


def check_drifters_overlap_run(params: MissionParams) -> None:
    """Each track must be usable: its fixes (± PERSISTENCE) overlap the simulated time."""
    t0, t1 = sorted((params.start_time, params.end_of_run))
    for i, track in enumerate(params.drifters):
        if track.last + PERSISTENCE < t0 or track.first - PERSISTENCE > t1:
            raise InvalidJob(
                f"drifters[{i}] ({track.id}): fixes from {track.first:%Y-%m-%d %H:%M} to {track.last:%Y-%m-%d %H:%M} "
                f"UTC are more than {PERSISTENCE.total_seconds() / 3600:g} h from the run "
                f"({t0:%Y-%m-%d %H:%M} to {t1:%Y-%m-%d %H:%M} UTC)"
            )
