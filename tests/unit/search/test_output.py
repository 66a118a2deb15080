"""Plan files: the pattern structure for the SAR action message, two decimals where people read, RFC 7946 at 180°."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from driftline.search.output import feature_collection, plan_summary, write_kml
from driftline.search.plan import plan_search
from tests.unit.search.helpers import LAT0, LON0, normal_cloud, unit

KML = "{http://www.opengis.net/kml/2.2}"


def _plan(lon0=LON0, lat0=LAT0):
    traj = normal_cloud(n=2000, sigma_nm=2.0, hours=8, drift_kn=(0.8, 0.2), lon0=lon0, lat0=lat0)
    return plan_search(traj, (unit("Heli", 90, 1.2, 1.0, 1.0), unit("Boat", 15, 0.4, 3.0, 2.0)), (lon0, lat0))


def test_every_unit_record_carries_its_pattern_for_a_search_action_message():
    plan = _plan()
    summary = json.loads(json.dumps(plan_summary(plan, None)))
    assert set(summary) >= {"cumulative_pos", "method", "units", "seconds", "candidates_pos", "chosen"}
    rec = summary["units"][0]
    for key in (
        "unit",
        "poc",
        "pod",
        "pos",
        "coverage",
        "track_spacing_nm",
        "effort_nm2",
        "corners",
        "legs",
        "commence_search_point",
        "waypoints_dm",
        "search_hours",
        "search_endurance_factor",
        "detection",
    ):
        assert key in rec, key  # fmt: skip
    pat = rec["pattern"]
    assert pat["code"] in ("PS", "CS") and pat["commence_search_point"] == pat["waypoints"][0]
    assert len(pat["legs"]) == len(pat["waypoints"]) - 1 == len(rec["waypoints_dm"]) - 1
    assert sum(leg["length_nm"] for leg in pat["legs"]) == pytest.approx(pat["track_length_nm"])
    times = [w["time"] for w in pat["waypoints"]]
    assert times == sorted(times) and times[0] == rec["commence_time"] and times[-1] <= rec["search_end_time"]
    assert 0 <= pat["creep_deg"] < 360 and pat["drift_compensation"]["speed_kn"] > 0.5
    assert isinstance(rec["pos"], float) and rec["pos"] != round(rec["pos"], 6)  # full precision in summary.json


def test_kml_and_descriptions_give_two_decimals(tmp_path):
    fc = feature_collection("m-1", _plan(), (), None, None)
    root = ET.parse(write_kml(tmp_path / "plan.kml", fc)).getroot()
    data = {d.get("name"): d.find(f"{KML}value").text for d in root.iter(f"{KML}Data")}
    assert len(data["pos"].split(".")[1]) == 2 and len(data["poc"].split(".")[1]) == 2
    desc = next(root.iter(f"{KML}description")).text
    assert "POS 0." in desc and len(desc.split("POS ")[1].split(" ")[0]) == 4


def test_a_plan_across_the_antimeridian_is_cut_there_as_rfc_7946_asks():
    fc = feature_collection("m-1", _plan(179.99, -40.0), (), None, None)
    for f in fc["features"]:
        geom = f["geometry"]
        coords = np.array([c for part in _flat(geom) for c in part])
        assert (np.abs(coords[:, 0]) <= 180).all()
        g = shape(geom)
        assert g.is_valid and g.bounds[2] - g.bounds[0] > 300  # both sides of 180°, so cut, not wrapped round
        assert geom["type"] in ("MultiPolygon", "MultiLineString")
    rect = shape(fc["features"][0]["geometry"])
    assert sum(p.area for p in rect.geoms) < 0.5  # degrees²: the rectangle, not the globe
    for p in rect.geoms:
        assert shapely.Polygon(p.exterior).exterior.is_ccw


def _flat(geom: dict) -> list:
    c = geom["coordinates"]
    return {"Polygon": c, "LineString": [c], "MultiPolygon": [r for p in c for r in p], "MultiLineString": c}[
        geom["type"]
    ]
