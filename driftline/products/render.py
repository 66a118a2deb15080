"""animation.mp4 and preview.png: particles drawn onto a pre-rendered static map (no per-frame map drawing)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import imageio_ffmpeg
import numpy as np
import shapely
from PIL import Image, ImageDraw

from driftline.products.areas import SearchArea, iso
from driftline.products.density import Density
from driftline.products.mapview import INK, MapView, background, font
from driftline.trajectory import STRANDED, Trajectories

if TYPE_CHECKING:
    from driftline.products import ProductMeta

ACTIVE_RGB, STRANDED_RGB, TRACK_RGB = (10, 30, 110), (220, 0, 140), (0, 150, 60)
AREA_RGB = {0.5: (220, 20, 20), 0.9: (255, 130, 0), 0.95: (225, 185, 0)}
DOT = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # 3x3 px particle dot


def titles(meta: ProductMeta) -> tuple[str, str, str]:
    """(title, subtitle, LKP label) wording; backward runs say origin probability."""
    if meta.direction == "backward":
        what, lkp = "Origin probability (backward run)", "Found"
    else:
        what, lkp = "Drift forecast", "LKP"
    return f"Mission {meta.mission_id} - {what}", meta.object_description[:140], lkp


def draw_particles(arr: np.ndarray, view: MapView, lon: np.ndarray, lat: np.ndarray, stranded: np.ndarray) -> None:
    """Paint 3x3 dots into an (H, W, 3) frame array in place, active first and stranded on top."""
    x, y = view.px(lon, lat)
    ok = np.isfinite(x) & np.isfinite(y)
    h, w = arr.shape[:2]
    for sel, rgb in ((ok & ~stranded, ACTIVE_RGB), (ok & stranded, STRANDED_RGB)):
        xi, yi = x[sel].astype(np.int64), y[sel].astype(np.int64)
        for dy, dx in DOT:
            yy, xx = yi + dy, xi + dx
            inside = (yy >= view.top) & (yy < h) & (xx >= 0) & (xx < w)
            arr[yy[inside], xx[inside]] = rgb


def _status(traj: Trajectories, t: int) -> str:
    hours = abs(float((traj.times[t] - traj.times[0]) / np.timedelta64(1, "s"))) / 3600
    c = traj.counts(t)
    sign = "-" if traj.num_times > 1 and traj.times[-1] < traj.times[0] else "+"
    when = iso(traj.times[t]).replace("T", " ").replace("Z", " UTC")
    return f"{when} ({sign}{hours:.1f} h)   floating {c['active']}, stranded {c['stranded']}"


def _frames(traj: Trajectories, dens: Density, view: MapView, bg: Image.Image):
    """Yield one RGB frame (bytes) per output time."""
    base = np.asarray(bg).copy()
    track = np.column_stack(view.px(dens.centre_lon, dens.centre_lat))
    stranded = traj.state == STRANDED
    for t in range(traj.num_times):
        arr = base.copy()
        draw_particles(arr, view, dens_lon(traj, t), traj.lat[:, t], stranded[:, t])
        img = Image.fromarray(arr)
        draw = ImageDraw.Draw(img)
        pts = track[: t + 1][np.isfinite(track[: t + 1]).all(axis=1)]
        if len(pts) >= 2:
            draw.line([tuple(p) for p in pts], fill=TRACK_RGB, width=2)
        text = _status(traj, t)
        draw.text((view.width - 8 - draw.textlength(text, font=font(14)), 32), text, fill=INK, font=font(14))
        yield img.tobytes()


def dens_lon(traj: Trajectories, t: int) -> np.ndarray:
    """Longitudes of particles counted at t (NaN otherwise)."""
    present = traj.present(t)
    return np.where(present, traj.lon[:, t], np.nan)


def render_animation(
    path: Path, traj: Trajectories, dens: Density, view: MapView, bg: Image.Image, crf: int = 26
) -> Path:
    """Stream exactly one frame per output time to imageio-ffmpeg's H.264 encoder (yuv420p, faststart)."""
    fps = min(24, max(4, traj.num_times // 8))
    writer = imageio_ffmpeg.write_frames(
        str(path), bg.size, fps=fps, codec="libx264", quality=None, macro_block_size=16,
        output_params=["-preset", "veryfast", "-crf", str(crf), "-movflags", "+faststart"],
    )  # fmt: skip
    writer.send(None)
    try:
        for frame in _frames(traj, dens, view, bg):
            writer.send(frame)
    except BaseException:
        writer.close()
        path.unlink(missing_ok=True)
        raise
    writer.close()
    return path


def _rings(geom: shapely.Geometry) -> list[np.ndarray]:
    polys = getattr(geom, "geoms", [geom])
    return [np.asarray(r.coords) for p in polys if not p.is_empty for r in (p.exterior, *p.interiors)]


def _legend(draw: ImageDraw.ImageDraw, view: MapView, meta: ProductMeta, areas: SearchArea | None) -> None:
    rows = [(f"{round(lv * 100)} % area  {areas.area_km2[lv]:.2f} km²", "line", AREA_RGB[lv])
            for lv in sorted(areas.regions)] if areas else []  # fmt: skip
    rows += [("floating", "dot", ACTIVE_RGB), ("stranded", "dot", STRANDED_RGB), ("centre track", "line", TRACK_RGB)]
    f = font(13)
    x0, y0 = view.width - 230, view.top + 10
    draw.rectangle((x0, y0, x0 + 220, y0 + 10 + 20 * len(rows)), fill=(255, 255, 255), outline=INK)
    for i, (text, kind, rgb) in enumerate(rows):
        y = y0 + 15 + 20 * i
        if kind == "line":
            draw.line([(x0 + 8, y), (x0 + 32, y)], fill=rgb, width=3)
        else:
            draw.rectangle((x0 + 18, y - 2, x0 + 21, y + 1), fill=rgb)
        draw.text((x0 + 40, y - 8), text, fill=INK, font=f)


def render_preview(
    path: Path, traj: Trajectories, dens: Density, view: MapView, bg: Image.Image, meta: ProductMeta,
    final: SearchArea | None,
) -> Path:  # fmt: skip
    """Final situation: particles, 95/90/50 % outlines, centre track, legend; title says what and when."""
    arr = np.asarray(bg).copy()
    t = traj.num_times - 1
    draw_particles(arr, view, dens_lon(traj, t), traj.lat[:, t], traj.state[:, t] == STRANDED)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, view.width, view.top - 2), fill=(250, 250, 250))
    title, subtitle, _ = titles(meta)
    when = iso(traj.times[t]).replace("T", " ").replace("Z", " UTC")
    draw.text((8, 6), f"{title}, {'search areas' if meta.direction != 'backward' else 'origin areas'} at {when}",
              fill=INK, font=font(17))  # fmt: skip
    draw.text((8, 30), subtitle, fill=(80, 80, 80), font=font(13))
    track = np.column_stack(view.px(dens.centre_lon, dens.centre_lat))
    track = track[np.isfinite(track).all(axis=1)]
    if len(track) >= 2:
        draw.line([tuple(p) for p in track], fill=TRACK_RGB, width=2)
    if final is not None:
        for level in sorted(final.regions, reverse=True):
            for ring in _rings(final.regions[level]):
                xy = np.column_stack(view.px(ring[:, 0], ring[:, 1]))
                draw.line([tuple(p) for p in xy], fill=AREA_RGB[level], width=2, joint="curve")
    _legend(draw, view, meta, final)
    img.save(path, optimize=False)
    return path
