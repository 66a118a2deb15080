"""Geodesy helpers and validation of GeoJSON search polygons (pure logic)."""

from __future__ import annotations

from typing import Any

from driftline.errors import InvalidJob


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
