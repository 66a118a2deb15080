"""Job keys `search`, `searches_done` and `water_temperature_c`: parsing and validation (pure, no services).

A section of the job contract (driftline/contract/parse.py); every rejection is an InvalidJob naming the key,
e.g. `search.units[1].speed_kn`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from driftline.contract.fields import number, timestamp
from driftline.errors import InvalidJob
from driftline.search.theory import DETECTION_LAWS, SEARCH_ENDURANCE_FACTOR, coverage, effort_nm2, pod_exponential

if TYPE_CHECKING:
    from config import Settings

MAX_UNITS = 10
MAX_SEARCHES_DONE = 20
MAX_NAME_CHARS = 64
# Caps: the fastest SAR aircraft search below ~350 kn; sweep widths in IAMSAR's tables stay below ~20 nm.
MAX_SPEED_KN = 500.0
MAX_SWEEP_WIDTH_NM = 50.0
MAX_ENDURANCE_HOURS = 24.0
MAX_TRACK_SPACING_NM = 50.0
MAX_POD = 0.999999  # a computed POD is kept below 1, so no particle ever loses all of its weight
UNIT_KEYS = {"name", "speed_kn", "sweep_width_nm", "endurance_hours", "commence_time", "detection", "pattern"}
UNIT_KEYS |= {"search_endurance_factor", "platform"}
SEARCH_KEYS = {
    "commence_time",
    "units",
    "search_endurance_factor",
    "route",
    "visibility_nm",
    "wind_kn",
    "wave_height_m",
}
SEARCH_KEYS |= {"object"}  # the search object of the sweep-width tables (sweepwidth.py)
UNIT_PATTERNS = ("auto", "PS", "CS", "SS", "VS", "TSR", "TSN")
MAX_ROUTE_POINTS = 500
DONE_KEYS = {"area", "start_time", "end_time", "pod", "sweep_width_nm", "track_spacing_nm"}
TRACK_KEYS = {"track", "gpx", "start_time", "end_time", "speed_kn", "sweep_width_nm", "track_spacing_nm", "detection"}
MAX_TRACK_POINTS = 20_000
MAX_GPX_CHARS = 2_000_000


@dataclass(frozen=True)
class SearchUnit:
    """One search and rescue unit: speed, sweep width and hours on scene from its commence-search time."""

    name: str
    speed_kn: float
    sweep_width_nm: float
    endurance_hours: float
    commence_time: datetime
    detection: str = "exponential"  # theory.DETECTION_LAWS
    pattern: str = "auto"  # UNIT_PATTERNS
    search_endurance_factor: float = 1.0  # the job's default is IAMSAR's 0.85; 1.0 keeps direct callers exact
    platform: dict | None = None
    sweep_width_source: str = "job"  # "job" or the table row it came from (sweepwidth.py)

    @property
    def search_hours(self) -> float:
        """Hours actually searching: on-scene endurance × search endurance factor (IAMSAR Vol. II 4.6)."""
        return self.endurance_hours * self.search_endurance_factor

    @property
    def end_time(self) -> datetime:
        """End of the on-scene time (the window that must lie inside the forecast)."""
        return self.commence_time + timedelta(hours=self.endurance_hours)

    @property
    def search_end_time(self) -> datetime:
        return self.commence_time + timedelta(hours=self.search_hours)

    @property
    def mid_time(self) -> datetime:
        return self.commence_time + timedelta(hours=self.search_hours / 2)

    @property
    def effort_nm2(self) -> float:
        return effort_nm2(self.speed_kn, self.sweep_width_nm, self.search_hours)

    @property
    def track_nm(self) -> float:
        """Longest track the unit can fly while searching."""
        return self.speed_kn * self.search_hours


@dataclass(frozen=True)
class SearchRequest:
    units: tuple[SearchUnit, ...]
    route: tuple[tuple[float, float], ...] = ()  # (lon, lat) of the route for track-line searches
    conditions: dict = field(default_factory=dict)  # visibility_nm, wind_kn, wave_height_m when given


@dataclass(frozen=True)
class SearchDone:
    """A search flown without finding the object: its area, its time and its POD."""

    area: dict  # GeoJSON Polygon
    start_time: datetime
    end_time: datetime
    pod: float
    sweep_width_nm: float | None = None
    track_spacing_nm: float | None = None
    track: tuple | None = None  # ((lon, lat, seconds after start_time), ...) of the track flown, when given
    detection: str = "exponential"

    def track_lonlat_unwrapped(self) -> list[tuple[float, float]]:
        """The flown track's positions with longitudes continued across ±180 (for drawing)."""
        out, prev = [], None
        for lon, lat, _ in self.track or ():
            if prev is not None:
                lon = prev + ((lon - prev + 180) % 360 - 180)
            out.append((lon, lat))
            prev = lon
        return out

    @property
    def mid_time(self) -> datetime:
        return self.start_time + (self.end_time - self.start_time) / 2


