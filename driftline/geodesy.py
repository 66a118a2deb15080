"""Geodesy and output geometry (pure logic): distances and areas on the WGS84 ellipsoid, validation of GeoJSON
search polygons, and output geometry with longitudes within ±180 (RFC 7946 §3.1.9 antimeridian cut), no holes,
degrees-decimal-minutes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from driftline.errors import InvalidJob
from driftline.positions import deg_min

MAX_VERTICES = 900  # per geometry; geojson-validator calls more than 999 problematic
EAST_EDGE = 180.0 - 1e-6  # pieces east of the cut end here: 180.0 would read as -180 to validators that normalise
GAP = 2e-6  # half width (degrees) of the slit that opens a hole; survives rounding to 6 decimals
NM2_PER_KM2 = 1 / 1.852**2


def normalise_lon(lon: float) -> float:
    return (float(lon) + 180.0) % 360.0 - 180.0


def dm(value: float, pos: str, neg: str, decimals: int = 3) -> str:
    """Degrees and decimal minutes in the one format of every product (driftline/positions.py): 59°58.200'N,
    004°12.000'E."""
    return deg_min(value, pos, neg, 2 if pos == "N" else 3, decimals)


def position(lat: float, lon: float) -> dict:
    """lat/lon in decimal degrees (lon within ±180) and in degrees-decimal-minutes."""
    lon = normalise_lon(lon)
    return {"lat": round(lat, 6), "lon": round(lon, 6), "lat_dm": dm(lat, "N", "S"), "lon_dm": dm(lon, "E", "W")}


def _polygons(geom: shapely.Geometry) -> list[shapely.Polygon]:
    return [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, shapely.Polygon) and not g.is_empty]


def _lines(geom: shapely.Geometry) -> list[shapely.LineString]:
    return [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, shapely.LineString) and not g.is_empty]


def cut_antimeridian(geom: shapely.Geometry) -> shapely.Geometry:
    """Geometry in unwrapped longitudes cut into pieces within -180..180 (Multi* when it crosses)."""
    if geom.is_empty:
        return geom
    if isinstance(geom, shapely.Point):
        return shapely.Point(normalise_lon(geom.x), geom.y)
    minx, _, maxx, _ = geom.bounds
    k0, k1 = math.floor((minx + 180) / 360), math.floor((maxx + 180) / 360)
    if k0 == k1 and maxx - 360 * k0 < 180:
        return shapely.affinity.translate(geom, -360.0 * k0)
    pieces = []
    for k in range(k0, k1 + 1):
        clip = shapely.box(-180 + 360 * k, -90, EAST_EDGE + 360 * k, 90)
        pieces.append(shapely.affinity.translate(shapely.intersection(geom, clip), -360.0 * k))
    if isinstance(geom, (shapely.Polygon, shapely.MultiPolygon)):
        return shapely.MultiPolygon([p for g in pieces for p in _polygons(g)])
    return shapely.MultiLineString(
        [line for g in pieces for line in _lines(shapely.line_merge(g) if g.geom_type == "MultiLineString" else g)]
    )


def split_holes(geom: shapely.Geometry) -> shapely.Geometry:
    """Holes opened to the outside by a slit GAP wide (many tools mishandle holes); a piece stays one piece.

    Each slit runs north from the top of a hole to the first boundary it meets: the exterior, or another
    hole, which then merges with this one; so every round removes one hole and never disconnects a piece.
    """
    out, todo = [], _polygons(geom)
    while todo:
        p = todo.pop()
        if p.interiors:
            todo.extend(_polygons(_slit(p, p.interiors[0])))
        else:
            out.append(p)
    if isinstance(geom, shapely.Polygon) and len(out) == 1:
        return out[0]
    return shapely.MultiPolygon(out) if out else geom


def _slit(p: shapely.Polygon, hole: shapely.LinearRing) -> shapely.Geometry:
    coords = np.asarray(hole.coords)
    top = np.flatnonzero(coords[:, 1] == coords[:, 1].max())
    x, y = coords[top[0]]
    flat = [i for i in top if i + 1 < len(coords) and coords[i + 1, 1] == y]
    if flat:  # start off the grid lines of a staircase outline, so the slit never runs along an edge
        x = x + 0.381966 * (coords[flat[0] + 1, 0] - x)
    ray = shapely.LineString([(x, y), (x, p.bounds[3] + 1)])
    inside = [g for g in getattr(shapely.intersection(ray, p), "geoms", [shapely.intersection(ray, p)])]
    top = min(inside, key=lambda g: g.distance(shapely.Point(x, y))).bounds[3] if inside else y
    cut = shapely.difference(p, shapely.box(x - GAP, y - GAP, x + GAP, top + GAP))
    return cut


