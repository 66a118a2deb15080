"""Map overlays shared by the preview and the report map: datums, shoreline segments, north arrow."""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from driftline.products.mapview import INK, MapView, font

DATUM_RGB = (0, 110, 40)
SHORE_RGB = (200, 0, 120)


def draw_datums(draw: ImageDraw.ImageDraw, view: MapView, datums: list[tuple[float, float, str, bool]]) -> None:
    """Diamonds at the datums (lat, lon, label, major): joined in time order; major ones larger and labelled."""
    marks = [(label, major, float(x), float(y)) for lat, lon, label, major in datums for x, y in [view.px(lon, lat)]]
    marks = [m for m in marks if np.isfinite(m[2:]).all()]
    if len(marks) >= 2:
        draw.line([m[2:] for m in marks], fill=DATUM_RGB, width=1)
    for label, major, x, y in marks:
        r = 7 if major else 4
        draw.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=DATUM_RGB, outline=(255, 255, 255))
        if label:
            _label(draw, (x + r + 3, y - 7), label)


def draw_shoreline(draw: ImageDraw.ImageDraw, view: MapView, fc: dict | None, labels: int = 5) -> None:
    """Shoreline segments (GeoJSON LineString or Point features) as thick lines, the first `labels` ranked."""
    for feat in (fc or {}).get("features", []):
        geom, props = feat.get("geometry") or {}, feat.get("properties") or {}
        lines = {"LineString": [geom.get("coordinates")], "MultiLineString": geom.get("coordinates")}.get(
            geom.get("type"), [[geom.get("coordinates")]] if geom.get("type") == "Point" else []
        )
        anchor = None
        for coords in lines:
            arr = np.asarray(coords, float).reshape(-1, 2)
            x, y = view.px(arr[:, 0], arr[:, 1])
            pts = [(float(a), float(b)) for a, b in zip(x, y) if np.isfinite(a) and np.isfinite(b)]
            if len(pts) >= 2:
                draw.line(pts, fill=SHORE_RGB, width=5)
            elif pts:
                draw.ellipse((pts[0][0] - 4, pts[0][1] - 4, pts[0][0] + 4, pts[0][1] + 4), fill=SHORE_RGB)
            anchor = anchor or (pts[0] if pts else None)
        rank = props.get("rank")
        if anchor and rank and rank <= labels:
            _label(draw, (anchor[0] + 6, anchor[1] + 4), f"S{rank} {props.get('probability', 0):.1%}")


def draw_north_arrow(draw: ImageDraw.ImageDraw, view: MapView, x: float | None = None, y: float | None = None) -> None:
    """A north arrow (the map is north-up: equirectangular) below the top-right corner of the map area."""
    x = view.width - 330 if x is None else x
    y = view.top + 14 if y is None else y
    draw.polygon([(x, y), (x + 9, y + 30), (x, y + 24)], fill=INK)
    draw.polygon([(x, y), (x - 9, y + 30), (x, y + 24)], fill=(255, 255, 255), outline=INK)
    draw.text((x - 5, y + 31), "N", fill=INK, font=font(14))


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str) -> None:
    f = font(12)
    box = draw.textbbox(xy, text, font=f)
    draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(255, 255, 255))
    draw.text(xy, text, fill=INK, font=f)
