"""Drifter track files (CSV or GPX) read into job `drifters` entries, for `worker.py run --drifters`."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from driftline.errors import InvalidJob

CSV_COLUMNS = {"time": ("time",), "lat": ("lat", "latitude"), "lon": ("lon", "longitude")}


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
        missing = [key for key in ("time", "lat", "lon") if not (row.get(columns[key]) or "").strip()]
        if missing:  # a short row gives None (csv.DictReader), an empty cell ""
            raise InvalidJob(f"drifter file {path} line {line}: no {', '.join(missing)} value")
        try:
            fix = {"time": row[columns["time"]].strip(), "lat": _float(row[columns["lat"]]),
                   "lon": _float(row[columns["lon"]])}  # fmt: skip
        except ValueError as e:
            raise InvalidJob(f"drifter file {path} line {line}: {e}") from e
        tracks.setdefault(track_id or path.stem, []).append(fix)
    return [{"id": k, "positions": v} for k, v in tracks.items()]


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value
