"""Unit tests of driftline/products/geojson.py: RFC 7946 geometry, the search-area and shoreline collections."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import shapely

from driftline.products.areas import SearchArea
from driftline.products.density import Density
from driftline.products.geojson import (
    area_label,
    feature_collection,
    geometry_json,
    shoreline_collection,
    write_geojson,
)
from driftline.products.grid import Grid
from driftline.products.meta import ProductMeta
from driftline.products.shoreline import Segment

TIMES = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(3) * np.timedelta64(3600, "s")


def _meta(direction="forward"):
    start = datetime(2024, 1, 1, 1, 0, tzinfo=UTC)
    return ProductMeta("m-1", direction, "raft", start, 60.5, 4.25, "forcing", "scenario")


def _density(centre_lat, centre_lon):
    z = np.zeros((3, 1, 1), np.float32)
    grid = Grid(0.0, 0.0, 1.0, 1.0, 1, 1, 1.0)
    return Density(grid, TIMES, z, z, np.zeros(3, int), np.array(centre_lat), np.array(centre_lon))


def _ring_area(ring):
    c = np.asarray(ring)
    return 0.5 * float(np.sum(c[:-1, 0] * c[1:, 1] - c[1:, 0] * c[:-1, 1]))


def test_geometry_json_cuts_the_antimeridian_and_orients_rings():
    """A box over 179..181 (unwrapped) becomes two pieces within ±180, exterior rings anticlockwise (RFC 7946)."""
    g = geometry_json(shapely.box(179.0, 10.0, 181.0, 11.0))
    assert g["type"] == "MultiPolygon" and len(g["coordinates"]) == 2
    lons = [p[0] for poly in g["coordinates"] for ring in poly for p in ring]
    assert -180.0 <= min(lons) and max(lons) <= 180.0
    assert all(_ring_area(poly[0]) > 0 for poly in g["coordinates"])
    assert sum(_ring_area(poly[0]) for poly in g["coordinates"]) == pytest.approx(2.0, rel=1e-4)
    clockwise = shapely.Polygon([(0, 0), (0, 1), (1, 1), (1, 0)])
    assert _ring_area(geometry_json(clockwise)["coordinates"][0]) > 0


def test_area_label_by_direction():
    assert area_label(_meta(), 0.9) == "90 % search area"
    assert area_label(_meta("backward"), 0.5) == "50 % origin area"


def test_feature_collection_order_and_properties():
    """LKP first, the centre track over finite centres, then per area time the datum and the areas largest first."""
    sa = SearchArea(2, "2024-01-01T02:00:00Z", {}, {"floating": 0.8}, datum=(60.6, 4.3))
    sa.regions = {0.5: shapely.box(4.2, 60.5, 4.4, 60.7), 0.9: shapely.box(4.0, 60.4, 4.6, 60.8)}
    sa.area_km2 = {0.5: 12.0, 0.9: 60.0}
    empty = SearchArea(1, "2024-01-01T01:00:00Z", {}, {"floating": 0.0})
    fc = feature_collection(_meta(), _density([60.5, np.nan, 60.6], [4.25, np.nan, 4.3]), [empty, sa])
    kinds = [f["properties"]["kind"] for f in fc["features"]]
    assert kinds == ["last_known_position", "centre_track", "datum", "search_area", "search_area"]
    lkp, track, _, big, small = fc["features"]
    assert lkp["geometry"]["coordinates"] == [4.25, 60.5] and lkp["properties"]["time"] == "2024-01-01T01:00:00Z"
    assert track["properties"]["times"] == ["2024-01-01T00:00:00Z", "2024-01-01T02:00:00Z"]
    assert big["properties"]["probability"] == 0.9 and small["properties"]["probability"] == 0.5
    assert big["properties"]["probability_of_total"] == pytest.approx(0.72)
    assert big["properties"]["area_nm2"] == pytest.approx(60.0 / 1.852**2, abs=1e-4)
    assert fc["properties"] == {"mission_id": "m-1", "direction": "forward", "object": "raft"}
    back = feature_collection(_meta("backward"), _density([60.5, np.nan, np.nan], [4.25, np.nan, np.nan]), [])
    assert [f["properties"]["kind"] for f in back["features"]] == ["found_position"]  # one centre: no track


def test_shoreline_collection_and_write(tmp_path):
    """Segments become features with their properties; the file is compact JSON that reads back equal."""
    seg = Segment(1, 0.1234567, 12, "2024-01-01T03:00:00Z", "2024-01-01T04:00:00Z", 1.5, (60.0, 5.0),
                  shapely.LineString([(5.0, 60.0), (5.01, 60.01)]))  # fmt: skip
    fc = shoreline_collection(_meta(), [seg], 0.3333333)
    assert fc["properties"]["stranded_share"] == 0.333333
    assert fc["features"][0]["properties"]["probability"] == 0.123457
    assert fc["features"][0]["geometry"]["type"] == "LineString"
    path = write_geojson(tmp_path / "shore.geojson", fc)
    assert json.loads(path.read_text()) == fc and ", " not in path.read_text()
