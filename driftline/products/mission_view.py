"""The one adapter from a finished mission (summary.json and the GeoJSON products) to what the tasking products
need: units with their areas, patterns and times, search-area times with datums, survival, warnings.

Every tasking product (SAP, report, GPX, CSV) reads the mission only through `mission_view`, and the adapter
reads only what it needs with `.get` and defaults, so a richer plan (more patterns per unit, commence search
points, unit types and altitudes) flows in without changes elsewhere, and added fields never break it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from driftline.products.marine import parse_unicode_dm

Position = tuple[float, float]  # (lat, lon), lon within ±180


@dataclass
class PatternTask:
    """One search pattern of a unit: name, waypoints from the commence search point, creep and spacing."""

    name: str
    waypoints: list[Position]
    track_spacing_nm: float | None = None
    creep_deg: float | None = None  # true direction the legs advance in (parallel sweep, creeping line)
    track_length_nm: float | None = None

    @property
    def csp(self) -> Position | None:
        return self.waypoints[0] if self.waypoints else None


@dataclass
class UnitTask:
    index: int  # 1-based order in the plan
    name: str
    corners: list[Position]
    patterns: list[PatternTask]
    area_nm2: float | None = None
    commence: datetime | None = None
    end: datetime | None = None
    mid: datetime | None = None
    speed_kn: float | None = None
    sweep_width_nm: float | None = None
    coverage: float | None = None
    poc: float | None = None
    pod: float | None = None
    pos: float | None = None
    kind: str | None = None  # vessel, aircraft, helicopter (params.tasking.units or the plan)
    altitude_ft: float | None = None
    call_sign: str | None = None
    parent_agency: str | None = None
    datum: Position | None = None  # the plan's datum of the unit, else the search-area datum nearest its mid time
    datum_time: datetime | None = None
    beyond_survival: bool = False

    @property
    def label(self) -> str:
        return f"UNIT-{self.index:02d}"

    @property
    def area_name(self) -> str:
        """IAMSAR area designation: A, B, C... in plan order (AA, AB... beyond 26)."""
        i = self.index - 1
        return chr(65 + i) if i < 26 else chr(65 + i // 26 - 1) + chr(65 + i % 26)

    @property
    def is_aircraft(self) -> bool:
        return (self.kind or "").lower() in ("aircraft", "helicopter", "fixed-wing", "rotary-wing")

    @property
    def pattern(self) -> PatternTask | None:
        return self.patterns[0] if self.patterns else None

    @property
    def route(self) -> list[Position]:
        """Every pattern's waypoints in order (commence search point first)."""
        return [p for pat in self.patterns for p in pat.waypoints]


@dataclass
class AreaTime:
    """The probability areas of one search-area time (search_area.geojson)."""

    time: datetime
    datum: Position | None
    parts: list[Position]
    area_nm2: dict[str, float]  # "50", "90", "95"
    floating: float
    regions: dict[str, dict] = field(default_factory=dict)  # level "90" -> GeoJSON geometry


@dataclass
class MissionView:
    mission_id: str
    title: str
    direction: str
    objects: list[str]
    lkp: Position
    start: datetime
    end: datetime | None
    units: list[UnitTask]
    areas: list[AreaTime]
    plan_pos: float | None
    survival: dict
    warnings: list[str]
    tasking: dict
    forcing: list[str]
    model: str
    software: dict
    seed: Any
    shoreline: list[dict]
    searches_done: dict | None
    searches_done_params: list[dict]
    persons: int | None = None

    @property
    def backward(self) -> bool:
        return self.direction == "backward"

    def area_near(self, when: datetime | None) -> AreaTime | None:
        """The search-area time nearest to `when` (the last one when None)."""
        if not self.areas:
            return None
        if when is None:
            return self.areas[-1]
        return min(self.areas, key=lambda a: abs((a.time - when).total_seconds()))


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _pos(value: Any) -> Position | None:
    """A position from {lat, lon}, [lon, lat] (GeoJSON order), or a `60°05.123'N 003°02.456'W` string."""
    pos = None
    if isinstance(value, dict) and _num(value.get("lat")) is not None and _num(value.get("lon")) is not None:
        pos = float(value["lat"]), float(value["lon"])
    elif isinstance(value, (list, tuple)) and len(value) >= 2 and all(_num(v) is not None for v in value[:2]):
        pos = float(value[1]), float(value[0])
    elif isinstance(value, str):
        try:
            pos = parse_unicode_dm(value)
        except (StopIteration, ValueError):
            return None
    if pos is None or abs(pos[0]) > 90 or abs(pos[1]) > 720:
        return None
    return pos[0], pos[1] if -180.0 <= pos[1] <= 180.0 else (pos[1] + 180.0) % 360.0 - 180.0


