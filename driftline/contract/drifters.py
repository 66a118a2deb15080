"""Job section `drifters`: on-scene drifter tracks (e.g. SLDMB buoys), validated (files: driftline/track_files.py).

A track is `{"id": "SLDMB-1", "positions": [{"time": ISO 8601, "lat": …, "lon": …}, …]}`: at least two
fixes, times strictly increasing, no leg faster than MAX_DRIFTER_SPEED_MS (a wrong fix, not a current).
How the tracks act on the drift (radius of influence, persistence) is in driftline/forcing/drifter_currents.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from driftline.contract.fields import number, timestamp
from driftline.errors import InvalidJob

MAX_TRACKS = 20
MAX_FIXES = 2000
MAX_DRIFTER_SPEED_MS = 5.0
EARTH_RADIUS_M = 6_371_000.0
# How long before the first and after the last fix a track still counts as a current observation (see forcing).
PERSISTENCE = timedelta(hours=3)


@dataclass(frozen=True)
class DrifterFix:
    time: datetime  # UTC
    lat: float
    lon: float


@dataclass(frozen=True)
class DrifterTrack:
    id: str
    fixes: tuple[DrifterFix, ...]

    @property
    def first(self) -> datetime:
        return self.fixes[0].time

    @property
    def last(self) -> datetime:
        return self.fixes[-1].time

    def record(self) -> dict[str, Any]:
        """The track in the job's own form (times as ISO 8601 UTC)."""
        positions = [{"time": f.time.strftime("%Y-%m-%dT%H:%M:%SZ"), "lat": f.lat, "lon": f.lon} for f in self.fixes]
        return {"id": self.id, "positions": positions}


def haversine_m(lat1, lon1, lat2, lon2):
    """Great-circle distance in metres (scalars or numpy arrays); ample for legs and radii of a few km."""
    import numpy as np

    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def parse_drifters(value: Any) -> tuple[DrifterTrack, ...]:
    """Validated tracks from `params.drifters`."""
    if value is None:
        return ()
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TRACKS:
        raise InvalidJob(f"drifters must be a list of 1 to {MAX_TRACKS} tracks")
    tracks = tuple(_track(item, f"drifters[{i}]") for i, item in enumerate(value))
    ids = [t.id for t in tracks]
    if len(set(ids)) != len(ids):
        raise InvalidJob("drifters: two tracks have the same id")
    return tracks


def _track(item: Any, where: str) -> DrifterTrack:
    if not isinstance(item, dict) or set(item) != {"id", "positions"}:
        raise InvalidJob(f"{where} must be an object with exactly 'id' and 'positions'")
    track_id = item["id"]
    if not isinstance(track_id, str) or not 1 <= len(track_id.strip()) <= 64:
        raise InvalidJob(f"{where}.id must be a string of 1 to 64 characters")
    positions = item["positions"]
    if not isinstance(positions, list) or not 2 <= len(positions) <= MAX_FIXES:
        raise InvalidJob(f"{where}.positions must be a list of 2 to {MAX_FIXES} fixes")
    fixes = []
    for j, pos in enumerate(positions):
        at = f"{where}.positions[{j}]"
        if not isinstance(pos, dict) or set(pos) != {"time", "lat", "lon"}:
            raise InvalidJob(f"{at} must be an object with exactly time, lat and lon")
        try:
            fixes.append(DrifterFix(timestamp(pos, "time", required=True), number(pos, "lat", None, -90, 90),
                                    number(pos, "lon", None, -180, 180)))  # fmt: skip
        except InvalidJob as e:
            raise InvalidJob(f"{at}.{e}") from None
    _check_legs(fixes, f"{where} ({track_id.strip()})")
    return DrifterTrack(track_id.strip(), tuple(fixes))


def _check_legs(fixes: list[DrifterFix], where: str) -> None:
    for j, (a, b) in enumerate(zip(fixes, fixes[1:]), start=1):
        seconds = (b.time - a.time).total_seconds()
        if seconds <= 0:
            raise InvalidJob(f"{where}: fix {j} is not later than fix {j - 1} (times must increase)")
        metres = float(haversine_m(a.lat, a.lon, b.lat, b.lon))
        if metres / seconds > MAX_DRIFTER_SPEED_MS:
            raise InvalidJob(
                f"{where}: fixes {j - 1} to {j} imply {metres / seconds:.1f} m/s ({metres / 1000:.2f} km in "
                f"{seconds / 60:g} min), above the plausible {MAX_DRIFTER_SPEED_MS:g} m/s"
            )
