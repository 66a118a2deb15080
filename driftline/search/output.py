"""search_plan.geojson (RFC 7946) and search_plan.kml: rectangles, parallel-sweep patterns, searches done."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from driftline.products.geojson import feature
from driftline.products.kml import NS, _geometry, _sub
from driftline.search.contract import SearchDone
from driftline.search.geo import position_dm, true_bearing_deg
from driftline.search.plan import SearchPlan, UnitPlan
from driftline.search.survival import beyond_survival

# KML aabbggrr per unit (cycled): blue, magenta, dark green, purple, teal; searches done grey.
UNIT_COLOURS = ["ffd77800", "ffb400b4", "ff008c00", "ff8b3d48", "ff8c8c00"]
DONE_COLOUR = "ff808080"


def _point(lon: float, lat: float) -> dict:
    return {"lon": round(float(lon), 6), "lat": round(float(lat), 6), "position_dm": position_dm(lon, lat)}


def _iso(t) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def unit_record(up: UnitPlan, plan: SearchPlan, survival: dict | None) -> dict:
    """Every number of one unit's assignment (GeoJSON properties and summary.json)."""
    u, r, pat = up.unit, up.rect, up.pattern
    wlon, wlat = plan.plane.to_lonlat(pat.waypoints[:, 0], pat.waypoints[:, 1])
    record = {
        "unit": u.name,
        "commence_time": _iso(u.commence_time),
        "end_time": _iso(u.end_time),
        "mid_time": _iso(u.mid_time),
        "speed_kn": u.speed_kn,
        "sweep_width_nm": u.sweep_width_nm,
        "endurance_hours": u.endurance_hours,
        "effort_nm2": round(u.effort_nm2, 3),
        "area_nm2": round(r.area_nm2, 3),
        "length_nm": round(r.length_nm, 3),
        "width_nm": round(r.width_nm, 3),
        "orientation_deg": true_bearing_deg(r.theta),
        "track_spacing_nm": round(pat.spacing_nm, 4),
        "coverage": round(up.coverage, 4),
        "pod": round(up.pod, 6),
        "poc": round(up.poc, 6),
        "pos": round(up.pos, 6),
        "legs": pat.legs,
        "track_length_nm": round(pat.track_length_nm, 3),
        "corners": [_point(lon, lat) for lon, lat in up.corners_lonlat],
        "commence_search_point": _point(wlon[0], wlat[0]),
        "waypoints_dm": [position_dm(lon, lat) for lon, lat in zip(wlon, wlat)],
    }
    if survival and survival.get("expected_survival_until"):
        record["beyond_expected_survival"] = beyond_survival(survival, u.end_time)
    return record


def plan_summary(plan: SearchPlan, survival: dict | None) -> dict:
    """summary.json `search_plan`."""
    return {
        "cumulative_pos": round(plan.cumulative_pos, 6),
        "method": "one rectangle per unit on the particles at its mid-search time, along the cloud's principal axis, "
        "no overlap; POD = 1 - exp(-W/S) for a parallel sweep; plan POS combines detections per particle",
        "seconds": round(plan.seconds, 3),
        "units": [unit_record(up, plan, survival) for up in plan.units],
    }


