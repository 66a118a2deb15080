"""Job section `scenarios`: weighted hypotheses, each with its own seeding; merged into one MissionParams.

Particles, prior and posterior weights of the scenarios are driftline/scenarios.py.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from driftline.contract.drift_objects import ObjectShare, can_capsize
from driftline.contract.fields import timestamp
from driftline.contract.params import Scenario
from driftline.errors import InvalidJob

if TYPE_CHECKING:
    from config import Settings
    from driftline.contract.params import MissionParams


MAX_SCENARIOS = 10


MIN_PARTICLES_PER_SCENARIO = 50  # enough for a scenario's own centre and 90 % area


MAX_NAME_CHARS = 80


# Seeding keys a scenario may set (the rest of a job is shared); start_time is the scenario's own first release.
SEEDING_KEYS = {
    "latitude", "longitude", "radius_m", "start_time", "release_end_time", "end_latitude", "end_longitude",
    "end_time", "end_radius_m", "area", "object_type",
}  # fmt: skip


SCENARIO_KEYS = SEEDING_KEYS | {"name", "weight"}


# Shared keys validated once at the top level; they are left out of each scenario's own validation.
RUN_ONLY_KEYS = ("search", "searches_done", "ensemble", "drifters", "capsizing", "search_area_times")


def parse_scenarios(p: dict, settings: Settings, mission_id: str, parse: Callable) -> MissionParams:
    """MissionParams of a job with `scenarios`; `parse` is jobs.parse_params (without scenarios). InvalidJob names
    the scenario and the key."""
    items = _scenario_list(p["scenarios"])
    base = {k: v for k, v in p.items() if k != "scenarios"}
    if "latitude" not in base and "longitude" not in base:  # the LKP of the products: the heaviest scenario's
        heaviest = max(items, key=lambda s: s[1])[2]
        base.update(_reference_position(heaviest))
    for i, (name, _, given) in enumerate(items):
        if not ({"latitude", "longitude", "area"} & (given.keys() | p.keys())):
            raise InvalidJob(f"scenarios[{i}] ({name}): latitude and longitude (or area) are required, in the "
                             "scenario or at the top level")  # fmt: skip
    top = parse({k: v for k, v in base.items() if k != "capsizing"}, settings, mission_id)
    total = sum(w for _, w, _ in items)
    scenarios = []
    for i, (name, weight, given) in enumerate(items):
        merged = _merged(base, given, top, i, name)
        try:
            sc = parse(merged, settings, mission_id)
        except InvalidJob as e:
            raise InvalidJob(f"scenarios[{i}] ({name}): {e}") from None
        scenarios.append(Scenario(name, weight / total, sc, given))
    params = _combined(top, base, scenarios, settings, mission_id, parse)
    _check_counts(params)
    return params


def _scenario_list(value: Any) -> list[tuple[str, float, dict]]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SCENARIOS:
        raise InvalidJob(f"scenarios must be a list of 1 to {MAX_SCENARIOS} scenarios")
    out, names = [], set()
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidJob(f"scenarios[{i}] must be an object with name, weight and its seeding")
        unknown = sorted(set(item) - SCENARIO_KEYS)
        if unknown:
            raise InvalidJob(
                f"scenarios[{i}]: {', '.join(unknown)} cannot be set per scenario "
                f"(shared keys stay at the top level; a scenario sets {', '.join(sorted(SEEDING_KEYS))})"
            )
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
            raise InvalidJob(f"scenarios[{i}].name must be a non-empty string of at most {MAX_NAME_CHARS} characters")
        if name in names:
            raise InvalidJob(f"scenarios[{i}].name {name!r} is used twice")
        names.add(name)
        weight = item.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise InvalidJob(f"scenarios[{i}].weight must be a number")
        if not 0 < weight <= 1e6:
            raise InvalidJob(f"scenarios[{i}].weight must be greater than 0 and at most 1e6, got {weight:g}")
        out.append((name, float(weight), {k: v for k, v in item.items() if k not in ("name", "weight")}))
    return out


def _reference_position(given: dict) -> dict:
    if "latitude" in given or "longitude" in given:
        return {k: given[k] for k in ("latitude", "longitude") if k in given}
    area = given.get("area")
    if isinstance(area, dict):
        try:
            from shapely.geometry import shape

            c = shape(area).representative_point()
            return {"latitude": float(c.y), "longitude": float(c.x)}
        except Exception:  # noqa: BLE001 - a bad area is reported by its own validation, naming the scenario
            pass
    return {}


def _merged(base: dict, given: dict, top: MissionParams, i: int, name: str) -> dict:
    """The scenario's full job params: the top level's, overridden by the scenario's own seeding keys."""
    merged = {k: v for k, v in base.items() if k not in RUN_ONLY_KEYS}
    merged.update(given)
    if "start_time" in given:
        start = timestamp(given, "start_time", required=True)
        sign = -1 if top.backward else 1
        offset_h = sign * (start - top.start_time).total_seconds() / 3600
        if offset_h < 0 or offset_h >= top.duration_hours:
            word = "before" if top.backward else "after"
            raise InvalidJob(
                f"scenarios[{i}] ({name}): start_time must be at or {word} the run's start_time and within "
                "duration_hours of it"
            )
        merged["duration_hours"] = top.duration_hours - offset_h
    return merged


def _combined(top, base, scenarios, settings, mission_id, parse) -> MissionParams:
    """The top-level params with the scenarios, their object types combined by weight, capsizing checked on all."""

    objects: dict[str, list] = {}
    for sc in scenarios:
        for share in sc.params.objects:
            entry = objects.setdefault(share.obj.key, [share.obj, 0.0])
            entry[1] += sc.weight * share.weight
    combined = tuple(ObjectShare(obj, w) for obj, w in objects.values())
    capsizing = None
    if "capsizing" in base:
        capsizing = parse({**{k: v for k, v in base.items() if k != "object_type"}, "object_type": "LIFE-RAFT-NB-1"},
                          settings, mission_id).capsizing  # fmt: skip
        if not any(can_capsize(s.obj) for s in combined):
            raise InvalidJob("capsizing applies to life rafts only: no scenario has a LIFE-RAFT type that can capsize")
        scenarios = [_with(s, capsizing=capsizing) for s in scenarios]
    starts = [s.params.start_time for s in scenarios]
    if top.start_time not in starts:
        raise InvalidJob("at least one scenario must start at the run's start_time (scenarios[].start_time)")
    return dataclasses.replace(top, scenarios=tuple(scenarios), objects=combined or top.objects, capsizing=capsizing)


def _with(sc: Scenario, **changes) -> Scenario:
    return dataclasses.replace(sc, params=dataclasses.replace(sc.params, **changes))


def _check_counts(params: MissionParams) -> None:
    members = max(len(params.ensemble), 1)
    need = MIN_PARTICLES_PER_SCENARIO * len(params.scenarios) * members
    if params.num_particles < need:
        raise InvalidJob(
            f"num_particles ({params.num_particles}) must be at least {MIN_PARTICLES_PER_SCENARIO} per scenario"
            f"{' and ensemble member' if members > 1 else ''} ({need} for {len(params.scenarios)} scenarios)"
        )
