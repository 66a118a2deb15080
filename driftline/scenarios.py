"""Weighted scenarios (`params.scenarios`): particle split, prior weights and Bayes posterior weights.

The job section itself (parsing, merging) is driftline/contract/scenarios.py.

A coordinator rarely has one hypothesis (SAROPS and SARMAP scenarios): each scenario has a name, a weight and its
own seeding (point with radius, release window, track line, area, object types); shared keys (forcing, duration,
outputs, search) stay at the top level, and a scenario inherits every top-level seeding key it does not set.
Particles are split by weight with at least MIN_PARTICLES_PER_SCENARIO each; every particle carries the weight
that makes its scenario hold exactly the scenario's weight, so every product combines them correctly.
Pure logic (numpy), no services.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.contract.scenarios import MIN_PARTICLES_PER_SCENARIO

if TYPE_CHECKING:
    from driftline.contract.params import MissionParams
    from driftline.trajectory import Trajectories


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
    from driftline.contract.drifters import haversine_m

    reach = seed_reach_m(params)
    for sc in params.scenarios:
        offset = float(haversine_m(params.latitude, params.longitude, sc.params.latitude, sc.params.longitude))
        reach = max(reach, offset + seed_reach_m(sc.params))
    return reach


def scenario_records(params: MissionParams) -> list[dict]:
    """params.scenarios as given (name, normalised weight, own keys), for summary.json and missions.params."""
    return [s.record() for s in params.scenarios]
