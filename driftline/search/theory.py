"""Search theory (Koopman, Stone; IAMSAR Manual Vol. II): effort, coverage, POD, POC, POS. Pure functions.

Units are nautical miles, knots and hours throughout, as on a search action plan.
"""

from __future__ import annotations

import math

import numpy as np


def effort_nm2(speed_kn: float, sweep_width_nm: float, hours: float) -> float:
    """Search effort Z = V × W × T (nm²): the area a unit sweeps in `hours` on scene."""
    return speed_kn * sweep_width_nm * hours


def coverage(sweep_width_nm: float, track_spacing_nm: float) -> float:
    """Coverage factor C = W / S of a parallel-track search."""
    return sweep_width_nm / track_spacing_nm


def pod_exponential(coverage_factor: float) -> float:
    """POD = 1 − exp(−C): Koopman's random-search (exponential) detection function."""
    return -math.expm1(-coverage_factor)


def pos(poc: float, pod: float) -> float:
    """Probability of success of one search: POS = POC × POD."""
    return poc * pod


def koopman_optimal_pos(effort: float, sigma: float) -> float:
    """Optimal POS for a circular normal distribution (Koopman): 1 − (1 + u)·e^(−u), u = √(Z / (π σ²)).

    No allocation of effort `effort` (same length units squared as `sigma`) can do better, whatever its shape.
    """
    u = math.sqrt(effort / (math.pi * sigma**2))
    return 1.0 - (1.0 + u) * math.exp(-u)


def not_detected(weights: np.ndarray, inside: np.ndarray, pod: float) -> np.ndarray:
    """Bayes update after an unsuccessful search: weights inside the area times (1 − POD), others unchanged."""
    return np.where(inside, weights * (1.0 - pod), weights)


def combined_pos(weights: np.ndarray, searches: list[tuple[np.ndarray, float]]) -> float:
    """POS of several searches together, each (inside mask, POD), independent detections: share of weight found."""
    total = float(weights.sum())
    if total <= 0:
        return 0.0
    left = weights.astype(np.float64)
    for inside, pod in searches:
        left = not_detected(left, inside, pod)
    return 1.0 - float(left.sum()) / total
