"""On-scene drifter tracks as current observations: an OpenDrift reader placed before the model currents.

A drifter (an SLDMB is drogued to follow the upper metre of water) moves with the total surface current, so
its velocity over each leg between fixes is a current observation where it was. At time t each track gives
its own position (interpolated between fixes, extrapolated with its first/last leg up to PERSISTENCE outside
them) and the velocity of the leg it is on. A particle within RADIUS_OF_INFLUENCE_M of one or more drifters
gets their velocity (inverse-distance weighted when several are in reach); further away the reader returns
NaN and OpenDrift takes the next source: model currents, then the on-scene/zero fallback. So where both
exist the drifters take precedence, and far from them the model governs unchanged.

Radius 10 km: the decorrelation length of surface currents on shelves and near coasts, where SAR cases
mostly are, is 10-20 km (HF radar and drifter studies); a smaller radius leaves the particles around the
datum uncorrected once they spread a few km, a larger one transplants the current across fronts and eddies.
Persistence 3 h: under a quarter of the semi-diurnal tide (12.42 h), so a tidal current is not carried past
its turn. OpenDrift's own reader_current_from_drifter has no radius (it applies the nearest-in-time leg to
the whole globe) and assumes a constant fix interval, so it does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from driftline.drifters import EARTH_RADIUS_M, PERSISTENCE, DrifterTrack, haversine_m

RADIUS_OF_INFLUENCE_M = 10_000.0
MIN_WEIGHT_DISTANCE_M = 100.0  # inverse-distance weights saturate inside this distance
READER_NAME = "drifter_currents"


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

    def at(self, when: float) -> tuple[float, float, float, float] | None:
        """(lat, lon, u, v) of the drifter at `when`, or None outside its fixes ± PERSISTENCE."""
        margin = PERSISTENCE.total_seconds()
        if when < self.t[0] - margin or when > self.t[-1] + margin:
            return None
        leg = int(np.clip(np.searchsorted(self.t, when, side="right") - 1, 0, len(self.u) - 1))
        frac = (when - self.t[leg]) / (self.t[leg + 1] - self.t[leg])  # in 0..1 on the leg, beyond it outside
        lat = self.lat[leg] + frac * (self.lat[leg + 1] - self.lat[leg])
        lon = self.lon[leg] + frac * ((self.lon[leg + 1] - self.lon[leg] + 180) % 360 - 180)
        u, v = self.u[leg], self.v[leg]
        return float(lat), float(lon), float(u), float(v)


def drifter_current(
    tracks: list[TrackArrays], when: float, lon: np.ndarray, lat: np.ndarray, radius_m: float = RADIUS_OF_INFLUENCE_M
) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) m/s at the positions from the drifters within radius_m at time `when` (s since epoch); NaN elsewhere."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    weight = np.zeros(lon.shape)
    su, sv = np.zeros(lon.shape), np.zeros(lon.shape)
    for track in tracks:
        state = track.at(when)
        if state is None:
            continue
        dlat, dlon, u, v = state
        d = haversine_m(lat, lon, dlat, dlon)
        w = np.where(d <= radius_m, 1.0 / np.maximum(d, MIN_WEIGHT_DISTANCE_M) ** 2, 0.0)
        weight += w
        su += w * u
        sv += w * v
    near = weight > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(near, su / weight, np.nan), np.where(near, sv / weight, np.nan)


def drifter_reader(tracks: tuple[DrifterTrack, ...], radius_m: float = RADIUS_OF_INFLUENCE_M):
    """An OpenDrift reader giving the drifter-derived current near the tracks (NaN elsewhere)."""
    from opendrift.readers.basereader.continuous import ContinuousReader

    arrays = [TrackArrays.of(t) for t in tracks]

    class DrifterCurrentReader(ContinuousReader):
        variables = ["x_sea_water_velocity", "y_sea_water_velocity"]

        def __init__(self):
            self.name = READER_NAME
            self.proj4 = "+proj=latlong"
            self.xmin, self.xmax, self.ymin, self.ymax = -180, 180, -90, 90
            self.start_time = _naive(min(t.first for t in tracks) - PERSISTENCE)
            self.end_time = _naive(max(t.last for t in tracks) + PERSISTENCE)
            self.time_step = None
            super().__init__()

        def get_variables(self, requested_variables, time=None, x=None, y=None, z=None):
            when = time.replace(tzinfo=UTC).timestamp()
            u, v = drifter_current(arrays, when, np.atleast_1d(x), np.atleast_1d(y), radius_m)
            return {"x_sea_water_velocity": u, "y_sea_water_velocity": v}

    return DrifterCurrentReader()


def add_drifter_currents(plan, tracks: tuple[DrifterTrack, ...]) -> None:
    """Put the drifter reader first in the plan's readers and record it in the provenance (in place)."""
    if not tracks:
        return
    plan.readers.insert(0, drifter_reader(tracks))
    plan.sources.insert(0, drifter_source(tracks))


def drifter_source(tracks: tuple[DrifterTrack, ...]) -> dict:
    """Provenance entry of the drifter currents (quantity currents, kind drifters)."""
    legs = [TrackArrays.of(t) for t in tracks]
    ids = ", ".join(t.id for t in tracks)
    first, last = min(t.first for t in tracks), max(t.last for t in tracks)
    hours = PERSISTENCE.total_seconds() / 3600
    description = (
        f"drifter-derived currents from {len(tracks)} track{'s' if len(tracks) > 1 else ''} ({ids}), "
        f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC (± {hours:g} h), within "
        f"{RADIUS_OF_INFLUENCE_M / 1000:g} km of each drifter, ahead of the other current sources"
    )
    return {
        "quantity": "currents",
        "kind": "drifters",
        "description": description,
        "radius_of_influence_m": RADIUS_OF_INFLUENCE_M,
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
