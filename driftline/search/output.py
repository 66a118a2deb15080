"""search_plan.geojson (RFC 7946) and search_plan.kml: rectangles, parallel-sweep patterns, searches done."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from driftline.geodesy import cut_antimeridian
from driftline.products.kml import NS, kml_geometry, sub_element
from driftline.search.contract import SearchDone
from driftline.search.geo import position_dm, true_bearing_deg
from driftline.search.pattern import NAMES
from driftline.search.plan import SearchPlan, UnitPlan
from driftline.search.survival import beyond_survival

# KML aabbggrr per unit (cycled): blue, magenta, dark green, purple, teal; searches done grey.
UNIT_COLOURS = ["ffd77800", "ffb400b4", "ff008c00", "ff8b3d48", "ff8c8c00"]
DONE_COLOUR = "ff808080"
ROUNDED = {"poc", "pod", "pos", "pod_nominal", "pos_along_track", "pos_added", "cumulative_pos", "weight_left",
           "coverage", "searches_done_cumulative_pos"}  # fmt: skip


def _point(lon: float, lat: float) -> dict:
    lon = (float(lon) + 180.0) % 360.0 - 180.0
    return {"lon": round(lon, 6), "lat": round(float(lat), 6), "position_dm": position_dm(lon, lat)}


def _iso(t) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _heading(dx: float, dy: float) -> float:
    return round((90.0 - math.degrees(math.atan2(dy, dx))) % 360.0, 1)


def pattern_record(up: UnitPlan, plan: SearchPlan) -> dict:
    """The pattern as flown: CSP, ordered waypoints with times, legs (length, heading), spacing, creep, drift."""
    u, pat = up.unit, up.pattern
    lon, lat = plan.plane.to_lonlat(pat.waypoints[:, 0], pat.waypoints[:, 1])
    times = [u.commence_time + timedelta(seconds=float(s)) for s in pat.times_s]
    points = [{**_point(x, y), "time": _iso(t)} for x, y, t in zip(lon, lat, times)]
    d = np.diff(pat.waypoints, axis=0)
    legs = [
        {"from": k, "to": k + 1, "length_nm": float(np.hypot(*d[k])), "heading_deg": _heading(*d[k]),
         "start_time": points[k]["time"], "end_time": points[k + 1]["time"]}
        for k in range(len(d))
    ]  # fmt: skip
    drift = math.hypot(*pat.drift_kn)
    return {
        "code": pat.kind,
        "name": NAMES[pat.kind],
        "commence_search_point": points[0],
        "waypoints": points,
        "legs": legs,
        "track_spacing_nm": float(pat.spacing_nm),
        "creep_deg": pat.creep_deg,
        "track_length_nm": pat.track_length_nm,
        "search_hours": pat.hours,
        "drift_compensation": {"speed_kn": drift, "to_deg": _heading(*pat.drift_kn) if drift > 0 else None},
    }


def unit_record(up: UnitPlan, plan: SearchPlan, survival: dict | None) -> dict:
    """Every number of one unit's assignment (GeoJSON properties and summary.json), full precision."""
    u, r, pat = up.unit, up.rect, up.pattern
    wlon, wlat = plan.plane.to_lonlat(pat.waypoints[:, 0], pat.waypoints[:, 1])
    coverage = up.coverage if math.isfinite(up.coverage) else None
    record = {
        "unit": u.name,
        "commence_time": _iso(u.commence_time),
        "end_time": _iso(u.end_time),
        "mid_time": _iso(u.mid_time),
        "search_end_time": _iso(u.search_end_time),
        "speed_kn": u.speed_kn,
        "sweep_width_nm": u.sweep_width_nm,
        "sweep_width_source": u.sweep_width_source,
        "endurance_hours": u.endurance_hours,
        "search_endurance_factor": u.search_endurance_factor,
        "search_hours": u.search_hours,
        "detection": u.detection,
        "effort_nm2": u.effort_nm2,
        "area_nm2": float(shapely.Polygon(np.column_stack(plan.plane.to_xy_unwrapped(*up.corners_lonlat.T))).area),
        "length_nm": r.length_nm,
        "width_nm": r.width_nm,
        "orientation_deg": true_bearing_deg(r.theta),
        "track_spacing_nm": float(pat.spacing_nm),
        "coverage": coverage,
        "pod": up.pod,
        "poc": up.poc,
        "pos": up.pos,
        "pod_nominal": up.pod_nominal if math.isfinite(up.pod_nominal) else None,
        "pos_along_track": up.pos_along_track,
        "pos_added": up.pos_added,
        "legs": pat.legs,
        "track_length_nm": pat.track_length_nm,
        "corners": [_point(lon, lat) for lon, lat in up.corners_lonlat],
        "commence_search_point": _point(wlon[0], wlat[0]),
        "waypoints_dm": [position_dm(*_lonlat(lon, lat)) for lon, lat in zip(wlon, wlat)],
        "pattern": pattern_record(up, plan),
    }
    if survival and survival.get("expected_survival_until"):
        record["beyond_expected_survival"] = beyond_survival(survival, u.end_time)
    return record