def output_geometry(geom: shapely.Geometry) -> shapely.Geometry:
    """What the files carry: antimeridian cut, hole-free, at most MAX_VERTICES, 6 decimals, RFC 7946 orientation."""
    polygonal = isinstance(geom, (shapely.Polygon, shapely.MultiPolygon))
    if polygonal:  # a hair of growth joins corner contacts, so no hole touches an edge and slits never cut a piece
        geom = shapely.buffer(geom, GAP, join_style="mitre")
    geom = cut_antimeridian(geom)
    if polygonal:
        geom = split_holes(geom)
    tol = 1e-5
    while shapely.get_num_coordinates(geom) > MAX_VERTICES and tol < 1:
        geom = shapely.simplify(geom, tol)
        tol *= 2
    geom = shapely.set_precision(geom, 1e-6)
    if polygonal:
        geom = split_holes(geom)  # precision snapping can close a notch into a hole
    geom = shapely.transform(geom, lambda c: np.round(c, 6))
    if polygonal:
        geom = shapely.orient_polygons(geom, exterior_cw=False)
    return geom


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on the WGS84 ellipsoid."""
    from pyproj import Geod

    return Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2] / 1000.0


def polygon_area_km2(geojson: dict) -> float:
    """Geodesic area of a GeoJSON Polygon (holes subtracted)."""
    from pyproj import Geod
    from shapely.geometry import shape

    return abs(Geod(ellps="WGS84").geometry_area_perimeter(shape(geojson))[0]) / 1e6


def validate_area(value: Any, max_area_km2: float) -> dict:
    """A valid, simple GeoJSON Polygon within size limits and not entirely on land."""
    from shapely.geometry import shape
    from shapely.validation import explain_validity

    if not isinstance(value, dict) or value.get("type") != "Polygon" or not isinstance(value.get("coordinates"), list):
        raise InvalidJob("area must be a GeoJSON Polygon object")
    rings = value["coordinates"]
    if len(rings) != 1:
        raise InvalidJob("area must be a single ring without holes")
    ring = rings[0]
    if not isinstance(ring, list) or not 4 <= len(ring) <= 1000:
        raise InvalidJob("area ring must have 4 to 1000 positions (closed: first equals last)")
    for pt in ring:
        ok = (
            isinstance(pt, list)
            and len(pt) == 2
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in pt)
        )
        if not ok or not (-180 <= pt[0] <= 180 and -90 <= pt[1] <= 90):
            raise InvalidJob(f"area has an invalid position {pt!r}: expected [longitude, latitude]")
    if ring[0] != ring[-1]:
        raise InvalidJob("area ring is not closed: the first and last positions must be equal")
    try:
        poly = shape(value)
    except (ValueError, TypeError) as e:
        raise InvalidJob(f"area is not a valid polygon: {e}") from e
    if not poly.is_valid:
        raise InvalidJob(f"area is not a valid polygon: {explain_validity(poly)}")
    area = polygon_area_km2(value)
    if area <= 0:
        raise InvalidJob("area has zero size")
    if area > max_area_km2:
        raise InvalidJob(f"area is {area:.0f} km², above the limit of {max_area_km2:.0f} km²")
    # The land check needs the landmask, so it runs in the warm job process (pipeline), not here.
    return {"type": "Polygon", "coordinates": [[[float(x), float(y)] for x, y in ring]]}


def polygon_on_land(geojson: dict, samples: int = 400) -> bool:
    """True when every sampled point of the polygon is on land (OpenDrift's landmask)."""
    import numpy as np
    from shapely import contains_xy
    from shapely.geometry import shape

    poly = shape(geojson)
    minx, miny, maxx, maxy = poly.bounds
    side = int(np.sqrt(samples)) + 1
    xx, yy = np.meshgrid(np.linspace(minx, maxx, side), np.linspace(miny, maxy, side))
    inside = contains_xy(poly, xx.ravel(), yy.ravel())
    lons = np.concatenate([xx.ravel()[inside], [poly.representative_point().x]])
    lats = np.concatenate([yy.ravel()[inside], [poly.representative_point().y]])
    return bool(_on_land(lons, lats).all())


def sample_polygon(geojson: dict, number: int, sea_only: bool = True, max_rounds: int = 8):
    """`number` (lon, lat) positions uniformly distributed by area inside the polygon (on sea only, by default).

    Draws from the global np.random state, so a seeded run gets the same positions.
    """
    import numpy as np
    import shapely
    from pyproj import Transformer
    from shapely.geometry import shape

    poly = shape(geojson)
    centre = poly.centroid
    laea = f"+proj=laea +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m"
    fwd = Transformer.from_crs("EPSG:4326", laea, always_xy=True)
    inv = Transformer.from_crs(laea, "EPSG:4326", always_xy=True)
    flat = shapely.transform(poly, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    x0, y0, x1, y1 = flat.bounds
    rate, drawn, lons, lats, have = flat.area / ((x1 - x0) * (y1 - y0)), 0, [], [], 0
    for _ in range(max_rounds):
        k = min(int((number - have) / max(rate, 1e-4) * 1.2) + 16, 2_000_000)
        x, y = x0 + (x1 - x0) * np.random.random_sample(k), y0 + (y1 - y0) * np.random.random_sample(k)
        inside = shapely.contains_xy(flat, x, y)
        lon, lat = inv.transform(x[inside], y[inside])
        keep = ~_on_land(lon, lat) if sea_only else np.ones(lon.shape, bool)
        lons.append(lon[keep])
        lats.append(lat[keep])
        drawn, have = drawn + k, have + int(keep.sum())
        rate = max(have / drawn, 1e-6)
        if have >= number:
            return np.concatenate(lons)[:number], np.concatenate(lats)[:number]
    raise InvalidJob(f"area has too little sea to seed {number} particles (sea fraction about {rate:.1e})")


def _on_land(lon, lat):
    """OpenDrift's global landmask at the given positions (boolean array)."""
    import numpy as np
    from opendrift.readers.reader_global_landmask import get_mask

    lon, lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    if lon.size == 0:
        return np.zeros(0, bool)
    return np.asarray(get_mask().contains_many(lon, lat), bool)
