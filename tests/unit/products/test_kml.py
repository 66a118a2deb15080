"""Unit tests of driftline/products/kml.py: geometry conversion, time folders, styles, descriptions, extended data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import shapely
import shapely.geometry

from driftline.products.geojson import feature
from driftline.products.kml import NS, kml_geometry, write_kml
from driftline.products.meta import ProductMeta

K = {"k": NS}


def _meta(direction="forward"):
    return ProductMeta("m-7", direction, "raft", datetime(2024, 1, 1, tzinfo=UTC), 60.0, 5.0, "NorKyst", "leeway")


def _area(time, level, box):
    return feature(shapely.box(*box), kind="search_area", name=f"{round(level * 100)} % search area {time}",
                   probability=level, probability_of_total=level * 0.8, time=time, area_km2=12.345, area_nm2=3.6,
                   datum={"lat": 60.1, "lon": 5.1})  # fmt: skip


def _fc():
    lkp = feature(shapely.Point(5.0, 60.0), kind="last_known_position", name="Last known position",
                  time="2024-01-01T00:00:00Z", lat_dm="60°00.000'N", lon_dm="005°00.000'E")  # fmt: skip
    feats = [
        lkp,
        _area("2024-01-01T12:00:00Z", 0.9, (5, 60, 5.2, 60.2)),
        _area("2024-01-01T06:00:00Z", 0.5, (5, 60, 5.1, 60.1)),
    ]
    return {"type": "FeatureCollection", "features": feats}


def test_kml_geometry_polygon_holes_and_multi():
    """A polygon with a hole gets outer and inner boundaries; a MultiPolygon becomes a MultiGeometry of Polygons."""
    holed = shapely.box(0, 0, 4, 4).difference(shapely.box(1, 1, 2, 2))  # GeoJSON output splits holes: raw here
    root = ET.Element("Placemark")
    kml_geometry(root, shapely.geometry.mapping(holed))
    assert len(root.findall("Polygon/outerBoundaryIs/LinearRing/coordinates")) == 1
    assert len(root.findall("Polygon/innerBoundaryIs/LinearRing/coordinates")) == 1
    multi = ET.Element("Placemark")
    kml_geometry(multi, {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]] * 2})
    assert len(multi.findall("MultiGeometry/Polygon")) == 2
    assert multi.find("MultiGeometry/Polygon/outerBoundaryIs/LinearRing/coordinates").text == "0,0 1,0 1,1 0,0"
    point = ET.Element("Placemark")
    kml_geometry(point, {"type": "Point", "coordinates": [5.5, 60.25]})
    assert point.find("Point/coordinates").text == "5.5,60.25"


def test_write_kml_time_folders_styles_and_data(tmp_path):
    """Areas go to a Folder per time, spanning until the next time (the last has no end); LKP stays at the top."""
    path = write_kml(tmp_path / "a.kml", _fc(), _meta())
    doc = ET.parse(path).getroot().find("k:Document", K)
    assert doc.find("k:name", K).text == "Search areas - mission m-7"
    assert doc.find("k:description", K).text == "raft. leeway. Forcing: NorKyst"
    assert [p.find("k:name", K).text for p in doc.findall("k:Placemark", K)] == ["Last known position"]
    folders = doc.findall("k:Folder", K)
    spans = [(f.findtext("k:TimeSpan/k:begin", None, K), f.findtext("k:TimeSpan/k:end", None, K)) for f in folders]
    assert spans == [("2024-01-01T12:00:00Z", None), ("2024-01-01T06:00:00Z", "2024-01-01T12:00:00Z")]
    mark = folders[0].find("k:Placemark", K)
    assert mark.findtext("k:styleUrl", None, K) == "#area90"
    assert mark.findtext("k:description", None, K) == (
        "Smallest sea region holding 90 % of the floating probability (72.0% of the total) at 2024-01-01T12:00:00Z; "
        "area 12.35 km2 (3.60 NM2)"
    )
    data = {d.get("name"): d.findtext("k:value", None, K) for d in mark.findall("k:ExtendedData/k:Data", K)}
    assert data["datum_lat"] == "60.1" and data["probability"] == "0.9" and "datum" not in data
    assert doc.find("k:Style[@id='area50']/k:LineStyle/k:color", K).text == "ff0000ff"


def test_write_kml_backward_and_shoreline_folder(tmp_path):
    """A backward run names origin areas; shoreline segments go to their own folder named with the stranded share."""
    line = shapely.LineString([(5, 60), (5.1, 60.1)])
    shore_feat = feature(line, kind="shoreline", name="Shoreline segment 1", probability=0.25, particles=40,
                         length_km=2.5, earliest_arrival="E", median_arrival="M")  # fmt: skip
    shoreline = {"properties": {"stranded_share": 0.3}, "features": [shore_feat]}
    doc = ET.parse(write_kml(tmp_path / "b.kml", _fc(), _meta("backward"), shoreline)).getroot()[0]
    assert doc.findtext("k:name", None, K) == "Origin probability (backward run) - mission m-7"
    last = doc.findall("k:Folder", K)[-1]
    assert last.findtext("k:name", None, K) == "Shoreline: stranding probability 30.0%"
    mark = last.find("k:Placemark", K)
    assert mark.findtext("k:styleUrl", None, K) == "#shore"
    assert mark.findtext("k:description", None, K) == (
        "Stranding probability 25.0% (40 particles) along 2.5 km; earliest arrival E, median M"
    )
    assert mark.find("k:LineString/k:tessellate", K).text == "1"
