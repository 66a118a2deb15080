"""The OpenDrift Leeway run: seeding for each scenario, forcing, and conversion of the result.

OpenDrift is the physics engine; this module only configures it. The run keeps
its result in memory (no `outfile`), so the products are computed from arrays
and the trajectory file is written once, with deterministic attributes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from driftline.errors import SimulationError
from driftline.forcing import ForcingPlan
from driftline.jobs import MissionParams
from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories

log = logging.getLogger(__name__)
ProgressFn = Callable[[float], None]
# Attributes OpenDrift fills with wall-clock times; replaced so that the same job and seed give the same bytes.
VOLATILE_ATTRS = ("history", "date_created", "simulation_time", "runtime", "performance")


@dataclass
class MemberRun:
    """One OpenDrift simulation (one ensemble member, or the whole mission)."""

    name: str
    plan: ForcingPlan
    result: object  # xarray.Dataset of OpenDrift's result
    trajectories: Trajectories
    seconds: float


@dataclass
class SimulationResult:
    trajectories: Trajectories
    members: list[MemberRun]
    seed_description: str
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def primary(self) -> MemberRun:
        return self.members[0]


def warm_up() -> None:
    """Import OpenDrift and build the global landmask once, so forked children start warm."""
    from opendrift.models.leeway import Leeway  # noqa: F401
    from opendrift.readers import reader_global_landmask

    reader_global_landmask.get_mask()


def simulate(
    params: MissionParams,
    plans: list[ForcingPlan],
    progress: ProgressFn | None = None,
    member_names: list[str] | None = None,
) -> SimulationResult:
    """Run one Leeway simulation per forcing plan (one plan unless it is an ensemble) and merge them."""
    np.random.seed(params.random_seed)
    counts = _split(params.num_particles, [1.0] * len(plans))
    names = member_names or ([f"member-{i + 1}" for i in range(len(plans))] if len(plans) > 1 else ["main"])
    runs = []
    for i, (plan, count) in enumerate(zip(plans, counts)):
        member_progress = None
        if progress:
            member_progress = lambda f, i=i: progress((i + f) / len(plans))  # noqa: E731
        runs.append(_run_member(params, plan, count, names[i], member_progress, seed=params.random_seed + i))
    merged = _merge([r.trajectories for r in runs], names)
    return SimulationResult(trajectories=merged, members=runs, seed_description=describe_seeding(params))


def _run_member(params: MissionParams, plan: ForcingPlan, number: int, name: str, progress, seed: int) -> MemberRun:
    np.random.seed(seed)
    model = _make_model(params, plan, progress)
    _seed(model, params, number)
    steps_out = int(round(params.duration_hours * 60 / params.output_step_minutes))
    sign = -1 if params.backward else 1
    started = time.perf_counter()
    try:
        model.run(
            duration=timedelta(hours=params.duration_hours),
            time_step=timedelta(minutes=sign * params.time_step_minutes),
            time_step_output=timedelta(minutes=sign * params.output_step_minutes),
            export_buffer_length=steps_out + 2,
        )
    except (ValueError, RuntimeError) as e:
        raise SimulationError(f"OpenDrift could not run the simulation: {e}") from e
    seconds = time.perf_counter() - started
    log.info("Simulated %s particles for %s h in %.2f s (%s)", number, params.duration_hours, seconds, name)
    return MemberRun(name, plan, model.result, to_trajectories(model, params), seconds)


def _make_model(params: MissionParams, plan: ForcingPlan, progress: ProgressFn | None):
    from opendrift.models.leeway import Leeway

    class TrackedLeeway(Leeway):
        """Leeway that reports progress every step; the parent turns it into 10 % updates."""

        def update(self) -> None:
            super().update()
            if progress is not None:
                done = abs((self.time - self.start_time).total_seconds()) / (params.duration_hours * 3600)
                progress(min(done, 1.0))

    model = TrackedLeeway(loglevel=logging.WARNING if log.isEnabledFor(logging.DEBUG) else 50)
    if plan.readers:
        model.add_reader(plan.readers)
    for var, value in plan.constants.items():
        model.set_config(f"environment:fallback:{var}", float(value))
    model.set_config("general:coastline_action", "stranding")
    if params.capsizing:
        model.set_config("processes:capsizing", True)
        model.set_config("capsizing:wind_threshold", params.capsizing["wind_threshold_ms"])
        model.set_config("capsizing:wind_threshold_sigma", params.capsizing["wind_threshold_sigma_ms"])
        model.set_config("capsizing:leeway_fraction", params.capsizing["leeway_fraction"])
    if params.jibe_probability_per_hour is not None:
        model.set_config("seed:jibe_probability", params.jibe_probability_per_hour)
    return model


def _seed(model, params: MissionParams, number: int) -> None:
    """Seed `number` particles for the scenario, split between object types by weight."""
    counts = _split(number, [s.weight for s in params.objects])
    for share, count in zip(params.objects, counts):
        if count == 0:
            continue
        try:
            _seed_one(model, params, count, share.obj.number)
        except ValueError as e:
            raise SimulationError(f"could not seed particles: {e}") from e


def _seed_one(model, params: MissionParams, number: int, object_number: int) -> None:
    start = params.start_time.replace(tzinfo=None)
    release = [start, params.release_end_time.replace(tzinfo=None)] if params.release_end_time else start
    if params.area is not None:
        ring = np.asarray(params.area["coordinates"][0], dtype=float)
        model.seed_within_polygon(
            lons=ring[:, 0], lats=ring[:, 1], number=number, time=release, object_type=object_number
        )
    elif params.end_latitude is not None:
        end_time = (params.end_time or params.release_end_time or params.start_time).replace(tzinfo=None)
        end_radius = params.end_radius_m if params.end_radius_m is not None else params.radius_m
        model.seed_cone(
            lon=[params.longitude, params.end_longitude],
            lat=[params.latitude, params.end_latitude],
            radius=[params.radius_m, end_radius],
            time=[start, end_time] if end_time != start else start,
            number=max(number, 2),
            object_type=object_number,
        )
    else:
        model.seed_elements(
            lon=params.longitude,
            lat=params.latitude,
            radius=params.radius_m,
            number=number,
            time=release,
            object_type=object_number,
        )


def to_trajectories(model, params: MissionParams) -> Trajectories:
    """OpenDrift's in-memory result as arrays; stranded particles are held at their stranding point."""
    ds = model.result
    lon = ds["lon"].values.astype(np.float64)
    lat = ds["lat"].values.astype(np.float64)
    status = ds["status"].values
    categories = list(getattr(model, "status_categories", ["active"]))
    state = np.full(lon.shape, NOT_RELEASED, dtype=np.int8)
    valid = np.isfinite(lon) & np.isfinite(status)
    code = np.where(valid, status, 0).astype(int)
    names = np.array(categories + ["?"])[np.clip(code, 0, len(categories))]
    state[valid & (names == "active")] = ACTIVE
    state[valid & (names == "stranded")] = STRANDED
    state[valid & (names != "active") & (names != "stranded")] = OUT_OF_DOMAIN
    lon, lat, state = _carry_forward(lon, lat, state)
    objects = ds["object_type"].values
    first = np.argmax(np.isfinite(objects), axis=1)
    object_number = objects[np.arange(objects.shape[0]), first]
    times = ds["time"].values.astype("datetime64[s]")
    return Trajectories(
        times=times,
        lon=lon,
        lat=lat,
        state=state,
        member=np.zeros(lon.shape[0], dtype=np.int16),
        object_number=np.nan_to_num(object_number, nan=params.objects[0].obj.number).astype(np.int16),
    )


