"""Detection along a flown track against moving particles (Koopman 1980 ch. 3; Stone 1989 ch. 1; Frost 1999).

A unit flies its waypoints at its speed; each particle moves linearly between output steps along its own
trajectory. Cut the track at its waypoints and at the output times: on every piece both move linearly, so the
unit's path relative to the particle is a straight segment. The expected number of detections ("glimpse
integral") on it is V·Δt/ℓ · ∫ρ(x, s) ds over the relative segment (length ℓ, lateral range x, along-track s),
with ρ the detection-rate density per unit of path at the nominal speed V (theory.py): a Gaussian smear for
the exponential law, k/r³ (k = W²/8π) for the inverse cube law. POD of the particle = 1 − exp(−Σ pieces).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from driftline.search.geo import LocalPlane
from driftline.trajectory import Trajectories

MAX_POD = 0.999999
MIN_REL_NM = 1e-9
REACH = 6.5  # smears: the Gaussian rate beyond 6.5 σ is below 1e-9 of its peak
CHUNK = 16  # pieces evaluated together (memory: CHUNK × particles × a few arrays)


@dataclass(frozen=True)
class Track:
    """A flown (or planned) track in the plane: waypoints (nm) and the seconds (from the cloud's t0) at each."""

    xy: np.ndarray  # (K, 2)
    t_s: np.ndarray  # (K,) increasing
    sweep_width_nm: float
    law: str = "exponential"
    smear_nm: float | None = None  # σ of the exponential law's rate density (default W / 2)

    @property
    def speed_kn(self) -> np.ndarray:
        d = np.hypot(*np.diff(self.xy, axis=0).T)
        return d / np.maximum(np.diff(self.t_s) / 3600.0, 1e-12)


@dataclass
class Kinematics:
    """Particle positions in the plane (nm) at every output time, for interpolation in time."""

    x: np.ndarray  # (N, T)
    y: np.ndarray
    ok: np.ndarray  # (N, T) present (floating or stranded)
    t_s: np.ndarray  # (T,) seconds from times[0]

    @classmethod
    def of(cls, traj: Trajectories, plane: LocalPlane) -> Kinematics:
        ok = np.column_stack([traj.present(k) for k in range(traj.num_times)]) & np.isfinite(traj.lon)
        x, y = plane.to_xy(np.where(ok, traj.lon, plane.lon0), np.where(ok, traj.lat, plane.lat0))
        t = (traj.times - traj.times[0]) / np.timedelta64(1, "s")
        return cls(x, y, ok, t.astype(np.float64))

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, present) at t seconds: linear between the two output times around t (both must be present)."""
        k = int(np.clip(np.searchsorted(self.t_s, t, side="right") - 1, 0, max(len(self.t_s) - 2, 0)))
        if len(self.t_s) == 1:
            return self.x[:, 0], self.y[:, 0], self.ok[:, 0]
        f = float(np.clip((t - self.t_s[k]) / (self.t_s[k + 1] - self.t_s[k]), 0.0, 1.0))
        if f == 0.0:
            return self.x[:, k], self.y[:, k], self.ok[:, k] & (self.ok[:, k + 1] | (t == self.t_s[k]))
        x = self.x[:, k] + f * (self.x[:, k + 1] - self.x[:, k])
        y = self.y[:, k] + f * (self.y[:, k + 1] - self.y[:, k])
        return x, y, self.ok[:, k] & self.ok[:, k + 1]


def _pieces(track: Track, kin: Kinematics) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """(t_a, t_b, unit position at t_a, at t_b) for every piece between waypoints and output times."""
    out = []
    for a in range(len(track.t_s) - 1):
        ta, tb = float(track.t_s[a]), float(track.t_s[a + 1])
        if tb <= ta:
            continue
        cuts = kin.t_s[(kin.t_s > ta) & (kin.t_s < tb)]
        times = np.concatenate([[ta], cuts, [tb]])
        f = (times - ta) / (tb - ta)
        pts = track.xy[a] + f[:, None] * (track.xy[a + 1] - track.xy[a])
        out += [(times[i], times[i + 1], pts[i], pts[i + 1]) for i in range(len(times) - 1)]
    return out


def glimpses(track: Track, kin: Kinematics, subset: np.ndarray | None = None) -> np.ndarray:
    """(N,) expected number of detections of each particle along the track (the POD exponent)."""
    n = kin.x.shape[0]
    idx = np.arange(n) if subset is None else np.flatnonzero(subset)
    out = np.zeros(n)
    pieces = _pieces(track, kin)
    if idx.size == 0 or not pieces:
        return out
    ta = np.array([p[0] for p in pieces])
    tb = np.array([p[1] for p in pieces])
    ua, ub = np.array([p[2] for p in pieces]), np.array([p[3] for p in pieces])
    times, inv = np.unique(np.concatenate([ta, tb]), return_inverse=True)
    px, py, pok = (np.empty((len(times), idx.size)) for _ in range(3))
    for k, t in enumerate(times):
        x, y, ok = kin.at(float(t))
        px[k], py[k], pok[k] = x[idx], y[idx], ok[idx]
    ia, ib = inv[: len(ta)], inv[len(ta) :]
    inside = (((ta + tb) / 2 >= kin.t_s[0]) & ((ta + tb) / 2 <= kin.t_s[-1]))[:, None]
    total = np.zeros(idx.size)
    for lo in range(0, len(ta), CHUNK):
        sl = slice(lo, lo + CHUNK)
        e = _piece_glimpses(track, ua[sl], ub[sl], px[ia[sl]], py[ia[sl]], px[ib[sl]], py[ib[sl]])
        ok = (pok[ia[sl]] > 0) & (pok[ib[sl]] > 0) & inside[sl]
        total += np.where(ok, e, 0.0).sum(axis=0)
    out[idx] = total
    return out


def _piece_glimpses(track: Track, ua, ub, xa, ya, xb, yb) -> np.ndarray:
    """(P, n) glimpse integrals of P pieces (unit from ua to ub) against n particles (from (xa, ya) to (xb, yb)).

    The transcendental functions are evaluated only where the particle passes within reach of the piece
    (lateral range below REACH smears, or 40 W for the inverse cube law); elsewhere the integral is below 1e-7.
    """
    w = track.sweep_width_nm
    sigma = max(track.smear_nm or w / 2, 1e-9)
    rax, ray = ua[:, 0:1] - xa, ua[:, 1:2] - ya
    dx, dy = (ub[:, 0:1] - xb) - rax, (ub[:, 1:2] - yb) - ray
    ell = np.hypot(dx, dy)
    path = np.broadcast_to(np.hypot(*(ub - ua).T)[:, None], ell.shape)  # ground path of the unit on the piece
    safe = np.maximum(ell, MIN_REL_NM)
    ex, ey = dx / safe, dy / safe
    s1 = rax * ex + ray * ey
    lat2 = (rax * ey - ray * ex) ** 2
    reach = (40 * w) ** 2 if track.law == "inverse_cube" else (REACH * sigma) ** 2
    near = np.nonzero((lat2 < reach) & (np.minimum(np.abs(s1), np.abs(s1 + ell)) < np.sqrt(reach) + ell))
    out = np.zeros(ell.shape)
    s1, lat2, ell, safe, path = s1[near], lat2[near], ell[near], safe[near], path[near]
    s2 = s1 + ell
    r2 = rax[near] ** 2 + ray[near] ** 2
    if track.law == "inverse_cube":
        k = w * w / (8 * math.pi)
        x2 = np.maximum(lat2, (1e-6 * w) ** 2)
        integral = k / x2 * (s2 / np.sqrt(x2 + s2 * s2) - s1 / np.sqrt(x2 + s1 * s1))
        point = k / np.maximum(r2, (1e-6 * w) ** 2) ** 1.5
    else:
        g = w / (math.sqrt(2 * math.pi) * sigma) * np.exp(-lat2 / (2 * sigma * sigma))
        integral = g * (ndtr(s2 / sigma) - ndtr(s1 / sigma))
        point = w / (2 * math.pi * sigma * sigma) * np.exp(-r2 / (2 * sigma * sigma))
    out[near] = np.where(ell < 1e-6 * np.maximum(path, 1e-9), point * path, path / safe * integral)
    return out


def pod_along(track: Track, kin: Kinematics, subset: np.ndarray | None = None) -> np.ndarray:
    """(N,) POD of each particle along the track, kept below 1 (no particle loses all its weight)."""
    return np.minimum(-np.expm1(-glimpses(track, kin, subset)), MAX_POD)


def near_track(track: Track, kin: Kinematics, margin_nm: float) -> np.ndarray:
    """Particles that come within `margin_nm` of the track's bounding box during its time (prefilter)."""
    lo, hi = track.xy.min(axis=0) - margin_nm, track.xy.max(axis=0) + margin_nm
    k0 = max(int(np.searchsorted(kin.t_s, track.t_s[0], side="right")) - 1, 0)
    k1 = min(int(np.searchsorted(kin.t_s, track.t_s[-1], side="left")), len(kin.t_s) - 1)
    xs, ys = kin.x[:, k0 : k1 + 1], kin.y[:, k0 : k1 + 1]
    bx = (xs.max(axis=1) >= lo[0]) & (xs.min(axis=1) <= hi[0])
    by = (ys.max(axis=1) >= lo[1]) & (ys.min(axis=1) <= hi[1])
    return bx & by