def _positions(values: Any) -> list[Position]:
    if not isinstance(values, (list, tuple)):
        return []
    return [p for p in (_pos(v) for v in values) if p is not None]


def _dict(value: Any) -> dict:
    """The value if it is a JSON object, else {} (summary.json may carry fields of other shapes)."""
    return value if isinstance(value, dict) else {}


def _records(value: Any) -> list[dict]:
    """The objects of a JSON array (nothing for anything else)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, (list, tuple)) else []


def _items(value: Any) -> list:
    """The elements of a JSON array (nothing for anything else)."""
    return list(value) if isinstance(value, (list, tuple)) else []


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != "" else None


def _bearing(a: Position, b: Position) -> float:
    """Initial true bearing a -> b (degrees, rhumb-line approximation; the legs are a few nm)."""
    dlat = b[0] - a[0]
    dlon = ((b[1] - a[1] + 180) % 360 - 180) * math.cos(math.radians(0.5 * (a[0] + b[0])))
    return round(math.degrees(math.atan2(dlon, dlat)) % 360.0, 1)


def creep_from_waypoints(wps: list[Position]) -> float | None:
    """Creep direction of a parallel sweep: the bearing of its first cross leg (waypoint 2 -> 3)."""
    return _bearing(wps[1], wps[2]) if len(wps) >= 3 else None


def _pattern_features(fc: dict | None) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for feat in (fc or {}).get("features", []):
        props = feat.get("properties") or {}
        if props.get("kind") == "search_pattern" and (feat.get("geometry") or {}).get("type") == "LineString":
            out.setdefault(str(props.get("unit")), []).append(feat)
    return out


def _patterns(rec: dict, feats: list[dict]) -> list[PatternTask]:
    """The unit's patterns: `patterns` in the plan if any, else its pattern features, else `waypoints_dm`."""
    sources: list[tuple[dict, list[Position]]] = []
    for p in rec.get("patterns") if isinstance(rec.get("patterns"), list) else []:
        if isinstance(p, dict):
            sources.append((p, _positions(p.get("waypoints") or p.get("waypoints_dm"))))
    if not sources:
        sources = [(f.get("properties") or {}, _positions(f["geometry"]["coordinates"])) for f in feats]
    if not sources:
        sources = [(rec, _positions(rec.get("waypoints") or rec.get("waypoints_dm")))]
    out = []
    for props, wps in sources:
        csp = _pos(props.get("commence_search_point"))
        if csp and wps and max(abs(csp[0] - wps[0][0]), abs(csp[1] - wps[0][1])) > 1e-5:
            wps = [csp, *wps]
        creep = _num(props.get("creep_deg", props.get("creep_direction_deg")))
        out.append(
            PatternTask(
                name=str(props.get("pattern") or rec.get("pattern") or "parallel sweep (PS)"),
                waypoints=wps,
                track_spacing_nm=_num(props.get("track_spacing_nm", rec.get("track_spacing_nm"))),
                creep_deg=creep if creep is not None else creep_from_waypoints(wps),
                track_length_nm=_num(props.get("track_length_nm", rec.get("track_length_nm"))),
            )
        )
    return out


def _unit(i: int, rec: dict, feats: list[dict], extra: dict) -> UnitTask:
    name = str(rec.get("unit") or rec.get("name") or f"Unit {i}")
    area = rec.get("area") if isinstance(rec.get("area"), dict) else {}
    corners = _positions(rec.get("corners") or area.get("corners"))
    known = extra.get(name) if isinstance(extra.get(name), dict) else {}
    return UnitTask(
        index=i,
        name=name,
        corners=corners,
        patterns=_patterns(rec, feats),
        area_nm2=_num(rec.get("area_nm2")),
        commence=parse_time(rec.get("commence_time")),
        end=parse_time(rec.get("end_time")),
        mid=parse_time(rec.get("mid_time")),
        speed_kn=_num(rec.get("speed_kn")),
        sweep_width_nm=_num(rec.get("sweep_width_nm")),
        coverage=_num(rec.get("coverage")),
        poc=_num(rec.get("poc")),
        pod=_num(rec.get("pod")),
        pos=_num(rec.get("pos")),
        kind=_text(known.get("type") or rec.get("type") or rec.get("unit_type")),
        altitude_ft=_num(known.get("altitude_ft", rec.get("altitude_ft"))),
        call_sign=_text(known.get("call_sign") or rec.get("call_sign")),
        parent_agency=_text(known.get("parent_agency") or rec.get("parent_agency")),
        beyond_survival=bool(rec.get("beyond_expected_survival")),
        datum=_pos(rec.get("datum")),
        datum_time=parse_time((rec.get("datum") or {}).get("time") if isinstance(rec.get("datum"), dict) else None),
    )


