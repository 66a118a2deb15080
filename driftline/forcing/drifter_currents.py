"""On-scene drifter tracks as current observations, blended into the model currents by optimal interpolation.

A drifter (an SLDMB is drogued to follow the upper metre of water) moves with the total surface current, so its
velocity over each leg between fixes is a current observation where it was. At time t each track gives its own
position (interpolated between fixes, extrapolated with its first/last leg up to PERSISTENCE outside them) and the
velocity of its leg. The innovation d_k = drifter velocity − model current at the drifter is spread into the model
field by optimal interpolation (Gandin 1963; Bretherton, Davis & Fandry 1976, Deep-Sea Res. 23:559-582):
    correction(x) = sum_k c_k(x) w_k,   w = (C + r I)^-1 d,
    c_k(x) = tau_k exp(-|x - x_k|^2 / (2 L^2)),   C_ij = tau_i tau_j exp(-|x_i - x_j|^2 / (2 L^2)) (1 for i = j),
with the Gaussian correlation of the model's current error, length L = 10 km, the observation-to-model error variance
ratio r = 0.01 (a drifter's leg velocity is far more accurate than a model current), and a time taper
tau = (1 - (dt / P)^2)^2 for a drifter dt outside its fixes (1 during them, 0 from P = 3 h on). Every factor is
smooth, so the corrected current is continuous in space and time: at a drifter it is (almost) the drifter's
velocity, 10 km away 61 % of the difference is applied, 30 km away 1 %, and several drifters at one place are not
counted twice (the matrix inverse). The old hard 10 km switch from drifter to model current made a false shear.

L = 10 km: the decorrelation length of surface currents on shelves and near coasts, where SAR cases mostly are, is
10-20 km (HF radar and drifter studies). P = 3 h: under a quarter of the semi-diurnal tide (12.42 h), so a tidal
current is not carried past its turn. OpenDrift's reader_current_from_drifter applies the nearest-in-time leg to
the whole globe and assumes a constant fix interval, so it does not fit. The correction is mixed into the mission's
OpenDrift model (drifter_mixins): before each step it samples the model currents at the drifters through OpenDrift's
own environment (readers, then fallbacks) and adds the correction to the current each particle sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from driftline.contract.drifters import EARTH_RADIUS_M, PERSISTENCE, DrifterTrack, haversine_m

RADIUS_OF_INFLUENCE_M = 10_000.0  # L, the Gaussian length of the blending
ERROR_VARIANCE_RATIO = 0.01  # r: drifter observation error variance / model current error variance


@dataclass(frozen=True)
class TrackArrays:
    """One track as arrays: fix times (s since epoch), positions, and each leg's eastward/northward velocity."""

    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    u: np.ndarray  # (legs,) m/s east
    v: np.ndarray  # (legs,) m/s north

    @classmethod
    def of(cls, track: DrifterTrack) -> TrackArrays:
        t = np.array([f.time.timestamp() for f in track.fixes])
        lat = np.array([f.lat for f in track.fixes])
        lon = np.array([f.lon for f in track.fixes])
        dt = np.diff(t)
        mid = np.radians((lat[1:] + lat[:-1]) / 2)
        dlon = (np.diff(lon) + 180) % 360 - 180
        u = np.radians(dlon) * EARTH_RADIUS_M * np.cos(mid) / dt
        v = np.radians(np.diff(lat)) * EARTH_RADIUS_M / dt
        return cls(t, lat, lon, u, v)

    def at(self, when: float) -> tuple[float, float, float, float, float] | None:
        """(lat, lon, u, v, tau) of the drifter at `when`, tau its time taper; None outside its fixes ± PERSISTENCE."""
        margin = PERSISTENCE.total_seconds()
        if when < self.t[0] - margin or when > self.t[-1] + margin:
            return None
        leg = int(np.clip(np.searchsorted(self.t, when, side="right") - 1, 0, len(self.u) - 1))
        frac = (when - self.t[leg]) / (self.t[leg + 1] - self.t[leg])  # in 0..1 on the leg, beyond it outside
        lat = self.lat[leg] + frac * (self.lat[leg + 1] - self.lat[leg])
        lon = self.lon[leg] + frac * ((self.lon[leg + 1] - self.lon[leg] + 180) % 360 - 180)
        outside = max(self.t[0] - when, when - self.t[-1], 0.0)
        tau = (1.0 - (outside / margin) ** 2) ** 2
        return float(lat), float(lon), float(self.u[leg]), float(self.v[leg]), float(tau)


def observations(tracks: list[TrackArrays], when: float) -> np.ndarray:
    """(K, 5) lat, lon, u, v, tau of the drifters observing at `when` (tau > 0)."""
    rows = [state for track in tracks if (state := track.at(when)) is not None and state[4] > 0]
    return np.array(rows, dtype=float).reshape(-1, 5)