def feature_collection(
    mission_id: str, plan: SearchPlan | None, done: tuple[SearchDone, ...], done_report: dict | None,
    survival: dict | None,
) -> dict:  # fmt: skip
    """The plan (rectangle + pattern per unit) and the searches done, as one RFC 7946 FeatureCollection."""
    feats = []
    for i, d in enumerate(done):
        row = next(r for r in done_report["searches"] if r["index"] == i)
        extra = {k: v for k, v in (("sweep_width_nm", d.sweep_width_nm), ("track_spacing_nm", d.track_spacing_nm)) if v}
        props = {"start_time": _iso(d.start_time), "end_time": _iso(d.end_time), **row, **extra}
        feats.append(feature(shape(d.area), kind="search_done", name=f"Search done {i + 1}", **props))
    for up in plan.units if plan else []:
        rec = unit_record(up, plan, survival)
        feats.append(feature(shapely.Polygon(up.corners_lonlat), kind="search_rectangle", name=up.unit.name, **rec))
        lon, lat = plan.plane.to_lonlat(up.pattern.waypoints[:, 0], up.pattern.waypoints[:, 1])
        line = {k: rec[k] for k in ("unit", "commence_time", "end_time", "legs", "track_spacing_nm", "track_length_nm")}
        feats.append(
            feature(
                shapely.LineString(np.column_stack([lon, lat])),
                kind="search_pattern",
                name=f"{up.unit.name} parallel sweep",
                pattern="parallel sweep (PS)",
                commence_search_point=rec["commence_search_point"],
                waypoints_dm=rec["waypoints_dm"],
                **line,
            )
        )
    props = {"mission_id": mission_id}
    if plan:
        props["cumulative_pos"] = round(plan.cumulative_pos, 6)
    if done_report:
        props["searches_done_cumulative_pos"] = done_report["cumulative_pos"]
        props["weight_left"] = done_report["weight_left"]
    return {"type": "FeatureCollection", "properties": props, "features": feats}


def write_geojson(path: Path, fc: dict) -> Path:
    path.write_text(json.dumps(fc, separators=(",", ":"), ensure_ascii=False))
    return path


def write_kml(path: Path, fc: dict) -> Path:
    """Folders for the plan and the searches done; numbers in ExtendedData, search times as TimeSpan."""
    kml = ET.Element("kml", xmlns=NS)
    doc = _sub(kml, "Document")
    _sub(doc, "name", f"Search plan - mission {fc['properties']['mission_id']}")
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
    return "Search plan" + (f" (cumulative POS {pos:.0%})" if pos is not None else "")


def _folder(doc: ET.Element, name: str) -> ET.Element:
    folder = _sub(doc, "Folder")
    _sub(folder, "name", name)
    return folder


def _styles(doc: ET.Element) -> None:
    for name, colour in [*((f"unit{i}", c) for i, c in enumerate(UNIT_COLOURS)), ("done", DONE_COLOUR)]:
        style = _sub(doc, "Style", id=name)
        line = _sub(style, "LineStyle")
        _sub(line, "color", colour)
        _sub(line, "width", "2")
        _sub(_sub(style, "PolyStyle"), "color", "22" + colour[2:])


def _placemark(parent: ET.Element, feat: dict, style: str, begin: str, end: str) -> None:
    props = feat["properties"]
    mark = _sub(parent, "Placemark")
    _sub(mark, "name", props["name"])
    _sub(mark, "description", _description(props))
    span = _sub(mark, "TimeSpan")
    _sub(span, "begin", begin)
    _sub(span, "end", end)
    _sub(mark, "styleUrl", f"#{style}")
    data = _sub(mark, "ExtendedData")
    for key, value in props.items():
        if isinstance(value, (int, float, str)):
            _sub(_sub(data, "Data", name=key), "value", str(value))
    if "corners" in props:
        corners = "; ".join(c["position_dm"] for c in props["corners"])
        _sub(_sub(data, "Data", name="corners_dm"), "value", corners)
    _geometry(mark, feat["geometry"])


def _description(props: dict) -> str:
    if props["kind"] == "search_rectangle":
        return (
            f"{props['unit']}: {props['length_nm']:.1f} x {props['width_nm']:.1f} nm, "
            f"axis {props['orientation_deg']:g} T, "
            f"S {props['track_spacing_nm']:.2f} nm, C {props['coverage']:.2f}, POC {props['poc']:.1%}, "
            f"POD {props['pod']:.1%}, POS {props['pos']:.1%}, {props['commence_time']} to {props['end_time']}"
        )
    if props["kind"] == "search_pattern":
        csp = props["commence_search_point"]["position_dm"]
        return f"Parallel sweep from CSP {csp}: {props['legs']} legs, S {props['track_spacing_nm']:.2f} nm, " + (
            f"track {props['track_length_nm']:.1f} nm"
        )
    return f"Searched {props['start_time']} to {props['end_time']} without success: POD {props['pod']:.0%} applied"
