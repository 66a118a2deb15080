"""The job params a mission's stored record stands for: the inverse of `MissionParams.as_record()`.

When Redis loses a job whose producer wrote no row, `missions.params` holds the worker's record of the
params after defaults. The record names every field, also those a producer must not combine (the default
`radius_m` next to an `area`, a POD computed from a sweep width next to that sweep width, empty member
lists): this gives back params the job contract accepts and that parse to the same mission.
"""

from __future__ import annotations

from typing import Any

# Record keys whose value is derived from others, or a default that conflicts with a key that is set.
_DROP_WHEN = {"radius_m": ("area",)}


def job_params(record: dict[str, Any], mission_id: str | None = None) -> dict[str, Any]:
    """Producer-form params from a stored record (a producer's own params pass through unchanged).

    With the mission id, a seed equal to the one derived from it is dropped, so the rebuilt job still says
    its seed was derived (summary.json `random_seed_source`)."""
    params = {k: v for k, v in record.items() if v is not None}
    if mission_id is not None and params.get("random_seed") == _derived_seed(mission_id):
        params.pop("random_seed")
    for key, because in _DROP_WHEN.items():
        if any(params.get(other) is not None for other in because):
            params.pop(key, None)
    objects = params.get("object_type")
    if isinstance(objects, list):  # the record lists objects with number and description
        params["object_type"] = [
            {"type": o.get("type"), "weight": o.get("weight", 1.0)} if isinstance(o, dict) else o for o in objects
        ]
    if isinstance(params.get("ensemble"), list):
        params["ensemble"] = [_member(m) for m in params["ensemble"]]
    if isinstance(params.get("searches_done"), list):
        params["searches_done"] = [_search_done(d) for d in params["searches_done"]]
    if isinstance(params.get("search"), dict) and isinstance(params["search"].get("units"), list):
        search = {k: v for k, v in params["search"].items() if k != "conditions"}  # derived from wind and visibility
        params["search"] = {**search, "units": [_unit(u) for u in search["units"]]}
    return params


def _derived_seed(mission_id: str) -> int | None:
    from driftline.contract.parse import derived_seed

    try:
        return derived_seed(mission_id)
    except ValueError:  # not a UUID: parse_job refuses such a job anyway
        return None


def _unit(unit: Any) -> Any:
    """A search unit without its derived sweep-width source; a width the tables gave is looked up again."""
    if not isinstance(unit, dict):
        return unit
    source = unit.get("sweep_width_source", "job")
    return {
        k: v for k, v in unit.items() if k != "sweep_width_source" and not (k == "sweep_width_nm" and source != "job")
    }


def _member(member: Any) -> Any:
    """An ensemble member without the empty forcing list and null vectors of its record."""
    if not isinstance(member, dict):
        return member
    return {k: v for k, v in member.items() if v not in (None, [], ())}


def _search_done(done: Any) -> Any:
    """A flown search keeps either its POD or the sweep width and track spacing it was computed from."""
    if not isinstance(done, dict):
        return done
    if done.get("track") is None and done.get("gpx") is None:  # the polygon form has no detection law of its own
        done = {k: v for k, v in done.items() if k != "detection"}
    if done.get("sweep_width_nm") is not None and done.get("track_spacing_nm") is not None:
        return {k: v for k, v in done.items() if k != "pod"}
    return done
