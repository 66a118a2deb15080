"""Search-planning products from particle trajectories: density map, search areas and shoreline (GeoJSON/KML),
animation, preview.

`build_products` writes all six files and reports each one as soon as it is complete; the stage
functions (grid, density, highest-density regions, writers, renderers) are importable on their own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from driftline.products.areas import (
    LEVELS,
    MemberStats,
    SearchArea,
    area_time_indices,
    cells_area_km2,
    cells_polygon,
    compute_search_areas,
    iso,
    member_stats,
)
from driftline.products.density import Density, compute_density, write_density_nc
from driftline.products.forked import fork_call
from driftline.products.geojson import feature_collection, shoreline_collection, write_geojson
from driftline.products.grid import Grid, make_grid, present_positions
from driftline.products.hdr import highest_density_regions
from driftline.products.kml import write_kml
from driftline.products.mapview import LandFn, MapView, background, land_raster, map_view, opendrift_land
from driftline.products.meta import ProductMeta
from driftline.products.render import lkp_label, render_preview, start_animation
from driftline.products.scenarios import ScenarioStats, scenario_stats
from driftline.products.scenarios import features as scenario_features
from driftline.products.scenarios import summary_rows as scenario_rows
from driftline.products.scenarios import write_density_variables as write_scenario_variables
from driftline.products.shares import domain_warnings
from driftline.products.shoreline import shoreline_segments
from driftline.trajectory import Trajectories

__all__ = [
    "LEVELS", "Density", "Grid", "LandFn", "MapView", "MemberStats", "ProductMeta", "ProductReport", "SearchArea",
    "build_products", "cells_area_km2", "cells_polygon", "compute_density", "compute_search_areas",
    "feature_collection", "highest_density_regions", "make_grid", "member_stats", "render_preview", "start_animation",
    "shoreline_collection", "shoreline_segments", "write_density_nc", "write_geojson", "write_kml",
]  # fmt: skip

log = logging.getLogger(__name__)
# Particle positions (particles x output times) from which the animation is drawn in a forked child: below,
# its frames take a few tens of ms and the child would only compete with the job for the cores.
FORK_MIN_DOTS = 50_000
# ... and up to which: the child keeps the job's pre-fork pages alive, so what the job frees and reuses while it
# builds the other products is copied (50000 x 240 h: job PSS 371 -> 483-524 MB for ~2 s of its ~50 s).
FORK_MAX_DOTS = 2_000_000
# Raw frames the child may draw ahead of ffmpeg: nobody waits for the child to get ahead, and its memory adds
# to the job's (the job process's own queue lets it get back to the other products sooner: 128 MB).
CHILD_QUEUE_BYTES = 16 * 2**20
# ... and the job process's own queue above FORK_MAX_DOTS: there the frames are drawn faster than ffmpeg encodes
# them (~4 against ~6 ms), so 128 MB filled up and was the job's peak (50000 x 240 h: +70 MB over the density
# stage); the job now waits for the encoder for ~0.5 s instead.
LARGE_QUEUE_BYTES = 16 * 2**20


@dataclass
class ProductReport:
    """What was written, how long each stage took, and the numbers a coordinator sees first."""

    files: dict[str, Path] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    search_areas: list[dict] = field(default_factory=list)
    members: list[dict] = field(default_factory=list)
    grid: dict = field(default_factory=dict)
    shares: dict = field(default_factory=dict)  # times and, per state, the share at every output time
    shoreline: list[dict] = field(default_factory=list)
    scenarios: list[dict] = field(default_factory=list)  # per scenario: weights, centre, 90 % area, share
    scenario_stats: ScenarioStats | None = field(default=None, repr=False)
    animation: PendingAnimation | None = field(default=None, repr=False)  # see build_products


def build_products(
    traj: Trajectories,
    meta: ProductMeta,
    out_dir: Path,
    on_file: Callable[[str, Path], None] | None = None,
    *,
    land_fn: LandFn | None = None,
    outside_forcing: np.ndarray | None = None,
    defer_animation: bool = False,
) -> ProductReport:
    """Write all six product files into out_dir; call on_file(name, path) as soon as each is complete.

    With `defer_animation` it returns while the animation is still being made: the caller goes on with other
    work and then must call `report.animation.finish()` (which reports animation.mp4, or a warning) or
    `report.animation.cancel()`.

    The imagery (preview, animation) never fails the mission: errors there become report warnings.
    `land_fn` replaces OpenDrift's landmask (tests inject a cheap one); it cuts land out of the search areas
    and draws the map. `outside_forcing` is the (T,) share floating outside the forcing files (pipeline).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ProductReport()
    land_fn = land_fn or opendrift_land
    indices = area_time_indices(traj.times, meta.search_area_interval_hours, meta.search_area_times)

    def done(name: str, path: Path) -> None:
        report.files[name] = path
        if on_file is not None:
            on_file(name, path)

    with _timed(report, "density"):
        dens = _density(traj, meta, out_dir, report, done, indices, land_fn, outside_forcing)
    scene, encoding = None, None
    with _timed(report, "preview"), _imagery(report, "preview", meta):
        lon, lat = present_positions(traj)
        view = map_view(lon.ravel(), lat.ravel(), lkp=(meta.lkp_lon, meta.lkp_lat))
        scene = view, background(view, land_raster(view, land_fn), (meta.lkp_lon, meta.lkp_lat, lkp_label(meta)))
    try:
        with _timed(report, "animation"), _imagery(report, "animation", meta):
            if scene is None:
                raise RuntimeError("no map background (see the preview warning)")
            encoding = _animate(out_dir / "animation.mp4", traj, dens, scene, meta)
        with _timed(report, "search_areas"):
            areas, shore = _search_areas(traj, meta, out_dir, report, done, indices, dens, land_fn)
        with _timed(report, "preview"), _imagery(report, "preview", meta):
            if scene is not None:
                preview = render_preview(out_dir / "preview.png", traj, dens, *scene, meta, areas[-1], areas, shore)
                done("preview.png", preview)
        report.animation = PendingAnimation(report, encoding, done, meta)
        if not defer_animation:
            report.animation.finish()
    finally:
        if encoding is not None and report.animation is None:
            encoding.abort()  # a failure elsewhere: no ffmpeg left running (nothing once finished)
    return report