def _carry_forward(lon: np.ndarray, lat: np.ndarray, state: np.ndarray):
    """After deactivation OpenDrift stops writing a particle: carry its final state (and, if stranded,
    its position) to the end of the run."""
    seen = state != NOT_RELEASED
    rows = np.arange(state.shape[0])[:, None]
    last = np.maximum.accumulate(np.where(seen, np.arange(state.shape[1])[None, :], -1), axis=1)
    src = np.maximum(last, 0)
    final = np.where(last >= 0, state[rows, src], NOT_RELEASED)
    final = np.where(~seen & (final == ACTIVE), OUT_OF_DOMAIN, final)  # vanished while active
    new_state = np.where(seen, state, final).astype(np.int8)
    stranded = new_state == STRANDED
    new_lon = np.where(stranded, lon[rows, src], np.where(new_state == ACTIVE, lon, np.nan))
    new_lat = np.where(stranded, lat[rows, src], np.where(new_state == ACTIVE, lat, np.nan))
    return new_lon, new_lat, new_state


def _merge(parts: list[Trajectories], names: list[str]) -> Trajectories:
    if len(parts) == 1:
        parts[0].member_names = names
        return parts[0]
    steps = min(p.num_times for p in parts)
    return Trajectories(
        times=parts[0].times[:steps],
        lon=np.concatenate([p.lon[:, :steps] for p in parts]),
        lat=np.concatenate([p.lat[:, :steps] for p in parts]),
        state=np.concatenate([p.state[:, :steps] for p in parts]),
        member=np.concatenate([np.full(p.num_particles, i, dtype=np.int16) for i, p in enumerate(parts)]),
        object_number=np.concatenate([p.object_number for p in parts]),
        member_names=names,
    )


