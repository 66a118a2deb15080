"""search_area.geojson: last known position, centre track and the 50/90/95 % areas as one FeatureCollection."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely

from driftline.products.areas import SearchArea, iso
from driftline.products.density import Density

if TYPE_CHECKING:
    from driftline.products import ProductMeta


def geometry_json(geom: shapely.Geometry) -> dict:
    """GeoJSON geometry with [lon, lat] rounded to 6 decimals and RFC 7946 ring orientation."""
    geom = shapely.transform(geom, lambda c: np.round(c, 6))
    if isinstance(geom, (shapely.Polygon, shapely.MultiPolygon)):
        geom = shapely.orient_polygons(geom, exterior_cw=False)
    return json.loads(shapely.to_geojson(geom))


def feature(geom: shapely.Geometry, **props: object) -> dict:
    return {"type": "Feature", "geometry": geometry_json(geom), "properties": props}


def area_label(meta: ProductMeta, level: float) -> str:
    noun = "origin area" if meta.direction == "backward" else "search area"
    return f"{round(level * 100)} % {noun}"


def feature_collection(meta: ProductMeta, dens: Density, areas: list[SearchArea]) -> dict:
    """All search-planning features; areas drawn largest first so the 50 % region ends on top."""
    backward = meta.direction == "backward"
    start = meta.start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kind = "found_position" if backward else "last_known_position"
    feats = [
        feature(
            shapely.Point(meta.lkp_lon, meta.lkp_lat),
            kind=kind,
            name="Found position" if backward else "Last known position",
            time=start,
        )
    ]
    ok = np.isfinite(dens.centre_lat)
    if ok.sum() >= 2:
        line = shapely.LineString(np.column_stack([dens.centre_lon[ok], dens.centre_lat[ok]]))
        name = "Centre of the origin cloud (backward in time)" if backward else "Drift of the particle-cloud centre"
        feats.append(feature(line, kind="centre_track", name=name, times=[iso(t) for t in dens.times[ok]]))
    for sa in areas:
        for level in sorted(sa.regions, reverse=True):
            feats.append(
                feature(
                    sa.regions[level],
                    kind="search_area",
                    name=f"{area_label(meta, level)} {sa.time}",
                    probability=level,
                    time=sa.time,
                    area_km2=round(sa.area_km2[level], 4),
                    direction=meta.direction,
                )
            )
    return {
        "type": "FeatureCollection",
        "properties": {"mission_id": meta.mission_id, "direction": meta.direction, "object": meta.object_description},
        "features": feats,
    }


def write_geojson(path: Path, fc: dict) -> Path:
    path.write_text(json.dumps(fc, separators=(",", ":")))
    return path
