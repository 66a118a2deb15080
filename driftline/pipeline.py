"""One mission from validated job to stored files: forcing → simulation → products → uploads.

The same function serves the daemon's job process and `worker.py run` (local
directory instead of S3), so there is one pipeline, not two.
"""

from __future__ import annotations

import json
import logging
import platform
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from config import Settings
from driftline import __version__
from driftline.contract.params import Job, MissionParams
from driftline.errors import DriftError, InvalidJob
from driftline.models import OPENDRIFT_CLASSES, model_attrs, model_record, product_title, ship_warnings, what_drifts
from driftline.objects import ObjectStore, StoredObject
from driftline.scenarios import reach_m as scenarios_reach_m
from driftline.scenarios import scenario_weights
from driftline.search.mission import (
    SearchStage,
    prepare_search,
    search_summary,
    write_particle_weights,
    write_search_files,
)
from driftline.uncertainty import uncertainty_record

log = logging.getLogger(__name__)

# mission_results.kind for each file, and its key below {mission_id}/.
PRODUCT_KINDS = {
    "density.nc": "density",
    "search_area.geojson": "search_area",
    "search_area.kml": "search_area_kml",
    "shoreline.geojson": "shoreline",
    "animation.mp4": "animation",
    "preview.png": "preview",
    "summary.json": "summary",
    "search_plan.geojson": "search_plan",
    "search_plan.kml": "search_plan_kml",
    "sap.txt": "sap",  # the tasking products (driftline/products/tasking.py), built from the summary
    "search_plan.gpx": "search_plan_gpx",
    "waypoints.csv": "waypoints",
    "probability.tif": "probability_tif",
    "report.html": "report",
}


@dataclass
class MissionContext:
    settings: Settings
    objects: ObjectStore
    forcing: object  # driftline.forcing.ForcingContext
    progress: Callable[[float], None] | None = None
    attempt: int = 1
    worker_id: str = "local"


@dataclass
class MissionOutcome:
    stored: list[StoredObject]
    summary: dict
    warnings: list[str] = field(default_factory=list)


def run_mission(job: Job, ctx: MissionContext) -> MissionOutcome:
    """Run the whole mission; raise DriftError subclasses for failures users should see."""
    timings: dict[str, float] = {}
    p = job.params
    with tempfile.TemporaryDirectory(prefix=f"drift-{job.mission_id}-") as tmp, ThreadPoolExecutor(3) as pool:
        work = Path(tmp)
        clock = started = time.perf_counter()
        plans, member_names = _forcing_plans(p, ctx)
        log.info("Forcing for mission %s: %s", job.mission_id, " | ".join(plan.describe() for plan in plans))
        for seeding in (p, *(s.params for s in p.scenarios)):
            _check_area_not_on_land(seeding)
        timings["forcing"] = time.perf_counter() - clock

        from driftline.products.scenarios import write_particle_scenarios
        from driftline.simulation import simulate, write_trajectory_file

        warnings = _unique(ship_warnings(p) + [w for plan in plans for w in plan.warnings])
        particles, attrs = work / "particles.nc", _particles_attrs(job, plans, warnings)
        clock = time.perf_counter()
        progress = _scaled(ctx.progress, 0.0, 0.85)
        sim = simulate(p, plans, progress=progress, member_names=member_names, outfile=particles, attrs=attrs)
        timings["simulate"] = time.perf_counter() - clock
        prior = None if sim.trajectories.weight is None else sim.trajectories.weight.copy()
        search = _search(job, sim, plans, timings)
        scenarios = scenario_weights(p, sim.trajectories, prior)  # Bayes: the searches done update them too

        uploads: list[Future] = []
        put = _uploader(pool, uploads, ctx.objects, job.mission_id)
        clock = time.perf_counter()
        if not sim.streamed:
            write_trajectory_file(sim.members, particles, attrs)
        write_particle_weights(particles, sim.trajectories)
        write_particle_scenarios(particles, sim.trajectories, [s.name for s in p.scenarios])
        put("particles", "raw/particles.nc", particles)
        timings["write_particles"] = time.perf_counter() - clock

        report = _products(job, sim, plans, work / "products", put, ctx, search.fc, scenarios)
        try:
            write_search_files(search, work / "products", _product_put(put))
            timings.update({f"products.{k}": v for k, v in report.timings_s.items()})
            warnings = _unique(warnings + report.warnings + search.warnings)
            if ctx.progress:
                ctx.progress(0.95)

            clock = time.perf_counter()
            stored = [f.result() for f in uploads]  # re-raises upload errors
            timings["upload_wait"] = time.perf_counter() - clock
            timings["run_mission"] = time.perf_counter() - started  # the stages overlap (animation, uploads)
            summary = build_summary(job, ctx, sim, plans, report, stored, timings, warnings)
            summary.update(search_summary(search))
            stored += _tasking(job, ctx, summary, work / "products", pool)  # while the animation is finished
            stored += _animation(report, uploads, summary)
        finally:
            report.animation.cancel()  # an error above: no child or ffmpeg left behind (nothing once finished)
        warnings = summary["warnings"]
        summary_path = work / "summary.json"
        summary_path.write_text(json.dumps(summary, indent=2, sort_keys=False, default=str))
        stored.append(ctx.objects.put("summary", f"{job.mission_id}/products/summary.json", summary_path))
    return MissionOutcome(stored=stored, summary=summary, warnings=warnings)