def correlation(lat: np.ndarray, lon: np.ndarray, obs: np.ndarray, length_m: float) -> np.ndarray:
    """(N, K) Gaussian correlation of the model current error between the positions and the drifters."""
    d = haversine_m(np.asarray(lat, float)[:, None], np.asarray(lon, float)[:, None], obs[None, :, 0], obs[None, :, 1])
    return np.exp(-0.5 * (d / length_m) ** 2)


def oi_correction(
    obs: np.ndarray,
    model_u: np.ndarray,
    model_v: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    length_m: float = RADIUS_OF_INFLUENCE_M,
) -> tuple[np.ndarray, np.ndarray]:
    """(du, dv) m/s to add to the model current at the positions, from the drifters `obs` (observations()) and the
    model current at the drifters (model_u, model_v): optimal interpolation of the innovations."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if obs.shape[0] == 0:
        return np.zeros(lon.shape), np.zeros(lon.shape)
    tau = obs[:, 4]
    # the drifters' error correlation at the analysis time; 1 on the diagonal: an observation correlates fully with
    # itself, so a tapered drifter (tau < 1) gives a correction tau / (1 + r) of its difference, never more
    c_oo = correlation(obs[:, 0], obs[:, 1], obs, length_m) * np.outer(tau, tau) + np.diag(1 - tau**2)
    innovations = np.column_stack([obs[:, 2] - model_u, obs[:, 3] - model_v])
    gain = np.linalg.solve(c_oo + ERROR_VARIANCE_RATIO * np.eye(len(tau)), innovations)
    c_xo = correlation(lat.ravel(), lon.ravel(), obs, length_m) * tau[None, :]
    du, dv = (c_xo @ gain).T
    return du.reshape(lon.shape), dv.reshape(lon.shape)


def drifter_mixins(plan) -> tuple[type, ...]:
    """The blending mixed into the mission's OpenDrift model when the plan has drifter tracks (none otherwise)."""
    tracks = getattr(plan, "drifter_tracks", ())
    if not tracks:
        return ()
    arrays = [TrackArrays.of(t) for t in tracks]

    class DrifterBlend(_Blend):
        _tracks = arrays

    return (DrifterBlend,)


class _Blend:
    """Adds the drifters' optimal-interpolation correction to the current each particle sees, before it moves."""

    _tracks: list[TrackArrays] = []

    def update(self) -> None:
        self._blend_drifters()
        super().update()

    def _blend_drifters(self) -> None:
        obs = observations(self._tracks, self.time.replace(tzinfo=UTC).timestamp())
        if obs.shape[0] == 0:
            return
        names = ["x_sea_water_velocity", "y_sea_water_velocity"]
        env, _, _ = self.env.get_environment(names, self.time, obs[:, 1], obs[:, 0], np.zeros(len(obs)))
        du, dv = oi_correction(obs, np.asarray(env[names[0]], float), np.asarray(env[names[1]], float),
                               self.elements.lon, self.elements.lat)  # fmt: skip
        for name, delta in zip(names, (du, dv), strict=True):
            values = getattr(self.environment, name)
            setattr(self.environment, name, values + delta.astype(values.dtype))


def add_drifter_currents(plan, tracks: tuple[DrifterTrack, ...]) -> None:
    """Give the plan the drifter tracks to blend into its currents and record them in the provenance (in place)."""
    if not tracks:
        return
    plan.drifter_tracks = tuple(tracks)
    plan.sources.insert(0, drifter_source(tracks))


def drifter_source(tracks: tuple[DrifterTrack, ...]) -> dict:
    """Provenance entry of the drifter currents (quantity currents, kind drifters)."""
    legs = [TrackArrays.of(t) for t in tracks]
    ids = ", ".join(t.id for t in tracks)
    first, last = min(t.first for t in tracks), max(t.last for t in tracks)
    hours = PERSISTENCE.total_seconds() / 3600
    description = (
        f"drifter-derived currents from {len(tracks)} track{'s' if len(tracks) > 1 else ''} ({ids}), "
        f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC (± {hours:g} h), blended into the model currents "
        f"by optimal interpolation (Gaussian length {RADIUS_OF_INFLUENCE_M / 1000:g} km)"
    )
    return {
        "quantity": "currents",
        "kind": "drifters",
        "description": description,
        "radius_of_influence_m": RADIUS_OF_INFLUENCE_M,
        "blending": "optimal interpolation of drifter-minus-model currents, Gaussian length "
        f"{RADIUS_OF_INFLUENCE_M / 1000:g} km, time taper {hours:g} h (Bretherton, Davis & Fandry 1976)",
        "persistence_hours": hours,
        "drifters": [
            {
                "id": t.id,
                "fixes": len(t.fixes),
                "first_fix": _iso(t.first),
                "last_fix": _iso(t.last),
                "mean_speed_ms": round(float(np.mean(np.hypot(a.u, a.v))), 3),
            }
            for t, a in zip(tracks, legs, strict=True)
        ],
    }


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