def _areas(summary: dict, area_fc: dict | None) -> list[AreaTime]:
    regions: dict[str, dict[str, dict]] = {}
    for feat in _records(_dict(area_fc).get("features")):
        props = _dict(feat.get("properties"))
        if props.get("kind") == "search_area" and _num(props.get("probability")) is not None:
            regions.setdefault(props.get("time"), {})[f"{round(props['probability'] * 100)}"] = feat.get("geometry")
    out = []
    for sa in _records(summary.get("search_areas")):
        t = parse_time(sa.get("time"))
        if t is None:
            continue
        parts = _positions(sa.get("parts"))
        floating = _num(_dict(sa.get("shares")).get("floating"))
        area_nm2 = {str(k): v for k, v in _dict(sa.get("area_nm2")).items() if _num(v) is not None}
        out.append(
            AreaTime(t, _pos(sa.get("centre")), parts, area_nm2, floating or 0.0, regions.get(sa.get("time"), {}))
        )
    return sorted(out, key=lambda a: a.time)


def _forcing(summary: dict) -> list[str]:
    rows = []
    members = _records(summary.get("forcing"))
    for member in members:
        prefix = f"{member.get('member')}: " if len(members) > 1 else ""
        for src in _records(member.get("sources")):
            rows.append(f"{prefix}{src.get('quantity', '?')}: {src.get('description', '')}")
    return rows


def mission_view(
    summary: dict, plan_fc: dict | None = None, area_fc: dict | None = None, shoreline_fc: dict | None = None
) -> MissionView:
    """The mission as the tasking products see it (summary.json plus the GeoJSON products, all optional keys)."""
    params = _dict(summary.get("params"))
    tasking = _dict(params.get("tasking"))
    plan = _dict(summary.get("search_plan"))
    model = _dict(summary.get("model"))
    feats = _pattern_features(plan_fc)
    units = [
        _unit(i, rec, feats.get(str(rec.get("unit") or rec.get("name")), []), _dict(tasking.get("units")))
        for i, rec in enumerate(_records(plan.get("units")), 1)
    ]
    view = MissionView(
        mission_id=str(summary.get("mission_id", "")),
        title=str(summary.get("title") or "Drift prediction"),
        direction=str(summary.get("direction", "forward")),
        objects=[f"{o.get('key')}: {o.get('description')}" for o in _records(summary.get("object_types"))]
        or [str(model.get("name", "object"))],
        lkp=(_num(params.get("latitude")) or 0.0, _num(params.get("longitude")) or 0.0),
        start=parse_time(params.get("start_time")) or parse_time(summary.get("time_start")) or datetime.now(UTC),
        end=parse_time(summary.get("time_end")),
        units=units,
        areas=_areas(summary, area_fc),
        plan_pos=_num(plan.get("cumulative_pos")),
        survival=_dict(summary.get("survival")),
        warnings=[str(w) for w in _items(summary.get("warnings"))],
        tasking=tasking,
        forcing=_forcing(summary),
        model=str(model.get("opendrift_class") or "OpenDrift"),
        software=_dict(summary.get("software")),
        seed=summary.get("random_seed"),
        shoreline=[_dict(f.get("properties")) for f in _records(_dict(shoreline_fc).get("features"))]
        or _records(summary.get("shoreline")),
        searches_done=_dict(summary.get("searches_done")) or None,
        searches_done_params=_records(params.get("searches_done")),
        persons=tasking.get("persons_on_board"),
    )
    for u in view.units:
        near = view.area_near(u.mid or u.commence)
        if u.datum is None and near is not None:
            u.datum, u.datum_time = near.datum, near.time
        u.datum_time = u.datum_time or u.mid
    return view
