"""Geodesy and output geometry: longitudes within ±180, antimeridian cuts, hole-free output, WGS84 sizes, areas."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from driftline.errors import InvalidJob
from driftline.geodesy import (
    cut_antimeridian,
    distance_km,
    normalise_lon,
    output_geometry,
    polygon_area_km2,
    position,
    sample_polygon,
    split_holes,
    validate_area,
)

SQUARE = {"type": "Polygon", "coordinates": [[[4.0, 60.0], [4.1, 60.0], [4.1, 60.1], [4.0, 60.1], [4.0, 60.0]]]}


@given(st.floats(-1e6, 1e6))
def test_normalised_longitudes_lie_in_range_and_keep_the_direction(lon):
    out = normalise_lon(lon)
    assert -180 <= out < 180 or out == pytest.approx(180)  # float rounding may land on the edge
    assert math.cos(math.radians(out)) == pytest.approx(math.cos(math.radians(lon)), abs=1e-6)
    assert math.sin(math.radians(out)) == pytest.approx(math.sin(math.radians(lon)), abs=1e-6)


def test_a_position_is_wrapped_rounded_and_in_degrees_minutes():
    assert position(59.97, 364.2) == {"lat": 59.97, "lon": 4.2, "lat_dm": "59°58.200'N", "lon_dm": "004°12.000'E"}
    assert position(-0.5, -190.0)["lon"] == 170.0


def test_a_polygon_across_the_antimeridian_is_cut_into_two_pieces_of_the_same_area():
    box = shapely.box(178.0, -1.0, 182.0, 1.0)  # unwrapped longitudes
    cut = cut_antimeridian(box)
    assert cut.geom_type == "MultiPolygon" and len(cut.geoms) == 2
    assert all(-180 <= g.bounds[0] and g.bounds[2] < 180 for g in cut.geoms)
    assert cut.area == pytest.approx(box.area, rel=1e-5)
    assert cut_antimeridian(shapely.Point(190.0, 5.0)).equals(shapely.Point(-170.0, 5.0))
    assert cut_antimeridian(shapely.box(370, 0, 371, 1)).equals(shapely.box(10, 0, 11, 1))


def test_holes_are_opened_by_a_slit_and_the_output_is_hole_free():
    ring = shapely.box(0, 0, 10, 10).difference(shapely.box(2, 2, 4, 4)).difference(shapely.box(6, 6, 8, 8))
    opened = split_holes(ring)
    assert opened.geom_type == "Polygon" and not opened.interiors
    assert opened.area == pytest.approx(ring.area, abs=1e-3)
    out = output_geometry(ring)
    pieces = getattr(out, "geoms", [out])
    assert all(not p.interiors for p in pieces) and all(p.exterior.is_ccw for p in pieces)
    assert out.area == pytest.approx(ring.area, abs=1e-3)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"type": "Point", "coordinates": [4, 60]}, "area must be a GeoJSON Polygon object"),
        ({"type": "Polygon", "coordinates": []}, "area must be a single ring without holes"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},
            "area ring must have 4 to 1000 positions (closed: first equals last)",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, True], [0, 0]]]},
            "area has an invalid position [1, True]: expected [longitude, latitude]",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]]},
            "area has an invalid position [181, 0]: expected [longitude, latitude]",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
            "area ring is not closed: the first and last positions must be equal",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "area is not a valid polygon: Self-intersection[0.5 0.5]",
        ),
    ],
)
def test_malformed_areas_are_refused(value, message):
    with pytest.raises(InvalidJob, match=f"^{re.escape(message)}$"):
        validate_area(value, 1e6)


def test_wgs84_distances_and_areas_against_known_values():
    # One degree of latitude at the equator is 110.574 km on WGS84; at 60° N a degree of longitude is 55.800 km.
    assert distance_km(0.0, 0.0, 1.0, 0.0) == pytest.approx(110.574, abs=1e-3)
    assert distance_km(60.0, 0.0, 60.0, 1.0) == pytest.approx(55.800, abs=0.01)
    assert polygon_area_km2(SQUARE) == pytest.approx(5.58 * 11.13, rel=0.01)
    assert validate_area(SQUARE, 100.0) == SQUARE
    np.random.seed(3)
    lons, lats = sample_polygon(SQUARE, 200, sea_only=False)
    assert len(lons) == 200 and np.all(shapely.contains_xy(shapely.geometry.shape(SQUARE), lons, lats))