def _search(job: Job, sim, plans, timings: dict[str, float]) -> SearchStage:
    """Searches done (weights), survival and the search plan, on the simulated particles."""
    clock = time.perf_counter()
    stage = prepare_search(job.mission_id, job.params, sim.trajectories, plans)
    timings["products.search_plan"] = time.perf_counter() - clock
    return stage


def _animation(report, uploads: list[Future], summary: dict) -> list:
    """Wait for the animation the products left running, upload it and add it (or its warning) to the summary."""
    clock, made = time.perf_counter(), len(uploads)
    before = len(report.warnings)
    report.animation.finish()
    stored = [f.result() for f in uploads[made:]]
    summary["products"] += [_product_entry(s) for s in stored]
    summary["warnings"] = _unique(summary["warnings"] + report.warnings[before:])
    timings = summary["timings_s"]
    timings["products.animation"] = round(timings.get("products.animation", 0.0) + time.perf_counter() - clock, 3)
    return stored


def _product_entry(s: StoredObject) -> dict:
    return {"kind": s.kind, "key": s.key, "uri": s.uri, "size_bytes": s.size_bytes, "sha256": s.sha256}


def _tasking(job: Job, ctx: MissionContext, summary: dict, out_dir: Path, pool: ThreadPoolExecutor) -> list:
    """SAP, report, GPX, CSV and GeoTIFF from the summary; uploaded (each while the next is built), listed in the
    summary's products and timed."""
    from driftline.products.tasking import build_tasking

    clock = time.perf_counter()
    uploads: list[Future] = []
    build_tasking(summary, out_dir, on_file=lambda n, path: uploads.append(
        pool.submit(ctx.objects.put, PRODUCT_KINDS[n], f"{job.mission_id}/products/{n}", path)))  # fmt: skip
    stored = [f.result() for f in uploads]  # in the order the files were made; re-raises upload errors
    summary["products"] += [_product_entry(s) for s in stored]
    summary["timings_s"]["products.tasking"] = round(time.perf_counter() - clock, 3)
    return stored


def _forcing_plans(p: MissionParams, ctx: MissionContext):
    from driftline.forcing import resolve_forcing
    from driftline.forcing.drifter_currents import add_drifter_currents
    from driftline.forcing.remote import seed_reach_m

    common = dict(lat=p.latitude, lon=p.longitude, start_time=p.start_time, end_time=p.end_of_run)
    common["reach_m"] = scenarios_reach_m(p, seed_reach_m)
    if not p.ensemble:
        plans = [resolve_forcing(ctx.forcing, wind=p.wind, current=p.current, forcing_uris=p.forcing, **common)]
        names = ["main"]
    else:
        plans = [
            resolve_forcing(ctx.forcing, wind=m.wind, current=m.current, forcing_uris=m.forcing, **common)
            for m in p.ensemble
        ]
        names = [f"member-{i + 1}" for i in range(len(plans))]
    for plan in plans:
        add_drifter_currents(plan, p.drifters)
    return plans, names


def _check_area_not_on_land(p: MissionParams) -> None:
    if p.area is None:
        return
    from driftline.geodesy import polygon_on_land

    if polygon_on_land(p.area):
        raise InvalidJob("area lies entirely on land")


def _uploader(pool: ThreadPoolExecutor, uploads: list[Future], objects: ObjectStore, mission_id: str):
    def put(kind: str, relative_key: str, path: Path) -> None:
        uploads.append(pool.submit(objects.put, kind, f"{mission_id}/{relative_key}", path))

    return put


def _particles_attrs(job: Job, plans, warnings: list[str]) -> dict:
    """particles.nc's global attributes added to OpenDrift's."""
    from driftline.release import describe_seeding

    p = job.params
    name = OPENDRIFT_CLASSES[p.model][1]
    return {
        "title": (f"Origin estimate (backward {name} run)" if p.backward else f"{name} drift prediction")
        + f" for mission {job.mission_id}",
        "history": f"Created by Driftline drift worker {__version__} with OpenDrift {name}",
        "driftline_mission_id": job.mission_id,
        "driftline_direction": p.direction,
        "driftline_scenario": describe_seeding(p),
        "driftline_object_type": _objects_text(p),
        "driftline_random_seed": p.random_seed,
        "driftline_forcing": " | ".join(plan.describe() for plan in plans),
        "driftline_warnings": "; ".join(warnings) if warnings else "none",
        **model_attrs(p),
    }


