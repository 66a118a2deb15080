"""Search theory (Koopman; Stone; IAMSAR Manual Vol. II ch. 4 and App. N; Frost 1999): effort, coverage, detection.

Units are nautical miles, knots and hours throughout, as on a search action plan. Two detection laws:

* ``exponential`` (IAMSAR "normal" search conditions): Koopman's random-search law, POD = 1 − exp(−C) for a
  parallel sweep of coverage C = W / S (Koopman 1980 §3.4; IAMSAR Vol. II App. N, POD curve for normal
  conditions). Along a track it is a detection-rate density with no definite range: a pass at lateral range x
  contributes g(x) = W / (√(2π) σ) · exp(−x² / 2σ²) to the exponent, σ = max(W, S) / 2 (the navigation error of
  a track of spacing S smears the detection over the spacing: Koopman 1980 §3.5). ∫g dx = W, and under parallel
  tracks Σg = W/S = C within 1.4 %, so the along-track POD is 1 − exp(−C) inside a parallel sweep.
* ``inverse_cube`` (IAMSAR "ideal" conditions): Koopman's inverse cube law of sighting, glimpse rate k/r³
  (Koopman 1946 ch. 3; 1980 §3.3), lateral range curve p(x) = 1 − exp(−W² / (4π x²)) (∫p dx = W) and for a
  parallel sweep POD = erf(√π / 2 · C) (Koopman 1980 eq. 3.3-12; Frost 1999 part III).
"""

from __future__ import annotations

import math
from functools import cache, lru_cache

import numpy as np
from scipy.special import erf, erfinv

DETECTION_LAWS = ("exponential", "inverse_cube")
SEARCH_ENDURANCE_FACTOR = 0.85  # IAMSAR Vol. II 4.6: plan on 85 % of on-scene endurance (transit, turns, checks)
FATIGUE_FACTOR = 0.9  # IAMSAR Vol. II App. N: sweep width × 0.9 when the crew is fatigued


def effort_nm2(speed_kn: float, sweep_width_nm: float, hours: float) -> float:
    """Search effort Z = V × W × T (nm²): the area a unit sweeps in `hours` on scene."""
    return speed_kn * sweep_width_nm * hours


def coverage(sweep_width_nm: float, track_spacing_nm: float) -> float:
    """Coverage factor C = W / S of a parallel-track search."""
    return sweep_width_nm / track_spacing_nm


def pod_exponential(coverage_factor: float) -> float:
    """POD = 1 − exp(−C): Koopman's random-search (exponential) detection function."""
    return -math.expm1(-coverage_factor)


def pod_inverse_cube(coverage_factor: float) -> float:
    """POD = erf(√π / 2 · C): parallel sweep under Koopman's inverse cube law (IAMSAR ideal conditions)."""
    return float(erf(math.sqrt(math.pi) / 2 * coverage_factor))


SATURATION_MISS = 1e-3  # planning rule: no more coverage once the law's POD is within 0.1 % of 1


@cache
def max_coverage(law: str) -> float:
    """The coverage at which the law's POD reaches 1 − SATURATION_MISS (exponential 6.91, inverse cube 2.63).

    A planning rule of this implementation, not a published limit: beyond it more coverage adds less than 0.1 %
    of the area's POC, while the optimiser would keep shrinking the area around a few particles (legs metres
    apart, POD rounding to 1). The effort is better spent on a larger area, where the cloud's sampling is sound.
    """
    if law == "exponential":
        return -math.log(SATURATION_MISS)
    return float(erfinv(1 - SATURATION_MISS)) * 2 / math.sqrt(math.pi)


def pod(law: str, coverage_factor):
    """POD of a parallel sweep at coverage C under `law` (scalar or array)."""
    c = np.asarray(coverage_factor, np.float64)
    out = -np.expm1(-c) if law == "exponential" else erf(math.sqrt(math.pi) / 2 * c)
    return float(out) if out.ndim == 0 else out


