"""Weighted scenarios (`params.scenarios`): parsing, particle split, prior weights and Bayes posterior weights.

A coordinator rarely has one hypothesis (SAROPS and SARMAP scenarios): each scenario has a name, a weight and
its own seeding; shared keys (forcing, duration, outputs, search) stay at the top level. Pure logic, no services.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from driftline.jobs import MissionParams


def latest_entry(params: MissionParams) -> datetime:
    """The latest plausible time the object entered the water: the end of the release window or track, over all
    scenarios (survival is counted from it, so a late entry never shortens the estimate)."""
    candidates = [_seeding_end(params)]
    candidates += [_seeding_end(s.params) for s in getattr(params, "scenarios", ())]
    return max(candidates) if not params.backward else params.start_time


def _seeding_end(params: MissionParams) -> datetime:
    return params.end_time or params.release_end_time or params.start_time
