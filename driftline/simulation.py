"""The OpenDrift Leeway run: seeding for each scenario, forcing, and conversion of the result.

OpenDrift is the physics engine; this module only configures it. A single run given an `outfile`
streams its history into that file as it goes (driftline.trajfile: bounded memory, the same file);
ensemble members keep their result in memory and the trajectory file is written once afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from driftline.contract.drift_objects import can_capsize
from driftline.contract.params import MissionParams
from driftline.errors import SimulationError
from driftline.forcing import ForcingPlan
from driftline.forcing.drifter_currents import drifter_mixins
from driftline.lean import LEAN_STEP
from driftline.models import configure, opendrift_class, seed_properties
from driftline.release import describe_seeding, seeding_span, split_particles
from driftline.scenarios import prior_weights, scenario_counts, scenario_index
from driftline.speedups import SPEEDUPS, fast_length_elements
from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories
from driftline.trajfile import (
    NEVER_CAPSIZES,  # Leeway capsizes capsized == 0 and slows 1: other values opt an object type out
    STRANDED_REASONS,
    VOLATILE_ATTRS,
    StreamingOutput,
    attr_value,
    buffer_length,
    tidy_capsized,
)
from driftline.trajfile import variable_encoding as _variable_encoding
from driftline.uncertainty import perturbation_mixins

log = logging.getLogger(__name__)
# Mixed in before the OpenDrift model class: the lean step (driftline.lean) and the bookkeeping speed-ups.
# The equality tests set it to () to run plain OpenDrift as the reference.
STEP_MIXINS: tuple[type, ...] = (*LEAN_STEP, *SPEEDUPS)
ProgressFn = Callable[[float], None]


@dataclass
class MemberRun:
    """One OpenDrift simulation (one ensemble member, or the whole mission)."""

    name: str
    plan: ForcingPlan
    result: object  # xarray.Dataset of OpenDrift's result (None when streamed to the trajectory file)
    trajectories: Trajectories
    seconds: float


@dataclass
class SimulationResult:
    trajectories: Trajectories
    members: list[MemberRun]
    seed_description: str
    timings_s: dict[str, float] = field(default_factory=dict)
    streamed: bool = False  # the trajectory file was written during the run

    @property
    def primary(self) -> MemberRun:
        return self.members[0]


def warm_up() -> None:
    """Import OpenDrift's models and build the global landmask once, so forked children start warm.

    OpenDrift's `run` formats `opendrift.versions()` (package metadata look-ups, ~50 ms) for a debug
    line every time; the answer does not change within a process, so it is computed once here.
    """
    import functools

    share_landmask()
    import opendrift
    from opendrift.models.leeway import Leeway  # noqa: F401
    from opendrift.models.oceandrift import OceanDrift  # noqa: F401
    from opendrift.models.shipdrift import ShipDrift  # noqa: F401
    from opendrift.readers import reader_global_landmask

    reader_global_landmask.get_mask()
    if not hasattr(opendrift.versions, "cache_info"):
        opendrift.versions = functools.cache(opendrift.versions)


def share_landmask() -> None:
    """One global landmask for all of OpenDrift (call before it is imported).

    OpenDrift builds `RoaringLandmask.new()` twice: at the import of its base model (coastline
    crossings) and in `reader_global_landmask.get_mask()` (stranding), ~6 s and ~1.3 GB each. The
    instance is immutable, so both can share the first one: half the worker's memory and start time.
    """
    import sys

    import roaring_landmask

    cls = roaring_landmask.RoaringLandmask
    if getattr(cls, "_driftline_shared", None) is not None:
        return
    base = sys.modules.get("opendrift.models.basemodel")
    mask = base.rl if base is not None else cls.new()  # already imported: reuse the instance it built
    try:
        cls._driftline_shared = mask
        cls.new = staticmethod(lambda: mask)
    except (AttributeError, TypeError):  # an immutable extension type: keep OpenDrift's behaviour
        log.warning("could not share OpenDrift's landmask: it is built twice")


def simulate(
    params: MissionParams,
    plans: list[ForcingPlan],
    progress: ProgressFn | None = None,
    member_names: list[str] | None = None,
    outfile: Path | None = None,
    attrs: dict | None = None,
) -> SimulationResult:
    """Run one Leeway simulation per forcing plan (one plan unless it is an ensemble) and merge them.

    With `outfile` (and one plan) the trajectory file is written during the run, with `attrs` added.
    """
    counts = split_particles(params.num_particles, [1.0] * len(plans))
    names = member_names or ([f"member-{i + 1}" for i in range(len(plans))] if len(plans) > 1 else ["main"])
    stream = outfile is not None and len(plans) == 1
    runs = [
        _run_member(
            params,
            plan,
            count,
            names[i],
            _member_progress(progress, i, len(plans)),
            member_seed(params, i),
            StreamingOutput(outfile, attrs or {}, params.objects[0].obj.number if params.objects else 0)
            if stream
            else None,
        )  # fmt: skip
        for i, (plan, count) in enumerate(zip(plans, counts, strict=True))
    ]
    merged = _merge([r.trajectories for r in runs], names)
    merged.scenario = scenario_index(params, counts)  # None (and no weights) without scenarios
    merged.weight = prior_weights(params, merged.scenario)
    return SimulationResult(merged, runs, describe_seeding(params), streamed=stream)


def member_seed(params: MissionParams, member: int) -> int:
    """np.random seed of ensemble member `member` (0-based): random_seed + member, kept within numpy's range."""
    return (params.random_seed + member) % 2**32


