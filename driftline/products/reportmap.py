"""The report's map (PNG bytes): coast, floating probability shading, 50/90/95 % areas, datums, the units' areas
and patterns, shoreline segments, scale bar and north arrow, at one search-area time."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw

from driftline.products.geotiff import floating_bands
from driftline.products.grid import unwrap_lon
from driftline.products.mapview import INK, LandFn, MapView, background, draw_title, font, land_raster, map_view
from driftline.products.mission_view import AreaTime, MissionView
from driftline.products.overlays import draw_datums, draw_north_arrow, draw_shoreline
from driftline.products.render import AREA_RGB, draw_search_plan

SHADE = colormaps["Purples"]
_SHADE_LUT = SHADE(np.arange(SHADE.N))[:, :3]  # SHADE(x) is row int(x * N) of this table (x < 1)
MAX_ALPHA = 0.8


def shown_area(view: MissionView) -> AreaTime | None:
    """With units, the search-area time nearest to the middle of their searches; else the last one."""
    mids = sorted(u.mid for u in view.units if u.mid)
    return view.area_near(mids[len(mids) // 2] if mids else None)


def _coords(geom: dict | None) -> np.ndarray:
    nums: list[float] = []

    def walk(c):
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], (int, float)):
            nums.extend(c[:2])
        elif isinstance(c, (list, tuple)):
            for x in c:
                walk(x)

    walk((geom or {}).get("coordinates", []))
    return np.asarray(nums, float).reshape(-1, 2)


def _extent_points(view: MissionView, area: AreaTime | None, plan_fc: dict | None, shore_fc: dict | None) -> np.ndarray:
    pts = [np.array([[view.lkp[1], view.lkp[0]]])]
    if area is not None:
        pts += [_coords(g) for g in area.regions.values()]
        pts += [np.array([[a.datum[1], a.datum[0]]]) for a in view.areas if a.datum]
    for fc in (plan_fc, shore_fc):
        pts += [_coords(f.get("geometry")) for f in (fc or {}).get("features", [])]
    return np.vstack([p for p in pts if p.size])


def _shade(img: Image.Image, mv: MapView, density_nc: Path, when: datetime) -> None:
    """Blend the floating probability of the density.nc cell under each pixel over the map (in place).

    Colour and opacity are worked out once per cell, then gathered for the pixels over cells with probability
    (the map is equirectangular: a pixel's cell is its row's cell row and its column's cell column).
    """
    grid, bands = floating_bands(density_nc, [when])
    band = bands[0][2]
    top = float(band.max())
    if top <= 0:
        return
    lon, _ = mv.lonlat(np.arange(mv.width) + 0.5, np.zeros(mv.width))  # equirectangular: lon by column,
    _, lat = mv.lonlat(np.zeros(mv.height), np.arange(mv.height) + 0.5)  # lat by row
    lon = unwrap_lon(lon, grid["west"] + 0.5 * grid["nlon"] * grid["dlon"])
    nlat, nlon = grid["nlat"], grid["nlon"]
    col = np.floor((lon - grid["west"]) / grid["dlon"]).astype(np.int64)
    row = np.floor((grid["north"] - lat) / grid["dlat"]).astype(np.int64)
    col = np.where((col >= 0) & (col < nlon), col, nlon)  # off the grid: the transparent cell past the edge
    row = np.where((row >= 0) & (row < nlat), row, nlat)
    frac = np.sqrt(np.clip(band / top, 0, 1))  # square root: the tails stay visible
    alpha = np.zeros((nlat + 1, nlon + 1), np.float32)
    alpha[:nlat, :nlon] = MAX_ALPHA * frac * (band > 0)
    colour = np.zeros((nlat + 1, nlon + 1, 3), np.float32)
    colour[:nlat, :nlon] = _SHADE_LUT[np.minimum((0.35 + 0.65 * frac) * SHADE.N, SHADE.N - 1).astype(np.int64)] * 255
    cols, rows = np.flatnonzero(alpha.any(axis=0)[col]), np.flatnonzero(alpha.any(axis=1)[row])
    if cols.size == 0 or rows.size == 0:
        return
    x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    cells = (row[y0:y1, None], col[None, x0:x1])
    a = alpha[cells][..., None]
    arr = np.array(img)
    box = arr[mv.top + y0 : mv.top + y1, x0:x1]
    part = box.astype(np.float32)
    part += (colour[cells] - part) * a  # = part * (1 - a) + colour * a
    box[...] = part.astype(np.uint8)
    img.paste(Image.fromarray(arr))


def _areas(draw: ImageDraw.ImageDraw, mv: MapView, area: AreaTime) -> None:
    for level in ("95", "90", "50"):
        geom = area.regions.get(level)
        if not geom:
            continue
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        for ring in (r for p in polys for r in p):
            arr = np.asarray(ring, float)
            x, y = mv.px(arr[:, 0], arr[:, 1])
            draw.line(list(zip(x.tolist(), y.tolist())), fill=AREA_RGB[int(level) / 100], width=2)


def _legend(draw: ImageDraw.ImageDraw, mv: MapView, area: AreaTime | None) -> None:
    rows = [(f"{lv} % area {area.area_nm2.get(lv, 0):.1f} NM2", AREA_RGB[int(lv) / 100]) for lv in ("50", "90", "95")]
    rows += [("probability (darker = more)", tuple(int(255 * c) for c in SHADE(0.9)[:3]))]
    rows += [("datum", (0, 110, 40)), ("shoreline segment", (200, 0, 120))]
    x0, y0 = mv.width - 250, mv.top + 10
    draw.rectangle((x0, y0, x0 + 240, y0 + 10 + 20 * len(rows)), fill=(255, 255, 255), outline=INK)
    for i, (text, rgb) in enumerate(rows):
        y = y0 + 15 + 20 * i
        draw.line([(x0 + 8, y), (x0 + 32, y)], fill=rgb, width=4)
        draw.text((x0 + 40, y - 8), text, fill=INK, font=font(13))


def render_report_map(
    view: MissionView, density_nc: Path | None, area_fc: dict | None, plan_fc: dict | None, shore_fc: dict | None,
    land_fn: LandFn,
) -> tuple[bytes, AreaTime | None]:  # fmt: skip
    """PNG bytes of the map and the search-area time it shows."""
    area = shown_area(view)
    pts = _extent_points(view, area, plan_fc, shore_fc)
    mv = map_view(pts[:, 0], pts[:, 1], lkp=(view.lkp[1], view.lkp[0]), margin=0.12)
    label = "Found" if view.backward else "LKP"
    img = background(mv, land_raster(mv, land_fn), (view.lkp[1], view.lkp[0], label))
    when = area.time if area else None
    noun = "Origin" if view.backward else "Search"
    title = f"{noun} areas at {when:%Y-%m-%d %H:%M} UTC" if when else "No floating probability"
    draw_title(img, f"Mission {view.mission_id[:8]} - {title}", "; ".join(view.objects)[:120])
    if density_nc is not None and when is not None and Path(density_nc).exists():
        _shade(img, mv, Path(density_nc), when)
    draw = ImageDraw.Draw(img)
    if area is not None:
        _areas(draw, mv, area)
    draw_shoreline(draw, mv, shore_fc)
    marks = [(a.datum[0], a.datum[1], f"{a.time:%H%M}Z", a is area) for a in view.areas if a.datum]
    marks += [(p[0], p[1], "part", False) for p in (area.parts if area else [])]
    draw_datums(draw, mv, marks)
    if plan_fc:
        draw_search_plan(draw, mv, plan_fc)
    draw_north_arrow(draw, mv, mv.width - 280)
    _legend(draw, mv, area)
    buf = io.BytesIO()
    # Fast octree: a 255-colour palette in ~5 ms (median cut, PIL's ADAPTIVE, took ~20 ms for the same look)
    img.quantize(255, method=Image.Quantize.FASTOCTREE).save(buf, "PNG")
    return buf.getvalue(), area