class PendingAnimation:
    """The animation being made: `finish()` waits for it (once) and reports the file or a warning; `cancel()`
    stops it (nothing once finished)."""

    def __init__(self, report: ProductReport, encoding, done: Callable[[str, Path], None], meta: ProductMeta):
        self._report, self._encoding, self._done, self._meta = report, encoding, done, meta

    def finish(self) -> None:
        encoding, self._encoding = self._encoding, None
        with _timed(self._report, "animation"), _imagery(self._report, "animation", self._meta):
            if encoding is not None:
                try:
                    path = encoding.finish()
                finally:
                    encoding.abort()  # nothing once finished; else no ffmpeg or child left running
                self._done("animation.mp4", path)

    def cancel(self) -> None:
        encoding, self._encoding = self._encoding, None
        if encoding is not None:
            encoding.abort()


def _animate(path: Path, traj: Trajectories, dens: Density, scene: tuple, meta: ProductMeta):
    """The animation, started before the search areas: drawn in a forked child (on the other core, beside the
    search areas and the preview), or here with ffmpeg encoding on the other core when no fork is allowed.
    Either has `finish()` (the file, or an error) and `abort()`."""
    if FORK_MIN_DOTS <= traj.lon.size <= FORK_MAX_DOTS:
        queue = CHILD_QUEUE_BYTES
        forked = fork_call(
            lambda: start_animation(path, traj, dens, *scene, meta, queue_bytes=queue, paint_in_writer=False).finish(),
            "animation",
        )
        if forked is not None:
            return forked
    if traj.lon.size > FORK_MAX_DOTS:
        return start_animation(path, traj, dens, *scene, meta, queue_bytes=LARGE_QUEUE_BYTES)
    return start_animation(path, traj, dens, *scene, meta)


def _search_areas(
    traj: Trajectories,
    meta: ProductMeta,
    out_dir: Path,
    report: ProductReport,
    done: Callable[[str, Path], None],
    indices: list[int],
    dens: Density,
    land_fn: LandFn,
) -> tuple[list[SearchArea], dict]:
    """Search areas and shoreline: search_area.geojson, shoreline.geojson, search_area.kml."""
    areas = compute_search_areas(traj, indices, dens.shares, land_fn)
    report.search_areas = [a.summary() for a in areas]
    fc = feature_collection(meta, dens, areas)
    fc["features"] += scenario_features(report.scenario_stats, traj.times, meta.direction)
    done("search_area.geojson", write_geojson(out_dir / "search_area.geojson", fc))
    segments = shoreline_segments(traj)
    report.shoreline = [s.properties() for s in segments]
    shore = shoreline_collection(meta, segments, float(dens.shares["stranded"][-1]))
    done("shoreline.geojson", write_geojson(out_dir / "shoreline.geojson", shore))
    done("search_area.kml", write_kml(out_dir / "search_area.kml", fc, meta, shore))
    return areas, shore


def _density(
    traj: Trajectories,
    meta: ProductMeta,
    out_dir: Path,
    report: ProductReport,
    done: Callable[[str, Path], None],
    indices: list[int],
    land_fn: LandFn,
    outside_forcing: np.ndarray | None,
) -> Density:
    """Grid, density, shares and member statistics; writes density.nc."""
    grid = make_grid(traj, meta.density_min_cells, meta.grid_resolution_m, (meta.lkp_lon, meta.lkp_lat))
    asked = meta.grid_resolution_m
    if asked and grid.resolution_m > asked * 1.001:
        report.warnings.append(f"grid_resolution_m {asked:g} m coarsened to {grid.resolution_m:.0f} m (grid size cap)")
    report.grid = grid.summary()
    dens = compute_density(traj, grid)
    dens.outside_forcing = outside_forcing
    report.shares = {
        "times": [iso(t) for t in traj.times],
        **{k: [round(float(x), 6) for x in v] for k, v in dens.shares.items()},
    }
    if outside_forcing is not None:
        report.shares["floating_outside_forcing"] = [round(float(x), 6) for x in outside_forcing]
    report.warnings.extend(domain_warnings(dens.shares, traj.times, outside_forcing))
    members = member_stats(traj, indices, land_fn)
    path = write_density_nc(out_dir / "density.nc", dens, meta, traj, members)
    report.scenario_stats = scenario_stats(traj, indices, land_fn, meta.scenarios)
    if report.scenario_stats is not None:
        write_scenario_variables(path, report.scenario_stats)
        report.scenarios = scenario_rows(report.scenario_stats, traj.times)
    done("density.nc", path)
    report.members = members.final(traj.times) if members is not None else []
    return dens


@contextmanager
def _timed(report: ProductReport, stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        report.timings_s[stage] = round(report.timings_s.get(stage, 0.0) + time.perf_counter() - start, 3)


@contextmanager
def _imagery(report: ProductReport, stage: str, meta: ProductMeta) -> Iterator[None]:
    """Turn any error of an imagery stage into a logged traceback and a report warning."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - imagery must not fail the mission
        log.exception("%s failed for mission %s", stage, meta.mission_id)
        report.warnings.append(f"{stage} failed: {' '.join(str(exc).split()) or type(exc).__name__}")