@contextmanager
def named(prefix: str) -> Iterator[None]:
    """Prefix the key path to messages of nested validators (`speed_kn ...` → `search.units[0].speed_kn ...`)."""
    try:
        yield
    except InvalidJob as e:
        raise InvalidJob(f"{prefix}.{e}") from None


def parse_search(value: Any, params: dict | None = None) -> SearchRequest | None:
    """`params.search`: 1..10 units; top-level commence_time and search_endurance_factor are the units' defaults.

    `params` (the raw job params) gives the object type and wind for sweep widths from the tables (`platform`).
    """

    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - SEARCH_KEYS:
        unknown = sorted(set(value) - SEARCH_KEYS) if isinstance(value, dict) else []
        extra = f" (unknown: {', '.join(unknown)})" if unknown else ""
        raise InvalidJob(
            f"search must be an object with units and optionally {', '.join(sorted(SEARCH_KEYS - {'units'}))}{extra}"
        )
    with named("search"):
        default_time = timestamp(value, "commence_time")
        factor = number(value, "search_endurance_factor", SEARCH_ENDURANCE_FACTOR, 0, 1, low_open=True)
        conditions = _conditions(value, params or {})
        route = _route(value.get("route")) if "route" in value else ()
    units = value.get("units")
    if not isinstance(units, list) or not 1 <= len(units) <= MAX_UNITS:
        raise InvalidJob(f"search.units must be a list of 1 to {MAX_UNITS} units")
    context = {"conditions": conditions, "params": params or {}}
    parsed = tuple(_unit(u, i, default_time, factor, context) for i, u in enumerate(units))
    names = [u.name for u in parsed]
    if len(set(names)) != len(names):
        raise InvalidJob("search.units names must be different")
    for i, u in enumerate(parsed):
        if u.pattern in ("TSR", "TSN") and not route:
            raise InvalidJob(f"search.units[{i}].pattern {u.pattern} needs search.route (a GeoJSON LineString)")
    return SearchRequest(parsed, route, conditions)


def _conditions(value: dict, params: dict) -> dict:
    """On-scene visibility, wind and sea for the sweep-width tables; the wind defaults to the job's constant wind."""

    limits = (("visibility_nm", 100), ("wind_kn", 150), ("wave_height_m", 30))
    out = {k: number(value, k, None, 0, hi) for k, hi in limits if k in value}
    if "object" in value:
        obj = value["object"]
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("type"), str)
            or set(obj) - {"type", "persons", "length_ft"}
        ):
            raise InvalidJob("object must be an object with type and persons (raft) or length_ft (boats, ships)")
        out["object"] = dict(obj)
    wind = params.get("wind")
    if "wind_kn" not in out and isinstance(wind, dict) and isinstance(wind.get("speed_ms"), (int, float)):
        out["wind_kn"] = float(wind["speed_ms"]) * 3600 / 1852
        out["wind_source"] = "params.wind"
    return out


def _route(value: Any) -> tuple[tuple[float, float], ...]:
    """A GeoJSON LineString of 2..500 positions (lon, lat), as flown or intended by the missing craft."""

    if (
        not isinstance(value, dict)
        or value.get("type") != "LineString"
        or not isinstance(value.get("coordinates"), list)
    ):
        raise InvalidJob("route must be a GeoJSON LineString")
    coords = value["coordinates"]
    if not 2 <= len(coords) <= MAX_ROUTE_POINTS:
        raise InvalidJob(f"route must have 2 to {MAX_ROUTE_POINTS} positions")
    out = []
    for j, c in enumerate(coords):
        if not isinstance(c, list) or len(c) not in (2, 3):
            raise InvalidJob(f"route.coordinates[{j}] must be [lon, lat]")
        out.append((number({"lon": c[0]}, "lon", None, -180, 180), number({"lat": c[1]}, "lat", None, -90, 90)))
    return tuple(out)