def _member_progress(progress: ProgressFn | None, i: int, members: int) -> ProgressFn | None:
    return None if progress is None else (lambda f: progress((i + f) / members))


def _run_member(
    params: MissionParams, plan: ForcingPlan, number: int, name: str, progress, seed: int, out: StreamingOutput | None
) -> MemberRun:
    model = _make_model(params, plan, progress, seed)
    for seeding, count in scenario_counts(params, number):  # the mission itself, or each weighted scenario
        _seed(model, seeding, count)
    sign = -1 if params.backward else 1
    kwargs = {}
    if out is not None:
        out.attach(model)
        model.lean_streamed = True  # driftline.lean.run: OpenDrift need not read the streamed file back
        kwargs = {"outfile": str(out.path), "export_buffer_length": buffer_length(number, _num_variables(model))}
    started = time.perf_counter()
    try:
        model.run(
            duration=timedelta(hours=params.duration_hours),
            time_step=timedelta(minutes=sign * params.time_step_minutes),
            time_step_output=timedelta(minutes=sign * params.output_step_minutes),
            **kwargs,
        )
    except (ValueError, RuntimeError) as e:
        raise SimulationError(f"OpenDrift could not run the simulation: {e}") from e
    seconds = time.perf_counter() - started
    log.info("Simulated %s particles for %s h in %.2f s (%s)", number, params.duration_hours, seconds, name)
    if out is not None:
        model.result.close()  # OpenDrift reopened the finished file; the arrays were built during the run
        return MemberRun(name, plan, None, out.trajectories(), seconds)
    tidy_capsized(model.result)
    return MemberRun(name, plan, model.result, to_trajectories(model, params), seconds)


def _num_variables(model) -> int:
    """Variables in OpenDrift's output buffer: element properties (but ID) and environment variables."""
    return len(model.elements.variables) - 1 + len(model.required_variables)


@contextmanager
def keep_root_logging() -> Iterator[None]:
    """OpenDrift's constructor runs coloredlogs.install() on the root logger (level, handler); undo that."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


def _make_model(params: MissionParams, plan: ForcingPlan, progress: ProgressFn | None, seed: int):
    """The mission's configured OpenDrift model; its constructor seeds np.random (OpenDrift's default would be 0)."""
    base = opendrift_class(params)

    class Tracked(*STEP_MIXINS, *perturbation_mixins(params, seed), *drifter_mixins(plan), base):
        """The model reporting progress every step; the parent turns it into 10 % updates."""

        ElementType = fast_length_elements(base.ElementType) if STEP_MIXINS else base.ElementType

        def update(self) -> None:
            super().update()
            if progress is not None:
                done = abs((self.time - self.start_time).total_seconds()) / (params.duration_hours * 3600)
                progress(min(done, 1.0))

    Tracked.__name__ = Tracked.__qualname__ = f"Tracked{base.__name__}"  # opendrift_class attribute of the output
    with keep_root_logging():
        model = Tracked(seed=seed, loglevel=logging.WARNING if log.isEnabledFor(logging.DEBUG) else 50)
    if plan.readers:
        model.add_reader(plan.readers)
    for var, value in plan.constants.items():
        model.set_config(f"environment:fallback:{var}", float(value))
    model.set_config("general:coastline_action", "stranding")
    configure(model, params)
    return model


def _seed(model, params: MissionParams, number: int) -> None:
    """Seed `number` particles for the scenario: Leeway's split between object types by weight (largest
    remainder), other models' with their own element properties."""
    for count, props in _shares(params, number):
        if count == 0:
            continue
        try:
            _seed_one(model, params, count, props)
        except ValueError as e:
            raise SimulationError(f"could not seed particles: {e}") from e


def _shares(params: MissionParams, number: int) -> list[tuple[int, dict]]:
    if params.model != "leeway":
        return [(number, seed_properties(params))]
    shares = []
    for share, count in zip(params.objects, split_particles(number, [s.weight for s in params.objects]), strict=True):
        props = {"object_type": share.obj.number}
        if params.capsizing and not can_capsize(share.obj):
            props["capsized"] = NEVER_CAPSIZES
        shares.append((count, props))
    return shares