def lateral_range_pod(law: str, x_nm, sweep_width_nm: float, spacing_nm: float | None = None) -> np.ndarray:
    """The lateral range curve p(x): POD of one straight, infinitely long pass at lateral range x."""
    x = np.abs(np.asarray(x_nm, np.float64))
    w = sweep_width_nm
    if law == "inverse_cube":
        return -np.expm1(-(w * w) / (4 * math.pi * np.maximum(x, 1e-9 * w) ** 2))
    sigma = max(w, spacing_nm or 0.0) / 2
    return -np.expm1(-w / (math.sqrt(2 * math.pi) * sigma) * np.exp(-(x * x) / (2 * sigma * sigma)))


def pos(poc: float, pod_value: float) -> float:
    """Probability of success of one search: POS = POC × POD."""
    return poc * pod_value


def koopman_optimal_pos(effort: float, sigma: float) -> float:
    """Optimal POS for a circular normal target and the exponential law (Koopman 1946; Stone 1975 ex. 2.2.8).

    Stone's optimal density of coverage is c(r) = (r0² − r²) / 2σ² inside r0; with u = r0² / 2σ² the total
    effort is Z = π σ² u², so u = √(Z / (π σ²)) and POS* = 1 − (1 + u)·e^(−u). No allocation of effort
    `effort` (same length units squared as `sigma`) does better, whatever its shape.
    """
    u = math.sqrt(effort / (math.pi * sigma**2))
    return 1.0 - (1.0 + u) * math.exp(-u)


def optimal_pos_bound(law: str, effort: float, sigma: float) -> float:
    """Stone's optimal POS for a circular normal target under `law` (the parallel-sweep detection function b(c)).

    Exponential: Koopman's closed form. Inverse cube: b(c) = erf(√π c / 2) is concave, so the optimum satisfies
    p(r)·b'(c(r)) = λ (Stone 1975 th. 2.2.4), b'(c) = exp(−π c² / 4): c(r) = √((4/π)(r0² − r²) / 2σ²); r0 is
    found for the effort Z = ∫ 2πr c(r) dr and POS = ∫ p(r) b(c(r)) dA (numerical quadrature).
    """
    if law == "exponential":
        return koopman_optimal_pos(effort, sigma)
    return _inverse_cube_bound(round(effort / sigma**2, 12))


@lru_cache(maxsize=256)
def _inverse_cube_bound(z: float) -> float:
    """Inverse-cube optimum for σ = 1 and effort z (nm² / σ²)."""
    q = np.linspace(0.0, 1.0, 4001)  # t = r² / 2 in [0, t0]: dA = 2π dt, p dA = e^(−t) dt

    def effort_pos(t0: float) -> tuple[float, float]:
        t = q * t0
        c = np.sqrt(np.maximum(4 / math.pi * (t0 - t), 0.0))
        dt = t0 / (len(q) - 1)
        z_t = np.trapezoid(2 * math.pi * c, dx=dt)
        p_t = np.trapezoid(np.exp(-t) * erf(math.sqrt(math.pi) / 2 * c), dx=dt)
        return float(z_t), float(p_t)

    lo, hi = 0.0, 1.0
    while effort_pos(hi)[0] < z:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if effort_pos(mid)[0] < z else (lo, mid)
    return min(effort_pos((lo + hi) / 2)[1], 1.0)


def not_detected(weights: np.ndarray, inside: np.ndarray, pod_value) -> np.ndarray:
    """Bayes update after an unsuccessful search: weights inside the area times (1 − POD), others unchanged."""
    return np.where(inside, weights * (1.0 - pod_value), weights)


def combined_pos(weights: np.ndarray, searches: list[tuple[np.ndarray, float]]) -> float:
    """POS of several searches together, each (inside mask, POD), independent detections: share of weight found."""
    total = float(weights.sum())
    if total <= 0:
        return 0.0
    left = weights.astype(np.float64)
    for inside, p in searches:
        left = not_detected(left, inside, p)
    return 1.0 - float(left.sum()) / total