def _unit(value: Any, i: int, default_time: datetime | None, factor: float, context: dict) -> SearchUnit:
    from driftline.search.sweepwidth import speed_corrected, sweep_width_from_tables

    key = f"search.units[{i}]"
    if not isinstance(value, dict):
        raise InvalidJob(f"{key} must be an object with name, speed_kn, sweep_width_nm, endurance_hours")
    unknown = sorted(set(value) - UNIT_KEYS)
    if unknown:
        raise InvalidJob(f"unknown {key} keys: {', '.join(unknown)}")
    name = value.get("name", f"Unit {i + 1}")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME_CHARS:
        raise InvalidJob(f"{key}.name must be a string of 1 to {MAX_NAME_CHARS} characters")
    detection = value.get("detection", "exponential")
    if detection not in DETECTION_LAWS:
        raise InvalidJob(f"{key}.detection must be one of {', '.join(DETECTION_LAWS)}, got {detection!r}"[:200])
    pattern = value.get("pattern", "auto")
    if pattern not in UNIT_PATTERNS:
        raise InvalidJob(f"{key}.pattern must be one of {', '.join(UNIT_PATTERNS)}, got {pattern!r}"[:200])
    with named(key):
        speed = number(value, "speed_kn", None, 0, MAX_SPEED_KN, low_open=True)
        hours = number(value, "endurance_hours", None, 0, MAX_ENDURANCE_HOURS, low_open=True)
        unit_factor = number(value, "search_endurance_factor", factor, 0, 1, low_open=True)
        commence = timestamp(value, "commence_time") or default_time
        if "sweep_width_nm" in value or "platform" not in value:
            sweep = number(value, "sweep_width_nm", None, 0, MAX_SWEEP_WIDTH_NM, low_open=True)
            source = "job"
    if "sweep_width_nm" not in value and "platform" in value:
        try:
            sweep, source = sweep_width_from_tables(value["platform"], context["params"], context["conditions"])
            sweep, source = speed_corrected(sweep, source, value["platform"], speed)
        except InvalidJob as e:
            raise InvalidJob(f"{key}.{e}" if str(e).startswith(("platform", "speed_kn")) else f"{key}: {e}") from None
    if commence is None:
        raise InvalidJob(f"{key}.commence_time is required (or search.commence_time for all units)")
    platform = value.get("platform") if isinstance(value.get("platform"), dict) else None
    return SearchUnit(name.strip(), speed, sweep, hours, commence, detection, pattern, unit_factor, platform, source)


def parse_searches_done(value: Any, settings: Settings) -> tuple[SearchDone, ...]:
    """`params.searches_done`: up to 20 unsuccessful searches, each with a POD or sweep width and track spacing."""
    if value is None:
        return ()
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SEARCHES_DONE:
        raise InvalidJob(f"searches_done must be a list of 1 to {MAX_SEARCHES_DONE} searches")
    return tuple(_done(item, i, settings) for i, item in enumerate(value))


def _done(value: Any, i: int, settings: Settings) -> SearchDone:
    from driftline.geodesy import validate_area

    key = f"searches_done[{i}]"
    if not isinstance(value, dict):
        raise InvalidJob(f"{key} must be an object with area, start_time, end_time and pod (or a track flown)")
    if "track" in value or "gpx" in value:
        return _done_track(value, key)
    unknown = sorted(set(value) - DONE_KEYS)
    if unknown:
        raise InvalidJob(f"unknown {key} keys: {', '.join(unknown)}")
    with named(key):
        area = validate_area(value.get("area"), settings.max_area_km2)
        start, end = timestamp(value, "start_time", required=True), timestamp(value, "end_time", required=True)
    if end <= start:
        raise InvalidJob(f"{key}.end_time must be after {key}.start_time")
    has_pod, has_sweep = "pod" in value, {"sweep_width_nm", "track_spacing_nm"} & value.keys()
    if has_pod == bool(has_sweep):
        raise InvalidJob(f"{key} needs either pod or sweep_width_nm and track_spacing_nm (not both)")
    with named(key):
        if has_pod:
            pod = number(value, "pod", None, 0, 1, low_open=True)
            if pod >= 1:  # it would remove the probability entirely: no real search is certain
                raise InvalidJob("pod must be less than 1")
            return SearchDone(area, start, end, pod)
        sweep = number(value, "sweep_width_nm", None, 0, MAX_SWEEP_WIDTH_NM, low_open=True)
        spacing = number(value, "track_spacing_nm", None, 0, MAX_TRACK_SPACING_NM, low_open=True)
    return SearchDone(area, start, end, min(pod_exponential(coverage(sweep, spacing)), MAX_POD), sweep, spacing)