def _split(total: int, weights: list[float]) -> list[int]:
    """Integer shares of `total` proportional to `weights` that add up exactly (largest remainder)."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def write_trajectory_file(results: list[MemberRun], path: Path, attrs: dict[str, str]) -> None:
    """Write OpenDrift's trajectory dataset once (compressed) with deterministic global attributes."""
    datasets = [r.result for r in results]
    ds = datasets[0] if len(datasets) == 1 else _concat_members(datasets, [r.name for r in results])
    ds = ds.copy()
    for key in VOLATILE_ATTRS:
        ds.attrs.pop(key, None)
    ds.attrs.update(attrs)
    ds.attrs = {k: _attr_value(v) for k, v in ds.attrs.items()}
    encoding = {}
    for name, var in ds.variables.items():
        dtype = var.attrs.pop("dtype", None) if "dtype" in var.attrs else None
        enc: dict = {}
        if name == "time":
            enc = {"units": "seconds since 1970-01-01 00:00:00", "dtype": "float64", "_FillValue": None}
        elif name == "trajectory":
            enc = {"dtype": "int32", "_FillValue": None}
        else:
            enc = {"zlib": True, "complevel": 4}
            if dtype is not None and np.issubdtype(np.dtype(dtype), np.integer):
                enc.update(dtype=np.dtype(dtype), _FillValue=np.iinfo(np.dtype(dtype)).max)
        encoding[name] = enc
    ds.to_netcdf(path, encoding=encoding, engine="netcdf4", format="NETCDF4")


def _concat_members(datasets, names):
    import xarray as xr

    steps = min(d.sizes["time"] for d in datasets)
    parts = [d.isel(time=slice(0, steps)).assign(member=("trajectory", np.full(d.sizes["trajectory"], i))) for i, d in
             enumerate(datasets)]
    ds = xr.concat(parts, dim="trajectory", data_vars="minimal", coords="minimal", compat="override",
                   combine_attrs="override")
    ds = ds.assign_coords(trajectory=np.arange(ds.sizes["trajectory"], dtype=np.int32))
    ds["member"].attrs = {"long_name": "ensemble member index", "flag_values": list(range(len(names))),
                          "flag_meanings": " ".join(n.replace(" ", "_") for n in names)}
    return ds


def _attr_value(value):
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return value
    return str(value)


def describe_seeding(params: MissionParams) -> str:
    """The scenario in a coordinator's words, e.g. '1000 particles released along a 12.4 km track ...'."""
    n = params.num_particles
    t0 = _hhmm(params.start_time)
    if params.area is not None:
        from driftline.geometry import polygon_area_km2

        where = f"spread uniformly over a {polygon_area_km2(params.area):.1f} km² area"
    elif params.end_latitude is not None:
        from driftline.geometry import distance_km

        length = distance_km(params.latitude, params.longitude, params.end_latitude, params.end_longitude)
        end_r = params.end_radius_m if params.end_radius_m is not None else params.radius_m
        where = (
            f"released along a {length:.1f} km track from {_pos(params.latitude, params.longitude)} to "
            f"{_pos(params.end_latitude, params.end_longitude)} (radius {params.radius_m:g} m to {end_r:g} m)"
        )
    else:
        where = f"released within {params.radius_m:g} m of {_pos(params.latitude, params.longitude)}"
    end = params.end_time if params.end_latitude is not None and params.end_time else params.release_end_time
    when = f"between {t0} and {_hhmm(end)} UTC" if end else f"at {t0} UTC"
    objects = ", ".join(f"{s.weight:.0%} {s.obj.key}" for s in params.objects)
    text = f"{n} particles ({objects}) {where} {when}"
    if params.backward:
        text += f", tracked backwards {params.duration_hours:g} h to estimate where they came from"
    else:
        text += f", drifting for {params.duration_hours:g} h"
    if params.ensemble:
        text += f", split evenly between {len(params.ensemble)} forcing ensemble members"
    if params.capsizing:
        text += ", with capsizing"
    return text


def _hhmm(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def _pos(lat: float, lon: float) -> str:
    return f"{abs(lat):.4f}{'N' if lat >= 0 else 'S'} {abs(lon):.4f}{'E' if lon >= 0 else 'W'}"
