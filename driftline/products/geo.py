"""Output geometry: longitudes within ±180 (RFC 7946 §3.1.9 antimeridian cut), no holes, degrees-decimal-minutes."""

from __future__ import annotations

import math

import numpy as np
import shapely

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