def _done_track(value: dict, key: str) -> SearchDone:
    """A track flown: GeoJSON LineString (times from start_time and speed_kn, or start and end time) or GPX text
    (its own point times, else the same), with the sweep width; detection along it like a planned track."""

    unknown = sorted(set(value) - TRACK_KEYS)
    if unknown:
        raise InvalidJob(
            f"unknown {key} keys: {', '.join(unknown)} (a track flown takes {', '.join(sorted(TRACK_KEYS))})"
        )
    if "track" in value and "gpx" in value:
        raise InvalidJob(f"{key} needs either track or gpx, not both")
    with named(key):
        points = _gpx_points(value["gpx"]) if "gpx" in value else _linestring_points(value["track"])
        start, end = timestamp(value, "start_time"), timestamp(value, "end_time")
        speed = number(value, "speed_kn", None, 0, MAX_SPEED_KN, low_open=True) if "speed_kn" in value else None
        sweep = number(value, "sweep_width_nm", None, 0, MAX_SWEEP_WIDTH_NM, low_open=True)
        spacing = (number(value, "track_spacing_nm", None, 0, MAX_TRACK_SPACING_NM, low_open=True)
                   if "track_spacing_nm" in value else None)  # fmt: skip
    detection = value.get("detection", "exponential")
    if detection not in DETECTION_LAWS:
        raise InvalidJob(f"{key}.detection must be one of {', '.join(DETECTION_LAWS)}")
    track = _timed(points, start, end, speed, key)
    t0 = track[0][2]
    rel = tuple((lon, lat, (t - t0).total_seconds()) for lon, lat, t in track)
    return SearchDone({}, t0, track[-1][2], float("nan"), sweep, spacing, rel, detection)


def _linestring_points(value: Any) -> list[tuple[float, float, None]]:
    if (
        not isinstance(value, dict)
        or value.get("type") != "LineString"
        or not isinstance(value.get("coordinates"), list)
    ):
        raise InvalidJob("track must be a GeoJSON LineString")
    coords = value["coordinates"]
    if not 2 <= len(coords) <= MAX_TRACK_POINTS:
        raise InvalidJob(f"track must have 2 to {MAX_TRACK_POINTS} positions")
    out = []
    for c in coords:
        ok = (
            isinstance(c, list)
            and len(c) in (2, 3)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in c)
        )
        if not ok or not (-180 <= c[0] <= 180 and -90 <= c[1] <= 90):
            raise InvalidJob(f"track has an invalid position {str(c)[:40]}: expected [longitude, latitude]")
        out.append((float(c[0]), float(c[1]), None))
    return out


def _gpx_points(text: Any) -> list[tuple[float, float, datetime | None]]:
    """Track points (then route points) of a GPX document, with their times when every point has one."""
    import gpxpy
    import gpxpy.gpx

    if not isinstance(text, str) or not 0 < len(text) <= MAX_GPX_CHARS:
        raise InvalidJob(f"gpx must be the text of a GPX file (at most {MAX_GPX_CHARS} characters)")
    try:
        gpx = gpxpy.parse(text)
    except (gpxpy.gpx.GPXException, ValueError) as e:
        raise InvalidJob(
            f"gpx is not valid GPX: {str(e).splitlines()[0][:120] if str(e) else type(e).__name__}"
        ) from None
    pts = [p for t in gpx.tracks for seg in t.segments for p in seg.points] or [p for r in gpx.routes for p in r.points]
    if not 2 <= len(pts) <= MAX_TRACK_POINTS:
        raise InvalidJob(f"gpx must hold 2 to {MAX_TRACK_POINTS} track points")
    timed = all(p.time is not None for p in pts)
    return [(float(p.longitude), float(p.latitude), _utc(p.time) if timed else None) for p in pts]


def _utc(t: datetime) -> datetime:
    from datetime import UTC

    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _timed(points, start, end, speed, key) -> list[tuple[float, float, datetime]]:
    """Times at every point: the GPX's own, else start_time + distance / speed_kn, else spread start..end."""
    from driftline.search.geo import LocalPlane

    if points[0][2] is not None:
        if any(b[2] < a[2] for a, b in zip(points, points[1:])):
            raise InvalidJob(f"{key}.gpx point times must not go backwards")
        if points[-1][2] <= points[0][2]:
            raise InvalidJob(f"{key}.gpx point times must span some time")
        return list(points)
    if start is None or (speed is None) == (end is None):
        raise InvalidJob(f"{key} needs start_time and either speed_kn or end_time (or a GPX with point times)")
    plane = LocalPlane.at(points[0][0], points[0][1])
    xy = [plane.to_xy(lon, lat) for lon, lat, _ in points]
    dist = [0.0]
    for a, b in zip(xy, xy[1:]):
        dist.append(dist[-1] + float(((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5))
    if dist[-1] <= 0:
        raise InvalidJob(f"{key}.track has no length")
    hours = dist[-1] / speed if speed else (end - start).total_seconds() / 3600
    if hours <= 0:
        raise InvalidJob(f"{key}.end_time must be after {key}.start_time")
    return [(lon, lat, start + timedelta(hours=hours * d / dist[-1])) for (lon, lat, _), d in zip(points, dist)]


def parse_water_temperature(p: dict) -> float | None:

    return number(p, "water_temperature_c", None, -2.5, 40) if "water_temperature_c" in p else None
