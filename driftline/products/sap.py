"""sap.txt: the Search Action Message (IAMSAR Manual Vol. II, 2022, section 5 and appendix: SAP message format).

Parts in IAMSAR order: A Situation, B Search areas, C Execution, D Co-ordination, E Communications, F Reports.
Plain ASCII, no line over 69 characters (telex, radio, e-mail), times as UTC day-time groups (marine.dtg).
What the worker cannot know comes from `params.tasking`; when missing it is the marked blank BLANK.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import shapely
from shapely.geometry import shape

from driftline.products.marine import LINE_CHARS, ascii_text, ddm, dtg, wrap
from driftline.products.mission_view import MissionView, Position, UnitTask

BLANK = "[NOT GIVEN]"
PARTS = ("A. SITUATION", "B. SEARCH AREAS", "C. EXECUTION", "D. CO-ORDINATION", "E. COMMUNICATIONS", "F. REPORTS")
NM_PER_DEG = 60.0
DEFAULT_OSC_REPORTS = (
    "OSC TO SMC: ON ARRIVAL ON SCENE, THEN HOURLY: WEATHER AND SEA STATE ON SCENE, PROGRESS, AREAS SEARCHED "
    "AND COVERAGE ACHIEVED; ANY SIGHTING OR DEBRIS AT ONCE."
)
DEFAULT_AGENCY_REPORTS = (
    "PARENT AGENCIES TO SMC AT END OF DAILY OPERATIONS: SORTIES, HOURS ON SCENE, AREAS SEARCHED, "
    "COVERAGE FACTOR ACHIEVED."
)


def _given(view: MissionView, key: str) -> str:
    value = view.tasking.get(key)
    return ascii_text(value).upper() if value else BLANK


def _item(lines: list[str], n: int | str, text: str, indent: int = 3) -> None:
    first = f"{' ' * (indent - 3)}{n}. " if isinstance(n, int) else f"{' ' * (indent - 3)}{n} "
    lines.extend(wrap(text.upper(), " " * (len(first) + 1), first))


def _pct(x: float | None) -> str:
    return f"{x * 100:.0f} PCT" if x is not None else BLANK


def _header(view: MissionView, issued: datetime) -> list[str]:
    lines = ["SEARCH ACTION MESSAGE"]
    lines += wrap(f"FM {_given(view, 'originator')}", "   ")
    lines += wrap(f"TO {_given(view, 'action') if view.tasking.get('action') else _to_units(view)}", "   ")
    if view.tasking.get("info"):
        lines += wrap(f"INFO {_given(view, 'info')}", "     ")
    lines += ["BT", f"SAR MISSION {view.mission_id.upper()}", f"SEARCH ACTION PLAN ISSUED {dtg(issued)}"]
    return lines


def _to_units(view: MissionView) -> str:
    names = [ascii_text(u.call_sign or u.name).upper() for u in view.units]
    return ", ".join(names) if names else BLANK


def _situation(view: MissionView) -> list[str]:
    lines = [PARTS[0]]
    _item(lines, 1, f"OBJECT: {'; '.join(view.objects)}")
    pob = view.persons
    _item(lines, 2, f"PERSONS ON BOARD: {pob if pob is not None else BLANK}; SURVIVAL EQUIPMENT: "
                    f"{_given(view, 'survival_equipment')}")  # fmt: skip
    lkp = "FOUND POSITION" if view.backward else "LAST KNOWN POSITION"
    _item(lines, 3, f"{lkp} {ddm(*view.lkp)} AT {dtg(view.start)}")
    what = "ORIGIN ESTIMATED BY BACKWARD" if view.backward else "DRIFT PREDICTED BY"
    _item(lines, 4, f"ASSUMED: {what} OPENDRIFT {view.model} WITH {'; '.join(view.forcing) or 'NO FORCING'}")
    _item(lines, 5, f"SURVIVAL: {_survival(view)}")
    _item(lines, 6, f"WEATHER: {_given(view, 'weather')}")
    if view.tasking.get("situation"):
        _item(lines, 7, _given(view, "situation"))
    return lines


def _survival(view: MissionView) -> str:
    s = view.survival
    if not s.get("applies"):
        return "NOT APPLICABLE (NO PERSON IN WATER)"
    if not s.get("expected_survival_hours"):
        return f"NOT ESTIMATED ({ascii_text(s.get('reason', 'no water temperature'))})"
    until = datetime.fromisoformat(s["expected_survival_until"].replace("Z", "+00:00"))
    bound = "AT LEAST " if s.get("lower_bound") else ""
    return (
        f"EXPECTED {bound}{s['expected_survival_hours']:.1f} H IN {s['water_temperature_c']:g} C WATER, "
        f"UNTIL {dtg(until)} ({s.get('source', 'Hayward et al. 1975').upper()}, HYPOTHERMIA ONLY)"
    )


def _corner_lines(corners: list[Position]) -> list[str]:
    return [f"     {i}. {ddm(*c)}" for i, c in enumerate(corners, 1)]


def polygon_nm2(corners: list[Position]) -> float:
    """Area of a small lat/lon polygon in nm² (local equirectangular plane at its mean latitude)."""
    if len(corners) < 3:
        return 0.0
    lat0 = sum(c[0] for c in corners) / len(corners)
    lon0 = corners[0][1]
    xy = [(((c[1] - lon0 + 180) % 360 - 180) * math.cos(math.radians(lat0)) * NM_PER_DEG, c[0] * NM_PER_DEG)
          for c in corners]  # fmt: skip
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(xy, xy[1:] + xy[:1]))) / 2


def enclosing_rectangle(geometry: dict, ref_lon: float) -> list[Position]:
    """Corners (lat, lon) of the smallest rotated rectangle around a GeoJSON region (antimeridian-safe)."""
    geom = shapely.transform(shape(geometry), lambda c: _unwrapped(c, ref_lon))
    rect = shapely.minimum_rotated_rectangle(geom)
    coords = list(rect.exterior.coords)[:-1] if rect.geom_type == "Polygon" else list(rect.coords)
    return [(round(y, 6), round((x + 180) % 360 - 180, 6)) for x, y in coords]


def _unwrapped(c, ref: float):
    c = c.copy()
    c[:, 0] = ref + (c[:, 0] - ref + 180.0) % 360.0 - 180.0
    return c


def unit_area_lines(u: UnitTask) -> list[str]:
    size = u.area_nm2 if u.area_nm2 is not None else polygon_nm2(u.corners)
    lines = wrap(f"AREA {u.area_name} ({ascii_text(u.name).upper()}) {size:.1f} NM2", "     ", "  ")
    lines.append("   CORNER POINTS:")
    lines += _corner_lines(u.corners)
    datum = f"{ddm(*u.datum)} AT {dtg(u.datum_time)}" if u.datum and u.datum_time else BLANK
    lines += wrap(f"DATUM {datum}", "         ", "   ")
    return lines


def _areas_without_plan(view: MissionView) -> list[str]:
    noun = "ORIGIN" if view.backward else "SEARCH"
    lines = wrap(f"NO UNITS PLANNED. 90 PCT {noun} AREAS OF THE FLOATING PROBABILITY, EACH ENCLOSED BY A "
                 "RECTANGLE:", "   ", "   ")  # fmt: skip
    for i, a in enumerate(view.areas, 1):
        if a.datum is None or "90" not in a.regions:
            lines.append(f"  AREA P{i} AT {dtg(a.time)}: NOTHING FLOATING")
            continue
        corners = enclosing_rectangle(a.regions["90"], a.datum[1])
        sea = a.area_nm2.get("90")
        lines.append(f"  AREA P{i} AT {dtg(a.time)} {polygon_nm2(corners):.1f} NM2")
        lines += wrap(f"(90 PCT REGION {sea:.1f} NM2 OF SEA, {a.floating * 100:.0f} PCT FLOATING)", "   ", "   ")
        lines.append("   CORNER POINTS:")
        lines += _corner_lines(corners)
        lines.append(f"   DATUM {ddm(*a.datum)}")
        for j, p in enumerate(a.parts, 1):
            lines.append(f"   DATUM OF PART {j} {ddm(*p)}")
    return lines


def _execution(view: MissionView) -> list[str]:
    lines = [PARTS[2]]
    if not view.units:
        return lines + wrap(f"NO SEARCH UNITS PLANNED BY THE WORKER. UNITS AND PATTERNS: {BLANK}", "   ", "   ")
    for u in view.units:
        lines += _unit_lines(u)
    if view.plan_pos is not None:
        lines.append(f"  CUMULATIVE PROBABILITY OF SUCCESS OF THE PLAN {_pct(view.plan_pos)}")
    return lines


def _unit_lines(u: UnitTask) -> list[str]:
    kind = (u.kind or "").upper() or BLANK
    call = f" CALL SIGN {ascii_text(u.call_sign).upper()}" if u.call_sign else ""
    lines = wrap(f"AREA {u.area_name} {u.label} {ascii_text(u.name).upper()}{call} TYPE {kind}", "     ", "  ")
    if u.parent_agency:
        lines += wrap(f"PARENT AGENCY {ascii_text(u.parent_agency).upper()}", "     ", "   ")
    for k, pat in enumerate(u.patterns or [None], 1):
        lines += _pattern_lines(u, pat, k if len(u.patterns) > 1 else None)
    speed = f"{u.speed_kn:g} KN" if u.speed_kn is not None else BLANK
    if u.is_aircraft:
        alt = f"{u.altitude_ft:.0f} FT" if u.altitude_ft else BLANK
    else:
        alt = BLANK if u.kind is None else "NOT APPLICABLE"
    lines.append(f"   SEARCH SPEED {speed}, ALTITUDE {alt}")
    on, off = (dtg(t) if t else BLANK for t in (u.commence, u.end))
    lines.append(f"   ON SCENE COMMENCE {on}")
    lines.append(f"   ON SCENE END      {off}")
    lines.append(f"   POC {_pct(u.poc)}, POD {_pct(u.pod)}, POS {_pct(u.pos)}")
    if u.beyond_survival:
        lines += wrap("NOTE: SEARCH ENDS AFTER THE EXPECTED SURVIVAL TIME", "     ", "   ")
    return lines


def _pattern_lines(u: UnitTask, pat, k: int | None) -> list[str]:
    tag = f" {k}" if k else ""
    if pat is None:
        return [f"   PATTERN{tag} {BLANK}"]
    creep = f"{pat.creep_deg:03.0f}T" if pat.creep_deg is not None else BLANK
    csp = ddm(*pat.csp) if pat.csp else BLANK
    spacing = pat.track_spacing_nm
    lines = wrap(f"PATTERN{tag} {ascii_text(pat.name).upper()}, {max(len(pat.waypoints) // 2, 1)} LEGS", "     ",
                 "   ")  # fmt: skip
    lines.append(f"   CREEP {creep}")
    lines.append(f"   COMMENCE SEARCH POINT {csp}")
    cov = f"{u.coverage:.2f}" if u.coverage is not None else BLANK
    lines.append(f"   TRACK SPACING {f'{spacing:.2f} NM' if spacing else BLANK}, COVERAGE {cov}")
    return lines


def _coordination(view: MissionView) -> list[str]:
    lines = [PARTS[3]]
    _item(lines, 1, f"SAR MISSION CO-ORDINATOR (SMC): {_given(view, 'smc')}")
    _item(lines, 2, f"ON-SCENE CO-ORDINATOR (OSC): {_given(view, 'osc')}")
    _item(lines, 3, f"DATUM MARKER BUOYS: {_given(view, 'datum_marker_buoys')}")
    _item(lines, 4, "ON-SCENE TIMES, TRACK SPACING AND COVERAGE DESIRED: AS IN PART C.")
    _item(lines, 5, f"AIRSPACE RESERVATION AND AIRCRAFT SAFETY: {_given(view, 'airspace')}")
    _item(lines, 6, "UNITS REPORT TO THE OSC ON ARRIVAL AND ON LEAVING THEIR AREA; NO UNIT LEAVES ITS AREA "
                    "WITHOUT TELLING THE OSC.")  # fmt: skip
    return lines


def _communications(view: MissionView) -> list[str]:
    lines = [PARTS[4]]
    _item(lines, 1, f"CONTROL CHANNEL: {_given(view, 'control_channel')}")
    _item(lines, 2, f"ON-SCENE CHANNEL: {_given(view, 'on_scene_channel')}")
    _item(lines, 3, f"MONITOR: {_given(view, 'monitor_channel')}")
    _item(lines, 4, f"PRESS: {_given(view, 'press_channel')}")
    return lines


def _reports(view: MissionView) -> list[str]:
    lines = [PARTS[5]]
    _item(lines, 1, _given(view, "reports") if view.tasking.get("reports") else DEFAULT_OSC_REPORTS)
    _item(lines, 2, DEFAULT_AGENCY_REPORTS)
    if view.tasking.get("remarks"):
        _item(lines, 3, f"REMARKS: {_given(view, 'remarks')}")
    return lines


def sap_text(view: MissionView, issued: datetime | None = None) -> str:
    """The whole message; every line ASCII and at most LINE_CHARS long."""
    issued = issued or datetime.now(UTC)
    areas = [PARTS[1]]
    for u in view.units:
        areas += unit_area_lines(u)
    if not view.units:
        areas += _areas_without_plan(view)
    lines = _header(view, issued) + _situation(view) + areas + _execution(view)
    lines += _coordination(view) + _communications(view) + _reports(view) + ["BT", "NNNN"]
    out = [line.rstrip() for line in lines]
    too_long = [line for line in out if len(line) > LINE_CHARS or not line.isascii()]
    if too_long:  # a formatting defect, never user data (wrap() folds that): fail loudly in tests
        raise ValueError(f"SAP line not ASCII or over {LINE_CHARS} characters: {too_long[0]!r}")
    return "\n".join(out) + "\n"


def write_sap(path: Path, view: MissionView, issued: datetime | None = None) -> Path:
    path.write_text(sap_text(view, issued), encoding="ascii")
    return path