def _seed_one(model, params: MissionParams, number: int, props: dict) -> None:
    """Seed one object type: inside the area, along the track (cone) or around the position."""
    t0, t1 = seeding_span(params)
    when = [_naive(t0), _naive(t1)] if t1 is not None and number > 1 else _naive(t0)
    if params.area is not None:
        from driftline.geodesy import sample_polygon

        lon, lat = sample_polygon(params.area, number)
        model.seed_elements(lon=lon, lat=lat, number=number, time=when, **props)
    elif params.end_latitude is not None and number > 1:  # seed_cone needs two or more particles
        end_radius = params.end_radius_m if params.end_radius_m is not None else params.radius_m
        model.seed_cone(
            lon=[params.longitude, params.end_longitude],
            lat=[params.latitude, params.end_latitude],
            radius=[params.radius_m, end_radius],
            time=when,
            number=number,
            **props,
        )
    else:  # a point, or the single particle of a track (at its start, like the first of a longer track)
        model.seed_elements(
            lon=params.longitude, lat=params.latitude, radius=params.radius_m, number=number, time=when, **props
        )


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


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
    stranded = np.isin(names, STRANDED_REASONS)
    state[valid & (names == "active")] = ACTIVE
    state[valid & stranded] = STRANDED
    state[valid & (names != "active") & ~stranded] = OUT_OF_DOMAIN
    lon, lat, state = _carry_forward(lon, lat, state)
    times = ds["time"].values.astype("datetime64[s]")
    return Trajectories(
        times=times,
        lon=lon,
        lat=lat,
        state=state,
        member=np.zeros(lon.shape[0], dtype=np.int16),
        object_number=_object_numbers(ds, params),
    )


def _object_numbers(ds, params: MissionParams) -> np.ndarray:
    """Each particle's Leeway object type number; 0 for models without object types."""
    if "object_type" not in ds:
        return np.zeros(ds.sizes["trajectory"], dtype=np.int16)
    objects = ds["object_type"].values
    number = objects[np.arange(objects.shape[0]), np.argmax(np.isfinite(objects), axis=1)]
    return np.nan_to_num(number, nan=params.objects[0].obj.number).astype(np.int16)


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
    """One Trajectories for all members; a member that stopped early keeps its final states to the common end."""
    if len(parts) == 1:
        parts[0].member_names = names
        return parts[0]
    longest = max(parts, key=lambda p: p.num_times)
    padded = [_pad(p, longest.num_times) for p in parts]
    return Trajectories(
        times=longest.times,
        lon=np.concatenate([p[0] for p in padded]),
        lat=np.concatenate([p[1] for p in padded]),
        state=np.concatenate([p[2] for p in padded]),
        member=np.concatenate([np.full(p.num_particles, i, dtype=np.int16) for i, p in enumerate(parts)]),
        object_number=np.concatenate([p.object_number for p in parts]),
        member_names=names,
    )


def _pad(traj: Trajectories, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, state) extended to `steps` output times by carrying each particle's final state forward."""
    extra = steps - traj.num_times
    if extra == 0:
        return traj.lon, traj.lat, traj.state
    nan = np.full((traj.num_particles, extra), np.nan)
    state = np.concatenate([traj.state, np.full(nan.shape, NOT_RELEASED, np.int8)], axis=1)
    return _carry_forward(np.concatenate([traj.lon, nan], axis=1), np.concatenate([traj.lat, nan], axis=1), state)


def write_trajectory_file(results: list[MemberRun], path: Path, attrs: dict[str, str]) -> None:
    """Write OpenDrift's trajectory dataset once (compressed) with deterministic global attributes."""
    datasets = [r.result for r in results]
    ds = datasets[0] if len(datasets) == 1 else _concat_members(datasets, [r.name for r in results])
    ds = ds.copy()
    for key in VOLATILE_ATTRS:
        ds.attrs.pop(key, None)
    ds.attrs.update(attrs)
    ds.attrs = {k: attr_value(v) for k, v in ds.attrs.items()}
    encoding = {}
    for name, var in ds.variables.items():
        encoding[name] = _variable_encoding(name, var.attrs)
        var.attrs.pop("dtype", None)
    ds.to_netcdf(path, encoding=encoding, engine="netcdf4", format="NETCDF4")


def _concat_members(datasets, names):
    """Members' datasets along `trajectory` with a `member` index; shorter runs padded with NaN to the longest."""
    import xarray as xr

    times = max((d["time"] for d in datasets), key=len)
    parts = [
        d.reindex(time=times).assign(member=("trajectory", np.full(d.sizes["trajectory"], i, dtype=np.int16)))
        for i, d in enumerate(datasets)
    ]
    ds = xr.concat(
        parts, dim="trajectory", data_vars="minimal", coords="minimal", compat="override", combine_attrs="override"
    )
    ds = ds.assign_coords(trajectory=np.arange(ds.sizes["trajectory"], dtype=np.int32))
    ds["member"].attrs = {
        "long_name": "ensemble member index",
        "flag_values": list(range(len(names))),
        "flag_meanings": " ".join(n.replace(" ", "_") for n in names),
    }
    return ds
