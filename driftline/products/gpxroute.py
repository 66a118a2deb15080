"""search_plan.gpx (GPX 1.1, gpxpy) and waypoints.csv: the plan as chart plotters and flight management systems
load it: one route per unit (UNIT-01..., commence search point first), datums and area corners as waypoints.

Point names are at most 10 characters of capitals and digits (what most plotters keep); the full name is
in each point's comment/description. Every position of the GPX is a row of the CSV, in the same order.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import gpxpy.gpx

from driftline.products.marine import ascii_text, ddm
from driftline.products.mission_view import MissionView

CSV_FIELDS = ("kind", "name", "route", "sequence", "lat", "lon", "lat_dm", "lon_dm", "time", "description")


@dataclass(frozen=True)
class Point:
    kind: str  # route_point, datum, datum_part, corner, lkp
    name: str
    lat: float
    lon: float
    description: str
    route: str = ""
    sequence: int = 0
    time: datetime | None = None


def plan_points(view: MissionView) -> tuple[list[Point], dict[str, list[Point]]]:
    """(waypoints, routes by name): LKP, each datum, each area's corners; per unit its pattern's points."""
    lkp_name = "FOUND" if view.backward else "LKP"
    points = [
        Point("lkp", lkp_name, *view.lkp, f"{'Found' if view.backward else 'Last known'} position", time=view.start)
    ]
    for i, a in enumerate(view.areas, 1):
        if a.datum:
            points.append(Point("datum", f"DATUM{i:02d}", *a.datum, f"Datum at {_iso(a.time)}", time=a.time))
        for j, p in enumerate(a.parts, 1):
            points.append(
                Point("datum_part", f"DAT{i:02d}P{j}", *p, f"Datum of part {j} at {_iso(a.time)}", time=a.time)
            )
    routes: dict[str, list[Point]] = {}
    for u in view.units:
        for k, c in enumerate(u.corners, 1):
            points.append(Point("corner", f"A{u.area_name}C{k}", *c, f"Area {u.area_name} ({u.name}) corner {k}"))
        pts = []
        for n, wp in enumerate(u.route, 1):
            what = "commence search point" if n == 1 else f"waypoint {n}"
            pts.append(Point("route_point", f"U{u.index:02d}W{n:03d}", *wp, f"{u.label} {u.name} {what}", u.label, n,
                             u.commence if n == 1 else None))  # fmt: skip
        routes[u.label] = pts
    return points, routes


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _lon(lon: float) -> float:
    return round((float(lon) + 180.0) % 360.0 - 180.0, 6)


def _gpx_point(cls, p: Point):
    pt = cls(latitude=round(p.lat, 6), longitude=_lon(p.lon), name=p.name, time=p.time)
    pt.comment = ascii_text(p.description)
    pt.description = f"{ascii_text(p.description)} {ddm(p.lat, p.lon)}"
    pt.symbol = {"lkp": "Flag", "datum": "Waypoint", "datum_part": "Waypoint", "corner": "Dot"}.get(p.kind, "Waypoint")
    return pt


def write_gpx(path: Path, view: MissionView) -> Path:
    """GPX 1.1: waypoints first, then one route per unit in plan order."""
    points, routes = plan_points(view)
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "Driftline drift worker"
    gpx.name = f"Search plan - mission {view.mission_id}"
    gpx.description = ascii_text(view.title)
    for p in points:
        gpx.waypoints.append(_gpx_point(gpxpy.gpx.GPXWaypoint, p))
    for u in view.units:
        route = gpxpy.gpx.GPXRoute(name=u.label, description=ascii_text(f"{u.name}: {_route_text(u)}"), number=u.index)
        route.comment = ascii_text(u.name)
        route.points.extend(_gpx_point(gpxpy.gpx.GPXRoutePoint, p) for p in routes[u.label])
        gpx.routes.append(route)
    path.write_text(gpx.to_xml(version="1.1"), encoding="utf-8")
    return path


def _route_text(u) -> str:
    pat = u.pattern
    when = f" {_iso(u.commence)} to {_iso(u.end)}" if u.commence and u.end else ""
    return f"area {u.area_name}, {pat.name if pat else 'pattern'}{when}"


def write_waypoints_csv(path: Path, view: MissionView) -> Path:
    """The GPX's positions (waypoints, then route points) in decimal degrees and degrees-decimal-minutes."""
    points, routes = plan_points(view)
    with path.open("w", newline="", encoding="ascii") as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        for p in [*points, *(q for pts in routes.values() for q in pts)]:
            lat_dm, lon_dm = _dm_parts(p.lat, p.lon)
            w.writerow([p.kind, p.name, p.route, p.sequence or "", f"{p.lat:.6f}", f"{_lon(p.lon):.6f}", lat_dm,
                        lon_dm, _iso(p.time) if p.time else "", ascii_text(p.description)])  # fmt: skip
    return path


def _dm_parts(lat: float, lon: float) -> tuple[str, str]:
    text = ddm(lat, lon)  # "60 05.123N 004 12.350E"
    return text[:10], text[11:]