def _lonlat(lon: float, lat: float) -> tuple[float, float]:
    return (float(lon) + 180.0) % 360.0 - 180.0, float(lat)


METHOD = (
    "all units jointly: IAMSAR pooled-effort split and sequential replanning, each refined by coordinate descent "
    "on the weight the other units leave; the plan with the highest POS counted along the tracks is kept. "
    "POD along each unit's drift-compensated track against the moving particles with the unit's lateral range "
    "curve; detections combine per particle as 1 - prod(1 - POD_i)"
)


def plan_summary(plan: SearchPlan, survival: dict | None) -> dict:
    """summary.json `search_plan` (full precision)."""
    return {
        "cumulative_pos": plan.cumulative_pos,
        "method": METHOD,
        "chosen": plan.chosen,
        "candidates_pos": plan.candidates,
        "seconds": round(plan.seconds, 3),
        "units": [unit_record(up, plan, survival) for up in plan.units],
    }


def _unwrapped(plan: SearchPlan, xy: np.ndarray) -> np.ndarray:
    lon, lat = plan.plane.to_lonlat_unwrapped(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _geometry(geom: shapely.Geometry) -> dict:
    """RFC 7946 geometry: cut at the antimeridian (§3.1.9), 6 decimals, anticlockwise exteriors."""
    geom = cut_antimeridian(geom)
    geom = shapely.transform(geom, lambda c: np.round(c, 6))
    if isinstance(geom, (shapely.Polygon, shapely.MultiPolygon)):
        geom = shapely.orient_polygons(geom, exterior_cw=False)
    return json.loads(shapely.to_geojson(geom))


def feature_collection(
    mission_id: str, plan: SearchPlan | None, done: tuple[SearchDone, ...], done_report: dict | None,
    survival: dict | None,
) -> dict:  # fmt: skip
    """The plan (area + pattern per unit) and the searches done, as one RFC 7946 FeatureCollection."""
    feats = []
    for i, d in enumerate(done):
        row = next(r for r in done_report["searches"] if r["index"] == i)
        extra = {k: v for k, v in (("sweep_width_nm", d.sweep_width_nm), ("track_spacing_nm", d.track_spacing_nm)) if v}
        props = {"start_time": _iso(d.start_time), "end_time": _iso(d.end_time), **row, **extra}
        feats.append({"type": "Feature", "geometry": _geometry(_done_geometry(d)), "properties": {
            "kind": "search_done", "name": f"Search done {i + 1}", **props}})  # fmt: skip
    for up in plan.units if plan else []:
        rec = unit_record(up, plan, survival)
        feats.append(feature(up, _geometry(shapely.Polygon(up.corners_lonlat)), "search_rectangle", up.unit.name, rec))
        line = {k: rec[k] for k in ("unit", "commence_time", "end_time", "legs", "track_spacing_nm", "track_length_nm")}
        props = {
            **line, "pattern": NAMES[up.pattern.kind], "pattern_code": up.pattern.kind,
            "commence_search_point": rec["commence_search_point"], "waypoints_dm": rec["waypoints_dm"],
            "waypoints": rec["pattern"]["waypoints"], "legs_nm": [leg["length_nm"] for leg in rec["pattern"]["legs"]],
            "creep_deg": up.pattern.creep_deg,
        }  # fmt: skip
        geom = _geometry(shapely.LineString(_unwrapped(plan, up.pattern.waypoints)))
        feats.append(feature(up, geom, "search_pattern", f"{up.unit.name} {NAMES[up.pattern.kind]}", props))
    props = {"mission_id": mission_id}
    if plan:
        props["cumulative_pos"] = plan.cumulative_pos
    if done_report:
        props["searches_done_cumulative_pos"] = done_report["cumulative_pos"]
        props["weight_left"] = done_report["weight_left"]
    return {"type": "FeatureCollection", "properties": props, "features": feats}


def feature(up: UnitPlan, geometry: dict, kind: str, name: str, props: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": {"kind": kind, "name": name, **props}}


def _done_geometry(d: SearchDone) -> shapely.Geometry:
    if d.track is not None:
        return shapely.LineString(d.track_lonlat_unwrapped())
    return shape(d.area)


def write_geojson(path: Path, fc: dict) -> Path:
    path.write_text(json.dumps(fc, separators=(",", ":"), ensure_ascii=False))
    return path


def write_kml(path: Path, fc: dict) -> Path:
    """Folders for the plan and the searches done; numbers in ExtendedData, search times as TimeSpan."""
    kml = ET.Element("kml", xmlns=NS)
    doc = sub_element(kml, "Document")
    sub_element(doc, "name", f"Search plan - mission {fc['properties']['mission_id']}")
    _styles(doc)
    plan_folder, done_folder = None, None
    units: list[str] = []
    for feat in fc["features"]:
        props = feat["properties"]
        if props["kind"] == "search_done":
            done_folder = done_folder if done_folder is not None else _folder(doc, "Searches done (POD applied)")
            _placemark(done_folder, feat, "done", props["start_time"], props["end_time"])
            continue
        plan_folder = plan_folder if plan_folder is not None else _folder(doc, _plan_title(fc))
        if props["unit"] not in units:
            units.append(props["unit"])
        style = f"unit{units.index(props['unit']) % len(UNIT_COLOURS)}"
        _placemark(plan_folder, feat, style, props["commence_time"], props["end_time"])
    ET.ElementTree(kml).write(path, encoding="UTF-8", xml_declaration=True)
    return path


def _plan_title(fc: dict) -> str:
    pos = fc["properties"].get("cumulative_pos")
    return "Search plan" + (f" (cumulative POS {pos:.2f})" if pos is not None else "")


def _folder(doc: ET.Element, name: str) -> ET.Element:
    folder = sub_element(doc, "Folder")
    sub_element(folder, "name", name)
    return folder


def _styles(doc: ET.Element) -> None:
    for name, colour in [*((f"unit{i}", c) for i, c in enumerate(UNIT_COLOURS)), ("done", DONE_COLOUR)]:
        style = sub_element(doc, "Style", id=name)
        line = sub_element(style, "LineStyle")
        sub_element(line, "color", colour)
        sub_element(line, "width", "2")
        sub_element(sub_element(style, "PolyStyle"), "color", "22" + colour[2:])


def _placemark(parent: ET.Element, feat: dict, style: str, begin: str, end: str) -> None:
    props = feat["properties"]
    mark = sub_element(parent, "Placemark")
    sub_element(mark, "name", props["name"])
    sub_element(mark, "description", _description(props))
    span = sub_element(mark, "TimeSpan")
    sub_element(span, "begin", begin)
    sub_element(span, "end", end)
    sub_element(mark, "styleUrl", f"#{style}")
    data = sub_element(mark, "ExtendedData")
    for key, value in props.items():
        if isinstance(value, float) and key in ROUNDED:
            value = f"{value:.2f}"
        if isinstance(value, (int, float, str)):
            sub_element(sub_element(data, "Data", name=key), "value", str(value))
    if "corners" in props:
        corners = "; ".join(c["position_dm"] for c in props["corners"])
        sub_element(sub_element(data, "Data", name="corners_dm"), "value", corners)
    kml_geometry(mark, feat["geometry"])


def _description(props: dict) -> str:
    """Two decimals for the probabilities, as a coordinator reads them (full precision stays in ExtendedData)."""
    if props["kind"] == "search_rectangle":
        return (
            f"{props['unit']}: {props['pattern']['name']}, {props['length_nm']:.1f} x {props['width_nm']:.1f} nm, "
            f"axis {props['orientation_deg']:g} T, S {props['track_spacing_nm']:.2f} nm, "
            f"POC {props['poc']:.2f}, POD {props['pod']:.2f}, POS {props['pos']:.2f} "
            f"({props['detection']} detection along the track), {props['commence_time']} to {props['search_end_time']}"
        )
    if props["kind"] == "search_pattern":
        csp = props["commence_search_point"]["position_dm"]
        return f"{props['pattern']} from CSP {csp}: {props['legs']} legs, S {props['track_spacing_nm']:.2f} nm, " + (
            f"track {props['track_length_nm']:.1f} nm"
        )
    return f"Searched {props['start_time']} to {props['end_time']} without success: POD {props['pod']:.2f} applied"
