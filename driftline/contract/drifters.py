"""On-scene drifter tracks (e.g. SLDMB buoys) in a job: validation, and reading CSV/GPX track files.

A track is `{"id": "SLDMB-1", "positions": [{"time": ISO 8601, "lat": …, "lon": …}, …]}`: at least two
fixes, times strictly increasing, no leg faster than MAX_DRIFTER_SPEED_MS (a wrong fix, not a current).
How the tracks act on the drift (radius of influence, persistence) is in driftline/forcing/drifter_currents.py.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.errors import InvalidJob

if TYPE_CHECKING:
    from driftline.jobs import MissionParams

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


def parse_drifters(value: Any, num, when) -> tuple[DrifterTrack, ...]:
    """Validated tracks from `params.drifters`; `num`/`when` are jobs' number and time validators."""
    if value is None:
        return ()
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TRACKS:
        raise InvalidJob(f"drifters must be a list of 1 to {MAX_TRACKS} tracks")
    tracks = tuple(_track(item, f"drifters[{i}]", num, when) for i, item in enumerate(value))
    ids = [t.id for t in tracks]
    if len(set(ids)) != len(ids):
        raise InvalidJob("drifters: two tracks have the same id")
    return tracks


def _track(item: Any, where: str, num, when) -> DrifterTrack:
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
            fixes.append(DrifterFix(when(pos, "time", required=True), num(pos, "lat", None, -90, 90),
                                    num(pos, "lon", None, -180, 180)))  # fmt: skip
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


def check_drifters_overlap_run(params: MissionParams) -> None:
    """Each track must be usable: its fixes (± PERSISTENCE) overlap the simulated time."""
    t0, t1 = sorted((params.start_time, params.end_of_run))
    for i, track in enumerate(params.drifters):
        if track.last + PERSISTENCE < t0 or track.first - PERSISTENCE > t1:
            raise InvalidJob(
                f"drifters[{i}] ({track.id}): fixes from {track.first:%Y-%m-%d %H:%M} to {track.last:%Y-%m-%d %H:%M} "
                f"UTC are more than {PERSISTENCE.total_seconds() / 3600:g} h from the run "
                f"({t0:%Y-%m-%d %H:%M} to {t1:%Y-%m-%d %H:%M} UTC)"
            )


# ---------------------------------------------------------------- files (worker.py run --drifters)


def read_track_file(path: Path | str) -> list[dict[str, Any]]:
    """Drifter tracks in the job's form from a GPX file (each track one drifter) or a CSV file.

    CSV: a header with `time`, `lat`/`latitude`, `lon`/`longitude` and optionally `id` (one drifter per id;
    without it the whole file is one drifter named after the file). Validation is the job's own.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidJob(f"drifter file {path} cannot be read: {e}") from e
    if path.suffix.lower() == ".gpx" or text.lstrip().startswith("<"):
        return _gpx_tracks(text, path)
    return _csv_tracks(text, path)


def _gpx_tracks(text: str, path: Path) -> list[dict[str, Any]]:
    import gpxpy
    import gpxpy.gpx

    try:
        gpx = gpxpy.parse(text)
    except gpxpy.gpx.GPXException as e:
        raise InvalidJob(f"drifter file {path} is not valid GPX: {e}") from e
    tracks = []
    for n, trk in enumerate(gpx.tracks, start=1):
        points = [p for seg in trk.segments for p in seg.points]
        if any(p.time is None for p in points):
            raise InvalidJob(f"drifter file {path}: track {n} has a point without a time")
        positions = [{"time": p.time.isoformat(), "lat": p.latitude, "lon": p.longitude} for p in points]
        tracks.append({"id": (trk.name or "").strip() or f"{path.stem}-{n}", "positions": positions})
    if not tracks:
        raise InvalidJob(f"drifter file {path} holds no GPX track")
    return tracks


CSV_COLUMNS = {"time": ("time",), "lat": ("lat", "latitude"), "lon": ("lon", "longitude")}


def _csv_tracks(text: str, path: Path) -> list[dict[str, Any]]:
    reader = csv.DictReader(text.splitlines())
    header = {name.strip().lower(): name for name in reader.fieldnames or []}
    columns = {}
    for key, names in CSV_COLUMNS.items():
        found = [header[n] for n in names if n in header]
        if not found:
            raise InvalidJob(f"drifter file {path} needs a CSV header with time, lat and lon columns")
        columns[key] = found[0]
    tracks: dict[str, list[dict[str, Any]]] = {}
    for line, row in enumerate(reader, start=2):
        track_id = (row.get(header["id"]) or "").strip() if "id" in header else path.stem
        try:
            fix = {"time": row[columns["time"]].strip(), "lat": _float(row[columns["lat"]]),
                   "lon": _float(row[columns["lon"]])}  # fmt: skip
        except (AttributeError, ValueError) as e:
            raise InvalidJob(f"drifter file {path} line {line}: {e}") from e
        tracks.setdefault(track_id or path.stem, []).append(fix)
    return [{"id": k, "positions": v} for k, v in tracks.items()]


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value