def _products(job: Job, sim, plans, out_dir: Path, put, ctx: MissionContext, search_plan=None, scenarios=()):
    from driftline.products import ProductMeta, build_products

    p = job.params
    out_dir.mkdir()
    meta = ProductMeta(
        mission_id=job.mission_id,
        direction=p.direction,
        object_description=_objects_text(p),
        start_time=p.start_time,
        lkp_lat=p.latitude,
        lkp_lon=p.longitude,
        forcing_description=" | ".join(plan.describe() for plan in plans),
        scenario_description=sim.seed_description,
        grid_resolution_m=p.grid_resolution_m,
        search_area_interval_hours=p.search_area_interval_hours,
        search_area_times=p.search_area_times,
        density_min_cells=ctx.settings.density_min_cells,
        software_versions=software_versions(),
        extra_attrs=model_attrs(p),
        title=product_title(p),
        search_plan=search_plan,
        scenarios=tuple(scenarios),
    )
    traj = sim.trajectories
    outside = outside_forcing(plans, traj)
    return build_products(traj, meta, out_dir, on_file=_product_put(put), outside_forcing=outside, defer_animation=True)


def _product_put(put):
    """on_file callback: upload products/{name} under its mission_results kind."""

    def on_file(name: str, path: Path) -> None:
        put(PRODUCT_KINDS[name], f"products/{name}", path)

    return on_file


def outside_forcing(plans, traj):
    """(T,) share of the total probability floating outside the forcing files of its member, or None without files.

    Outside a file the model runs on the on-scene or zero fallback for that quantity: the forecast is blind there.
    """
    import numpy as np

    from driftline.trajectory import ACTIVE

    if not any(plan.datasets for plan in plans):
        return None
    w, out = traj.shares(), np.zeros(traj.num_times)
    times = np.asarray(traj.times, dtype="datetime64[s]")
    for m, plan in enumerate(plans):
        quantities = {q for d in plan.datasets for q in d["quantities"]}
        for t in range(traj.num_times):
            rows = np.flatnonzero((traj.member == m) & (traj.state[:, t] == ACTIVE))
            if rows.size == 0 or not quantities:
                continue
            lon, lat = traj.lon[rows, t].astype(float), traj.lat[rows, t].astype(float)
            covered = np.ones(rows.size, bool)
            for q in quantities:
                has = np.zeros(rows.size, bool)
                for d in (d for d in plan.datasets if q in d["quantities"] and _in_time(d["reader"], times[t])):
                    has[d["reader"].covers_positions(lon, lat)[0]] = True
                covered &= has
            out[t] += w[rows[~covered]].sum()
    return out


def _in_time(reader, t) -> bool:
    import numpy as np

    if reader.start_time is None:
        return True
    start = np.datetime64(reader.start_time.replace(tzinfo=None), "s")
    return start <= t <= np.datetime64((reader.end_time or reader.start_time).replace(tzinfo=None), "s")


def build_summary(job, ctx, sim, plans, report, stored, timings, warnings) -> dict:
    """The machine-readable digest of a finished mission (summary.json)."""
    from driftline.forcing import domain_fractions

    p = job.params
    traj = sim.trajectories
    return {
        "mission_id": job.mission_id,
        "title": product_title(p) or ("Origin probability (backward run)" if p.backward else "Drift prediction"),
        "direction": p.direction,
        "scenario": sim.seed_description,
        "params": p.as_record(),
        "model": model_record(p),
        "random_seed": p.random_seed,
        "random_seed_source": "job" if p.seed_was_given else "derived from mission_id",
        "object_types": [
            {
                "key": s.obj.key,
                "number": s.obj.number,
                "description": s.obj.description,
                "weight": s.weight,
                "particles": int((traj.object_number == s.obj.number).sum()),
            }
            for s in p.objects
        ],
        "forcing_uncertainty": uncertainty_record(p),
        "forcing": [
            {"member": name, "sources": plan.sources, "domain_fraction": domain_fractions(plan, traj, member=i)}
            for i, (name, plan) in enumerate(zip(traj.member_names, plans))
        ],
        "counts": traj.counts(-1),
        "time_start": _iso64(traj.times[0]),
        "time_end": _iso64(traj.times[-1]),
        "shares": report.shares,
        "search_areas": report.search_areas,
        "shoreline": report.shoreline,
        **({"scenarios": report.scenarios} if report.scenarios else {}),
        "members": report.members,
        "grid": report.grid,
        "products": [_product_entry(s) for s in stored],
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "attempt": ctx.attempt,
        "worker_id": ctx.worker_id,
        "software": software_versions(),
        "warnings": warnings,
    }


def software_versions() -> dict[str, str]:
    import numpy
    import opendrift

    return {
        "driftline": __version__,
        "opendrift": getattr(opendrift, "__version__", "unknown"),
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def _objects_text(p: MissionParams) -> str:
    if p.model != "leeway":
        return what_drifts(p)
    return ", ".join(
        f"{s.obj.key}: {s.obj.description}" + (f" ({s.weight:.0%})" if len(p.objects) > 1 else "") for s in p.objects
    )


def _scaled(progress, low: float, high: float):
    if progress is None:
        return None
    return lambda f: progress(low + (high - low) * f)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _iso64(t) -> str:
    import numpy as np

    return str(np.datetime_as_string(t, unit="s")) + "Z"


def describe_error(e: BaseException) -> str:
    """One readable line for users; never a traceback."""
    if isinstance(e, DriftError):
        return str(e)
    return f"internal error: {type(e).__name__}: {' '.join(str(e).split())[:300]}"
