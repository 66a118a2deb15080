"""animation.mp4 and preview.png: particles drawn onto a pre-rendered static map (no per-frame map drawing)."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import imageio_ffmpeg
import numpy as np
import shapely
from PIL import Image, ImageDraw

from driftline.geodesy import NM2_PER_KM2
from driftline.products.areas import SearchArea, iso
from driftline.products.density import Density
from driftline.products.grid import present_positions
from driftline.products.mapview import INK, TITLE_BG, MapView, draw_title, font
from driftline.products.overlays import DATUM_RGB, SHORE_RGB, draw_datums, draw_north_arrow, draw_shoreline
from driftline.trajectory import STRANDED, Trajectories

if TYPE_CHECKING:
    from driftline.products.meta import ProductMeta

ACTIVE_RGB, STRANDED_RGB, TRACK_RGB = (10, 30, 110), (220, 0, 140), (0, 150, 60)
AREA_RGB = {0.5: (220, 20, 20), 0.9: (255, 130, 0), 0.95: (225, 185, 0)}
PRESET, CRF = "ultrafast", 26  # x264: ~6 ms a 960x720 frame on one thread (superfast ~10 ms, files ~30 % smaller)
QUEUE_BYTES = 128 * 2**20  # raw frames waiting for the encoder: a 49-frame animation is ~100 MB
DOT = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # 3x3 px particle dot


def titles(meta: ProductMeta, subtitle_px: int = 900) -> tuple[str, str]:
    """(title, subtitle); backward runs say origin probability; the subtitle is cut to fit subtitle_px."""
    what = "Origin probability (backward run)" if meta.direction == "backward" else "Drift forecast"
    sub, f = meta.object_description, font(13)
    if meta.title:  # what drifts (another model, drifter correction): it leads, the mission id moves down
        sub = f"Mission {meta.mission_id} - {sub}"
    while sub and f.getlength(sub) > subtitle_px:
        sub = sub[: int(len(sub) * subtitle_px / f.getlength(sub)) - 2].rstrip() + "…"
    return meta.title or f"Mission {meta.mission_id} - {what}", sub


def lkp_label(meta: ProductMeta) -> str:
    return "Found" if meta.direction == "backward" else "LKP"


def utc(t: np.datetime64) -> str:
    return iso(t).replace("T", " ").replace("Z", " UTC")


DOTS_BY_MASK_MIN = 20000  # particles from which a frame's dots are painted through a pixel mask (fewer writes)


def draw_particles(arr: np.ndarray, view: MapView, lon: np.ndarray, lat: np.ndarray, stranded: np.ndarray) -> None:
    """Paint 3x3 dots into an (H, W, 3) frame array in place, floating first and stranded on top."""
    for pixels, rgb in particle_pixels(arr.shape[:2], view, lon, lat, stranded):
        arr[pixels] = rgb


def particle_pixels(
    shape: tuple[int, int], view: MapView, lon: np.ndarray, lat: np.ndarray, stranded: np.ndarray
) -> list[tuple[tuple[np.ndarray, np.ndarray] | np.ndarray, tuple[int, int, int]]]:
    """The 3x3 dots of the floating and then of the stranded particles, with their colours: (rows, columns), or
    from DOTS_BY_MASK_MIN particles on an (H, W) mask (a frame's worth of pixel indices would be larger)."""
    x, y = view.px(lon, lat)
    ok = np.isfinite(x) & np.isfinite(y)
    by_mask = np.count_nonzero(ok) >= DOTS_BY_MASK_MIN
    out = []
    for sel, rgb in ((ok & ~stranded, ACTIVE_RGB), (ok & stranded, STRANDED_RGB)):
        xi, yi = np.floor(x[sel]).astype(np.int64), np.floor(y[sel]).astype(np.int64)
        out.append((_dots_by_mask(shape, view, xi, yi) if by_mask else _dots(shape, view, xi, yi), rgb))
    return out


def _dots(shape: tuple[int, int], view: MapView, xi: np.ndarray, yi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    yy, xx = (yi[None, :] + np.array(DOT)[:, :1]).ravel(), (xi[None, :] + np.array(DOT)[:, 1:]).ravel()
    inside = (yy >= view.top) & (yy < h) & (xx >= 0) & (xx < w)
    return yy[inside], xx[inside]


def _dots_by_mask(shape: tuple[int, int], view: MapView, xi: np.ndarray, yi: np.ndarray) -> np.ndarray:
    """The same pixels as `_dots`, as an (H, W) mask: centres marked once on a 1-px padded canvas, grown to 3x3.

    With tens of thousands of particles most dots overlap: one scatter and nine shifted ORs of the frame
    are cheaper than nine fancy-indexed writes per particle (50000 particles: ~20 ms -> ~4 ms a frame).
    """
    h, w = shape
    xi, yi = xi + 1, yi + 1
    near = (yi >= 0) & (yi <= h + 1) & (xi >= 0) & (xi <= w + 1)  # a centre one pixel off still paints inside
    centres = np.zeros((h + 2, w + 2), dtype=bool)
    centres[yi[near], xi[near]] = True
    dots = np.zeros((h, w), dtype=bool)
    for dy, dx in DOT:
        dots |= centres[1 - dy : h + 1 - dy, 1 - dx : w + 1 - dx]
    dots[: view.top] = False
    return dots


def draw_track(draw: ImageDraw.ImageDraw, view: MapView, dens: Density, upto: int) -> None:
    """Centre track from the first output time to `upto` (inclusive)."""
    xy = np.column_stack(view.px(dens.centre_lon[: upto + 1], dens.centre_lat[: upto + 1]))
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) >= 2:
        draw.line([tuple(p) for p in xy], fill=TRACK_RGB, width=2)


def _status(traj: Trajectories, t: int) -> str:
    hours = abs(float((traj.times[t] - traj.times[0]) / np.timedelta64(1, "s"))) / 3600
    sign = "-" if traj.times[-1] < traj.times[0] else "+"
    c = traj.counts(t)
    return f"{utc(traj.times[t])} ({sign}{hours:.1f} h)   floating {c['active']}, stranded {c['stranded']}"


def track_pixels(view: MapView, dens: Density) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels (y, x) of the centre track and the output index from which each is shown (rasterised once)."""
    canvas = Image.new("I", (view.width, view.top + view.height), 0)
    draw = ImageDraw.Draw(canvas)
    xy = np.column_stack(view.px(dens.centre_lon, dens.centre_lat))
    for t in range(1, len(xy)):
        if np.isfinite(xy[t - 1 : t + 1]).all():
            draw.line([tuple(xy[t - 1]), tuple(xy[t])], fill=t, width=2)
    shown_from = np.asarray(canvas)
    yy, xx = np.nonzero(shown_from)
    return yy, xx, shown_from[yy, xx]


Patches = list  # [(pixel selection, colour or array)] drawn over the background, in painting order


def frame_patches(traj: Trajectories, dens: Density, view: MapView) -> Iterator[Patches]:
    """What each output time's frame draws over the background: particle dots, track so far, timestamp."""
    lon, lat = present_positions(traj)
    stranded = traj.state == STRANDED
    ty, tx, t_from = track_pixels(view, dens)
    f, strip_w = font(14), view.width // 2
    strip_at = (slice(30, 50), slice(view.width - strip_w, view.width))
    shape = (view.top + view.height, view.width)
    for t in range(traj.num_times):
        patches = particle_pixels(shape, view, lon[:, t], lat[:, t], stranded[:, t])
        on = t_from <= t
        patches.append(((ty[on], tx[on]), TRACK_RGB))
        strip = Image.new("RGB", (strip_w, 20), TITLE_BG)
        text = _status(traj, t)
        ImageDraw.Draw(strip).text((strip_w - 8 - f.getlength(text), 2), text, fill=INK, font=f)
        patches.append((strip_at, np.asarray(strip)))
        yield patches


def frames(traj: Trajectories, dens: Density, view: MapView, bg: Image.Image) -> Iterator[np.ndarray]:
    """One RGB24 frame per output time (the same array each time, redrawn: copy what is kept)."""
    canvas = Canvas(np.asarray(bg))
    for patches in frame_patches(traj, dens, view):
        yield canvas.draw(patches)


class Canvas:
    """One frame array redrawn for each frame: what the previous frame drew is set back to the background, then
    the new patches are painted. A new 2 MB frame copied (and faulted in) for every frame was a third of a small
    mission's frame time; here the encoder's writer thread does it, off the job's main thread."""

    FULL_COPY_SHARE = 0.1  # beyond this share of a frame's pixels drawn, copying the whole background is cheaper

    def __init__(self, base: np.ndarray) -> None:
        self.base = np.ascontiguousarray(base, dtype=np.uint8)
        self.arr = self.base.copy()
        self._drawn: list = []

    def draw(self, patches: Patches) -> np.ndarray:
        if sum(_size(sel) for sel in self._drawn) > self.FULL_COPY_SHARE * self.base.shape[0] * self.base.shape[1]:
            np.copyto(self.arr, self.base)
        else:
            for sel in self._drawn:
                self.arr[sel] = self.base[sel]
        self._drawn = [sel for sel, _ in patches]
        for sel, value in patches:
            self.arr[sel] = value
        return self.arr


def _size(sel) -> int:
    if isinstance(sel, np.ndarray):  # a mask over the whole frame: undone by copying the background
        return sel.size
    if isinstance(sel[0], slice):
        return (sel[0].stop - sel[0].start) * (sel[1].stop - sel[1].start)
    return sel[0].size


def start_animation(
    path: Path,
    traj: Trajectories,
    dens: Density,
    view: MapView,
    bg: Image.Image,
    meta: ProductMeta,
    preset: str = PRESET,
    crf: int = CRF,
    queue_bytes: int = QUEUE_BYTES,
    paint_in_writer: bool = True,
) -> Encoding:
    """Stream one frame per output time to imageio-ffmpeg's H.264 encoder (yuv420p, +faststart); return while
    ffmpeg may still be encoding (`.finish()` gives the file).

    The encoder is the slow side (~6 ms a frame against ~3 ms to draw one): frames wait in a bounded queue that
    a writer thread empties into ffmpeg's stdin (the writes release the GIL), so the caller can build the other
    products while ffmpeg encodes on the other core. With `paint_in_writer` the queue holds what each frame
    draws over the background and the writer paints it on its one frame array (the caller's time: A's frames
    50 -> 28 ms); without, the caller paints and queues copies (a process doing nothing else, where the two
    threads would only contend for the GIL). `Encoding.finish()` waits for the file.
    """
    bg = draw_title(bg.copy(), *titles(meta, view.width // 2 - 24))
    fps = min(24, max(4, traj.num_times // 8))
    canvas = Canvas(np.asarray(bg))
    encoding = Encoding(
        path, _start_ffmpeg(path, bg.size, fps, preset, crf), max(2, queue_bytes // (3 * bg.width * bg.height)),
        canvas if paint_in_writer else None,
    )  # fmt: skip
    try:
        for patches in frame_patches(traj, dens, view):
            encoding.put(patches if paint_in_writer else canvas.draw(patches).copy())
        encoding.put(None)
    except BaseException:
        encoding.abort()
        raise
    return encoding


class Encoding:
    """An ffmpeg process fed from a bounded queue by a writer thread: raw frames, or with a canvas each frame's
    patches, painted on it (None ends the stream)."""

    def __init__(self, path: Path, encoder: subprocess.Popen, max_frames: int, canvas: Canvas | None = None) -> None:
        self.path, self.encoder, self._canvas = path, encoder, canvas
        self._frames: queue.Queue[Patches | np.ndarray | None] = queue.Queue(max_frames)
        self._error: BaseException | None = None
        self._finished = False
        self._writer = threading.Thread(target=self._write, name="ffmpeg-writer", daemon=True)
        self._writer.start()

    def put(self, frame: Patches | np.ndarray | None) -> None:
        """Queue a frame or its patches (blocks while the queue is full); raise if the writer has failed."""
        while True:
            if self._error is not None:
                raise RuntimeError(f"ffmpeg stopped reading frames: {self._error}") from self._error
            try:
                return self._frames.put(frame, timeout=0.5)
            except queue.Full:
                continue

    def _write(self) -> None:
        try:
            while (frame := self._frames.get()) is not None:
                self.encoder.stdin.write(memoryview(frame if self._canvas is None else self._canvas.draw(frame)))
            self.encoder.stdin.close()
        except Exception as e:  # noqa: BLE001 - a broken pipe or a failed drawing: reported by put() and finish()
            self._error = e

    def finish(self) -> Path:
        """Wait for ffmpeg to write the file; raise (and leave no file) if it failed."""
        try:
            self._writer.join()
            if self._error is not None and self.encoder.poll() is None:  # ffmpeg would wait for stdin forever
                raise RuntimeError(f"ffmpeg stopped reading frames: {self._error}") from self._error
            errors = self.encoder.stderr.read().decode(errors="replace").strip()
            if self.encoder.wait(timeout=120) != 0:
                raise RuntimeError(f"ffmpeg failed ({self.encoder.returncode}): {errors[-300:]}")
            if self._error is not None:
                raise RuntimeError(f"ffmpeg stopped reading frames: {self._error}") from self._error
        except BaseException:
            self.abort()
            raise
        self._finished = True
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and the writer and remove any partial file; nothing once finish() has succeeded."""
        if self._finished:
            return
        self.encoder.kill()
        if self._writer.is_alive():
            with contextlib.suppress(queue.Full):
                self._frames.put_nowait(None)
            self._writer.join(timeout=5)
        self.encoder.wait()
        self.path.unlink(missing_ok=True)


def _start_ffmpeg(path: Path, size: tuple[int, int], fps: int, preset: str, crf: int) -> subprocess.Popen:
    """H.264 encoder reading raw RGB frames on stdin; the binary is imageio-ffmpeg's.

    Started with a plain Popen (posix_spawn/vfork) rather than imageio_ffmpeg.write_frames, whose
    preexec_fn forces a full fork of this 2.5 GB process (~0.1-0.25 s per job).
    """
    width, height = size
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-vcodec",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        str(fps),
        "-i",
        "-",
        "-an",
        "-vcodec",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        preset,
        "-crf",
        str(crf),
        # One encoder thread: frames are small and few, the job's other work (or another job) has the
        # other core, and x264's frame threads only add synchronisation (25 frames: 0.17 -> 0.13 s).
        "-threads",
        "1",
        "-movflags",
        "+faststart",
        str(path),
    ]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _rings(geom: shapely.Geometry) -> list[np.ndarray]:
    polys = getattr(geom, "geoms", [geom])
    return [np.asarray(r.coords) for p in polys if not p.is_empty for r in (p.exterior, *p.interiors)]


def _legend(draw: ImageDraw.ImageDraw, view: MapView, area: SearchArea | None) -> None:
    rows = [
        (f"{round(lv * 100)} % area  {km2:.2f} km² ({km2 * NM2_PER_KM2:.2f} NM²)", "line", AREA_RGB[lv])
        for lv, km2 in area.area_km2.items()
    ]
    rows += [("floating", "dot", ACTIVE_RGB), ("stranded", "dot", STRANDED_RGB), ("centre track", "line", TRACK_RGB)]
    rows += [
        ("datum (each search-area time)", "dot", DATUM_RGB),
        ("shoreline segment (rank, share)", "line", SHORE_RGB),
    ]
    x0, y0 = view.width - 300, view.top + 10
    draw.rectangle((x0, y0, x0 + 290, y0 + 10 + 20 * len(rows)), fill=(255, 255, 255), outline=INK)
    for i, (text, kind, rgb) in enumerate(rows):
        y = y0 + 15 + 20 * i
        if kind == "line":
            draw.line([(x0 + 8, y), (x0 + 32, y)], fill=rgb, width=3)
        else:
            draw.rectangle((x0 + 18, y - 1, x0 + 20, y + 1), fill=rgb)
        draw.text((x0 + 40, y - 8), text, fill=INK, font=font(13))


def render_preview(
    path: Path, traj: Trajectories, dens: Density, view: MapView, bg: Image.Image, meta: ProductMeta,
    final: SearchArea, areas: list[SearchArea] = (), shoreline: dict | None = None,
) -> Path:  # fmt: skip
    """Final situation: particles, 95/90/50 % outlines, centre track, shoreline segments, the datum of every
    search-area time (parts at the final one), north arrow, legend; the title says what and when."""
    t = traj.num_times - 1
    title, subtitle = titles(meta)
    noun = "origin areas" if meta.direction == "backward" else "search areas"
    arr = np.asarray(draw_title(bg.copy(), f"{title}: {noun} at {utc(traj.times[t])}", subtitle)).copy()
    lon, lat = present_positions(traj)
    draw_particles(arr, view, lon[:, t], lat[:, t], traj.state[:, t] == STRANDED)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    draw_track(draw, view, dens, t)
    for level in sorted(final.regions, reverse=True):
        for ring in _rings(final.regions[level]):
            draw.line(
                [tuple(p) for p in np.column_stack(view.px(ring[:, 0], ring[:, 1]))], fill=AREA_RGB[level], width=2
            )
    draw_shoreline(draw, view, shoreline)
    draw_datums(draw, view, datum_marks(areas or [final]))
    draw_north_arrow(draw, view)
    _legend(draw, view, final)
    if meta.search_plan:
        draw_search_plan(draw, view, meta.search_plan)
    img.save(path)
    return path


def datum_marks(areas: list[SearchArea]) -> list[tuple[float, float, str, bool]]:
    """(lat, lon, label, major) of each search-area time's datum; the last time's parts too, labelled by share."""
    marks = [(a.datum[0], a.datum[1], f"{a.time[11:16]}Z", a is areas[-1]) for a in areas if a.datum]
    if areas:
        marks += [(p["lat"], p["lon"], f"part {p['share']:.0%}", False) for p in areas[-1].parts]
    return marks


PLAN_RGB = [(0, 120, 215), (180, 0, 180), (0, 140, 0), (72, 61, 139), (0, 140, 140)]
DONE_RGB = (128, 128, 128)


def draw_search_plan(draw: ImageDraw.ImageDraw, view: MapView, fc: dict) -> None:
    """Searches done (grey), each unit's rectangle and parallel-sweep track, and a legend (bottom left) with each
    unit's mid-search time (the rectangle is placed on the cloud of that time, not of the map's) and POS."""
    units: list[str] = []
    for feat in fc["features"]:
        props = feat["properties"]
        lines = _lines_of(feat["geometry"])
        if props["kind"] == "search_done":
            for line in lines:
                _polyline(draw, view, line, DONE_RGB, 2)
            continue
        units += [props["unit"]] if props["unit"] not in units else []
        rgb = PLAN_RGB[units.index(props["unit"]) % len(PLAN_RGB)]
        for line in lines:
            _polyline(draw, view, line, rgb, 3 if props["kind"] == "search_rectangle" else 1)
    rows = [
        (
            f"{f['properties']['unit'][:16]} {f['properties']['mid_time'][11:16]}Z  POS {f['properties']['pos']:.2f}",
            PLAN_RGB[i % len(PLAN_RGB)],
        )
        for i, f in enumerate(f for f in fc["features"] if f["properties"]["kind"] == "search_rectangle")
    ]
    if "cumulative_pos" in fc["properties"]:
        rows.append((f"plan POS {fc['properties']['cumulative_pos']:.2f}", INK))
    x0, y1 = 10, view.top + view.height - 10
    y0 = y1 - 10 - 20 * len(rows)
    if rows:
        draw.rectangle((x0, y0, x0 + 250, y1), fill=(255, 255, 255), outline=INK)
    for i, (text, rgb) in enumerate(rows):
        y = y0 + 15 + 20 * i
        draw.line([(x0 + 8, y), (x0 + 32, y)], fill=rgb, width=3)
        draw.text((x0 + 40, y - 8), text, fill=INK, font=font(13))


def _lines_of(geom: dict) -> list[list]:
    """Outer rings and lines of a (Multi)Polygon or (Multi)LineString (plans cut at the antimeridian are Multi*)."""
    kind, coords = geom["type"], geom["coordinates"]
    return {"Polygon": [coords[0]] if coords else [], "MultiPolygon": [p[0] for p in coords],
            "LineString": [coords], "MultiLineString": list(coords)}.get(kind, [])  # fmt: skip


def _polyline(draw: ImageDraw.ImageDraw, view: MapView, coords: list, rgb: tuple, width: int) -> None:
    xy = np.column_stack(view.px(np.array([c[0] for c in coords]), np.array([c[1] for c in coords])))
    if np.isfinite(xy).all() and len(xy) >= 2:
        draw.line([tuple(p) for p in xy], fill=rgb, width=width)
