"""search_plan.gpx and waypoints.csv read back with gpxpy and csv: one route per unit, CSP first, datums and
corners as waypoints, the CSV holding exactly the GPX positions in decimal degrees and DDM."""

from __future__ import annotations

import csv
import json

import gpxpy
from hypothesis import given
from hypothesis import strategies as st

from driftline.products.gpxroute import plan_points
from driftline.products.marine import parse_ddm
from driftline.products.mission_view import mission_view


def _gpx(out):
    return gpxpy.parse((out / "search_plan.gpx").read_text())


def test_one_route_per_unit_commence_search_point_first(planned):
    out, summary = planned
    gpx = _gpx(out)
    units = summary["search_plan"]["units"]
    assert gpx.version == "1.1" and [r.name for r in gpx.routes] == ["UNIT-01", "UNIT-02"]
    fc = json.loads((out / "search_plan.geojson").read_text())
    patterns = [f for f in fc["features"] if f["properties"]["kind"] == "search_pattern"]
    for route, unit, pattern in zip(gpx.routes, units, patterns):
        first = route.points[0]
        csp = unit["commence_search_point"]
        assert (first.latitude, first.longitude) == (csp["lat"], csp["lon"])
        assert [[p.longitude, p.latitude] for p in route.points] == pattern["geometry"]["coordinates"]
        assert unit["unit"] in route.description and route.points[0].time is not None
        assert len({p.name for p in route.points}) == len(route.points) and all(len(p.name) <= 10 for p in route.points)


def test_datums_and_corners_are_waypoints(planned):
    out, summary = planned
    wpts = {w.name: w for w in _gpx(out).waypoints}
    datums = [w for n, w in wpts.items() if n.startswith("DATUM")]
    assert len(datums) == len(summary["search_areas"])
    for w, sa in zip(datums, summary["search_areas"]):
        assert (w.latitude, w.longitude) == (sa["centre"]["lat"], sa["centre"]["lon"])
    for area, unit in zip("AB", summary["search_plan"]["units"]):
        for k, c in enumerate(unit["corners"], 1):
            w = wpts[f"A{area}C{k}"]
            assert (w.latitude, w.longitude) == (c["lat"], c["lon"])
    assert wpts["LKP"].latitude == 60.0


def test_csv_has_the_gpx_positions_in_both_notations(planned, unplanned):
    for out, _ in (planned, unplanned):
        gpx = _gpx(out)
        rows = list(csv.DictReader((out / "waypoints.csv").open()))
        points = [*gpx.waypoints, *(p for r in gpx.routes for p in r.points)]
        assert [r["name"] for r in rows] == [p.name for p in points]
        for r, p in zip(rows, points):
            assert (float(r["lat"]), float(r["lon"])) == (p.latitude, p.longitude)
            lat, lon = parse_ddm(f"{r['lat_dm']} {r['lon_dm']}")
            assert abs(lat - p.latitude) <= 0.0005 / 60 + 1e-9 and abs(lon - p.longitude) <= 0.0005 / 60 + 1e-9


def test_no_plan_no_routes_but_datums(unplanned):
    gpx = _gpx(unplanned[0])
    assert gpx.routes == [] and sum(w.name.startswith("DATUM") for w in gpx.waypoints) >= 3


@given(st.floats(-80, 80), st.floats(-180, 180), st.floats(-0.3, 0.3))
def test_positions_across_the_antimeridian_stay_within_180(lat, lon, step):
    wps = [{"lat": lat, "lon": lon + step * k} for k in range(4)]  # may run past ±180
    summary = {"params": {"latitude": lat, "longitude": lon},
               "search_plan": {"units": [{"unit": "U", "corners": wps, "patterns": [{"waypoints": wps}]}]}}  # fmt: skip
    points, routes = plan_points(mission_view(summary))
    for p in [*points, *routes["UNIT-01"]]:
        assert -180 <= (p.lon + 180) % 360 - 180 <= 180
    assert len(routes["UNIT-01"]) == 4
