"""Weighted scenarios (`params.scenarios`): parsing, particle split, prior weights and Bayes posterior weights.

A coordinator rarely has one hypothesis (SAROPS and SARMAP scenarios): each scenario has a name, a weight and its
own seeding (point with radius, release window, track line, area, object types); shared keys (forcing, duration,
outputs, search) stay at the top level, and a scenario inherits every top-level seeding key it does not set.
Particles are split by weight with at least MIN_PARTICLES_PER_SCENARIO each; every particle carries the weight
that makes its scenario hold exactly the scenario's weight, so every product combines them correctly.
Pure logic (numpy), no services.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.errors import InvalidJob

if TYPE_CHECKING:
    from config import Settings
    from driftline.jobs import MissionParams
    from driftline.trajectory import Trajectories

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


@dataclass(frozen=True)
class Scenario:
    """One hypothesis: its name, normalised prior weight, and its seeding as full mission parameters."""

    name: str
    weight: float
    params: MissionParams = field(repr=False)
    given: dict = field(repr=False, default_factory=dict)  # the scenario's own keys as in the job

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "weight": round(self.weight, 9), **self.given}


# ---------------------------------------------------------------- contract


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
        from driftline.jobs import _time

        start = _time(given, "start_time", required=True)
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
    from driftline.jobs import ObjectShare, can_capsize

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


# ---------------------------------------------------------------- particles


def split_counts(total: int, weights: list[float], minimum: int = MIN_PARTICLES_PER_SCENARIO) -> list[int]:
    """Particles per scenario: proportional to the weights (largest remainder), each at least `minimum` when
    `total` allows it (the scenarios held at the minimum are fixed and the rest re-split among the others)."""
    n = len(weights)
    fixed: dict[int, int] = {}
    while True:
        free = [i for i in range(n) if i not in fixed]
        left = total - sum(fixed.values())
        counts = dict(zip(free, _largest_remainder(left, [weights[i] for i in free]), strict=True))
        low = [i for i in free if counts[i] < minimum and left >= minimum * len(free)]
        if not low:
            return [fixed.get(i, counts.get(i, 0)) for i in range(n)]
        fixed.update({i: minimum for i in low})


def _largest_remainder(total: int, weights: list[float]) -> list[int]:
    if not weights:
        return []
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def scenario_counts(params: MissionParams, number: int) -> list[tuple[MissionParams, int]]:
    """(seeding params, particles) of each scenario for one simulation of `number` particles; the mission itself
    when it has no scenarios (unchanged seeding)."""
    if not params.scenarios:
        return [(params, number)]
    counts = split_counts(number, [s.weight for s in params.scenarios])
    return [(s.params, n) for s, n in zip(params.scenarios, counts, strict=True)]


def scenario_index(params: MissionParams, member_counts: list[int]) -> np.ndarray | None:
    """(N,) scenario of each particle, in seeding order (members one after the other); None without scenarios."""
    if not params.scenarios:
        return None
    parts = [np.repeat(np.arange(len(params.scenarios), dtype=np.int16), [n for _, n in scenario_counts(params, c)])
             for c in member_counts]  # fmt: skip
    return np.concatenate(parts) if parts else np.zeros(0, np.int16)


def prior_weights(params: MissionParams, scenario: np.ndarray | None) -> np.ndarray | None:
    """(N,) particle weights so that each scenario holds its weight: weight / particles of the scenario."""
    if scenario is None:
        return None
    counts = np.bincount(scenario, minlength=len(params.scenarios)).astype(float)
    weights = np.array([s.weight for s in params.scenarios])
    return (weights / np.maximum(counts, 1))[scenario] * len(scenario)


def scenario_weights(params: MissionParams, traj: Trajectories, prior: np.ndarray | None) -> list[dict]:
    """Prior and posterior weight of each scenario after the searches done (Bayes: posterior ∝ prior × (1 − the
    POD-weighted share of it searched), read off the particle weights before and after), and its particles."""
    if not params.scenarios or traj.scenario is None:
        return []
    after = np.asarray(traj.weight if traj.weight is not None else prior, float)
    before = np.asarray(prior, float)
    n = len(params.scenarios)
    held_before = np.bincount(traj.scenario, before, minlength=n)
    held_after = np.bincount(traj.scenario, after, minlength=n)
    total_after = held_after.sum()
    rows = []
    for k, sc in enumerate(params.scenarios):
        kept = held_after[k] / held_before[k] if held_before[k] > 0 else 0.0
        rows.append({
            "name": sc.name,
            "weight": round(sc.weight, 6),
            "posterior_weight": round(float(held_after[k] / total_after), 6) if total_after > 0 else 0.0,
            "searched_pod_share": round(1.0 - float(kept), 6),
            "particles": int((traj.scenario == k).sum()),
        })  # fmt: skip
    return rows


# ---------------------------------------------------------------- mission helpers


def latest_entry(params: MissionParams) -> datetime:
    """The latest plausible time the object entered the water: the end of the release window or track, over all
    scenarios (survival is counted from it, so a late entry never shortens the estimate)."""
    candidates = [_seeding_end(params)]
    candidates += [_seeding_end(s.params) for s in getattr(params, "scenarios", ())]
    return max(candidates) if not params.backward else params.start_time


def _seeding_end(params: MissionParams) -> datetime:
    return params.end_time or params.release_end_time or params.start_time


def reach_m(params: MissionParams, seed_reach_m: Callable[[Any], float]) -> float:
    """How far from the mission's reference position particles may be seeded, over all scenarios (forcing subset)."""
    from driftline.drifters import haversine_m

    reach = seed_reach_m(params)
    for sc in params.scenarios:
        offset = float(haversine_m(params.latitude, params.longitude, sc.params.latitude, sc.params.longitude))
        reach = max(reach, offset + seed_reach_m(sc.params))
    return reach


def scenario_records(params: MissionParams) -> list[dict]:
    """params.scenarios as given (name, normalised weight, own keys), for summary.json and missions.params."""
    return [s.record() for s in params.scenarios]
