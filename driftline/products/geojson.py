"""search_area.geojson and shoreline.geojson: RFC 7946 FeatureCollections, cut at the antimeridian."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely

from driftline.geodesy import NM2_PER_KM2, output_geometry, position
from driftline.products.areas import COMPUTED_OVER, SearchArea, iso
from driftline.products.density import Density
from driftline.products.shoreline import Segment

if TYPE_CHECKING:
    from driftline.products.meta import ProductMeta


def geometry_json(geom: shapely.Geometry) -> dict:
    """GeoJSON geometry: longitudes within ±180 (cut at the antimeridian), 6 decimals, RFC 7946 ring orientation."""
    return json.loads(shapely.to_geojson(output_geometry(geom)))


def feature(geom: shapely.Geometry, **props: object) -> dict:
    return {"type": "Feature", "geometry": geometry_json(geom), "properties": props}


def area_label(meta: ProductMeta, level: float) -> str:
    noun = "origin area" if meta.direction == "backward" else "search area"
    return f"{round(level * 100)} % {noun}"


def _area_features(meta: ProductMeta, sa: SearchArea) -> list[dict]:
    """The datum (and each part's datum when the cloud has split), then the areas largest first."""
    if sa.datum is None:
        return []
    floating = sa.shares.get("floating", 1.0)
    feats = [
        feature(
            shapely.Point(sa.datum[1], sa.datum[0]),
            kind="datum",
            name=f"Datum {sa.time}",
            time=sa.time,
            share=floating,
            **position(*sa.datum),
        )
    ]
    for i, part in enumerate(sa.parts, 1):
        feats.append(
            feature(
                shapely.Point(part["lon"], part["lat"]),
                kind="datum_part",
                name=f"Datum of part {i} {sa.time}",
                time=sa.time,
                share=round(part["share"], 6),
                **position(part["lat"], part["lon"]),
            )
        )
    for level in sorted(sa.regions, reverse=True):
        feats.append(
            feature(
                sa.regions[level],
                kind="search_area",
                name=f"{area_label(meta, level)} {sa.time}",
                probability=level,
                computed_over=COMPUTED_OVER,
                share_floating=floating,
                probability_of_total=round(level * floating, 6),
                time=sa.time,
                area_km2=round(sa.area_km2[level], 4),
                area_nm2=round(sa.area_km2[level] * NM2_PER_KM2, 4),
                pieces=sa.pieces(level),
                datum=position(*sa.datum),
                direction=meta.direction,
            )
        )
    return feats


def feature_collection(meta: ProductMeta, dens: Density, areas: list[SearchArea]) -> dict:
    """All search-planning features; areas drawn largest first so the 50 % region ends on top."""
    backward = meta.direction == "backward"
    start = meta.start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kind = "found_position" if backward else "last_known_position"
    name = "Found position" if backward else "Last known position"
    feats = [
        feature(
            shapely.Point(meta.lkp_lon, meta.lkp_lat), kind=kind, name=name, time=start,
            **position(meta.lkp_lat, meta.lkp_lon),
        )
    ]  # fmt: skip
    ok = np.isfinite(dens.centre_lat)
    if ok.sum() >= 2:
        line = shapely.LineString(np.column_stack([dens.centre_lon[ok], dens.centre_lat[ok]]))
        name = "Centre of the origin cloud (backward in time)" if backward else "Drift of the particle-cloud centre"
        feats.append(feature(line, kind="centre_track", name=name, times=[iso(t) for t in dens.times[ok]]))
    for sa in areas:
        feats.extend(_area_features(meta, sa))
    return {
        "type": "FeatureCollection",
        "properties": {"mission_id": meta.mission_id, "direction": meta.direction, "object": meta.object_description},
        "features": feats,
    }


def shoreline_collection(meta: ProductMeta, segments: list[Segment], stranded_share: float) -> dict:
    """Coast segments ranked by stranding probability; their probabilities sum to `stranded_share`."""
    return {
        "type": "FeatureCollection",
        "properties": {
            "mission_id": meta.mission_id,
            "direction": meta.direction,
            "object": meta.object_description,
            "stranded_share": round(stranded_share, 6),
        },
        "features": [feature(s.geometry, **s.properties()) for s in segments],
    }


def write_geojson(path: Path, fc: dict) -> Path:
    path.write_text(json.dumps(fc, separators=(",", ":")))
    return path
