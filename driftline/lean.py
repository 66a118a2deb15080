"""The lean simulation step: OpenDrift's per-step environment lookup and geodesic move without the bookkeeping.

OpenDrift stays the model: its readers, configuration, Leeway table and equations. These mixins (put before
the OpenDrift model class, with driftline.speedups) replace how a step gets there:

- `LeanEnvironmentMixin`: with constant forcing (every variable an `environment:fallback:*` value, the land
  mask from OpenDrift's global landmask reader) a step's environment is the fallback values and one landmask
  query, written into the float32 record array OpenDrift returns, instead of OpenDrift's masked-array reader
  loop (~2.6 ms a step for 5000 particles). The forcing uncertainty options (`drift:current_uncertainty`,
  `drift:current_uncertainty_uniform`, `drift:wind_uncertainty`) are applied exactly as OpenDrift does
  (same draws, same order). Anything else (gridded readers, profiles, tabularised Stokes drift, lazy readers)
  goes through OpenDrift's own `get_environment`.
- `LeanMoveMixin`: OpenDrift's `update_positions` (pyproj's `Geod.fwd`, Karney's geodesic direct problem, per
  particle) with the Geod built once and, for large particle counts, the particles split between two threads:
  pyproj computes without the GIL, so the second core takes half the geodesics. The values are computed by
  the same C code on the same float64 inputs: identical positions.

The output is identical to plain OpenDrift's for the same seed (tests/unit/test_lean.py).
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

LANDMASK_READER = "global_landmask"
SPLIT_MIN_PARTICLES = 16384  # below this (~4 ms of geodesics) the thread hand-off eats the gain on a busy machine
_UNCERTAINTY = (  # (config key, variables, draw): the order in which OpenDrift's get_environment draws them
    ("drift:current_uncertainty", ("x_sea_water_velocity", "y_sea_water_velocity"), "normal"),
    ("drift:current_uncertainty_uniform", ("x_sea_water_velocity", "y_sea_water_velocity"), "uniform"),
    ("drift:wind_uncertainty", ("x_wind", "y_wind"), "normal"),
)
_pool: tuple[int, ThreadPoolExecutor] | None = None


class LeanEnvironmentMixin:
    """Constant forcing: the environment of a step without OpenDrift's reader machinery (same values)."""

    def prepare_run(self):
        super().prepare_run()
        lookup = constant_environment(self)
        if lookup is not None:
            self.env.get_environment = lookup  # an instance attribute: this model's environment only
        return None

    def report_missing_variables(self, missing):
        if not np.any(missing):  # OpenDrift tests `any(missing)`: a Python loop over every particle
            return None
        return super().report_missing_variables(missing)


def constant_environment(model):
    """A `get_environment` replacement when every required variable is a fallback or the global landmask, else None."""
    env = model.env
    variables = list(model.required_variables)
    readers = list(env.readers.values())
    if env._lazy_readers() or any(getattr(r, "name", None) != LANDMASK_READER for r in readers):
        return None
    if model.required_profiles or "sea_water_temperature" in variables:
        return None
    if "drift:use_tabularised_stokes_drift" in env._config and env.get_config("drift:use_tabularised_stokes_drift"):
        return None
    fallbacks, land = {}, None
    for var in variables:
        served = env.priority_list.get(var, [])
        if served:
            if var != "land_binary_mask" or len(served) != 1:
                return None
            land = env.readers[served[0]]
        else:
            value = env.get_config(f"environment:fallback:{var}")
            if value is None:
                return None  # OpenDrift reports it missing: its own code handles that
            fallbacks[var] = value
    uncertainty = [(key, names, draw) for key, names, draw in _UNCERTAINTY if set(names) <= set(variables)]
    return _ConstantEnvironment(env, variables, fallbacks, land, uncertainty)


class _ConstantEnvironment:
    """OpenDrift's Environment.get_environment for fallback values and the landmask, same values and draws."""

    def __init__(self, env, variables, fallbacks, land, uncertainty) -> None:
        self.env, self.variables, self.fallbacks, self.land = env, variables, fallbacks, land
        self.uncertainty = uncertainty
        self.dtype = np.dtype([(var, np.float32) for var in variables])

    def __call__(self, variables, time, lon, lat, z, profiles=None, profiles_depth=None, element_ID=None):
        if list(variables) != self.variables or profiles:
            return type(self.env).get_environment(self.env, variables, time, lon, lat, z, profiles, profiles_depth,
                                                  element_ID)  # fmt: skip
        n = len(lon)
        out = np.empty(n, dtype=self.dtype)
        for var, value in self.fallbacks.items():
            out[var] = np.float32(np.float64(value))  # OpenDrift: ones(n) * fallback, stored as float32
        if self.land is not None:
            lon64 = np.mod(np.asarray(lon, dtype=np.float64) + 180, 360) - 180  # the reader's modulate_longitude
            out["land_binary_mask"] = self.land.mask.contains_many(lon64, np.asarray(lat, dtype=np.float64))
        for key, names, draw in self.uncertainty:
            std = self.env.get_config(key)
            if std > 0:
                for var in names:
                    out[var] += np.random.normal(0, std, n) if draw == "normal" else np.random.uniform(-std, std, n)
        missing = np.zeros(n, dtype=bool)
        for var in self.variables:
            missing |= ~np.isfinite(out[var])
        return out.view(np.recarray), None, missing


class LeanMoveMixin:
    """OpenDrift's `update_positions` with one Geod and the geodesics of a large step on two threads."""

    _geod = None

    def update_positions(self, x_vel, y_vel):
        lon, lat = self.elements.lon, self.elements.lat
        if len(lon) < 2:
            return super().update_positions(x_vel, y_vel)
        if LeanMoveMixin._geod is None:
            import pyproj

            LeanMoveMixin._geod = pyproj.Geod(ellps="WGS84")
        # The same expressions as OpenDrift's (dtypes included), then pyproj's float64 buffers
        azimuth = np.degrees(np.arctan2(x_vel, y_vel))
        velocity = np.sqrt(x_vel**2 + y_vel**2)
        velocity = velocity * self.elements.moving
        buffers = [np.array(a, dtype=np.float64, order="C") for a in (lon, lat, azimuth)]
        buffers.append(np.array(velocity * self.time_step.total_seconds(), dtype=np.float64, order="C"))
        geodesics(LeanMoveMixin._geod, *buffers)
        self.elements.lon, self.elements.lat = buffers[0], buffers[1]
        if lon_lat_invalid(self.elements.lon, self.elements.lat):
            sys.exit("Quitting")  # what OpenDrift does with invalid new coordinates
        return None


def lon_lat_invalid(lon: np.ndarray, lat: np.ndarray) -> bool:
    """OpenDrift's check after a move (its comparisons, unchanged)."""
    return bool(lon.min() < -180 or lon.min() > 360 or lat.min() < -90 or lat.max() > 90)


def geodesics(geod, lon: np.ndarray, lat: np.ndarray, azimuth: np.ndarray, dist: np.ndarray) -> None:
    """pyproj's `Geod.fwd` in place on float64 arrays, in two halves on two threads for large arrays."""
    n = lon.size
    if n < SPLIT_MIN_PARTICLES or (os.cpu_count() or 1) < 2:  # noqa: SIM102
        geod._fwd(lon, lat, azimuth, dist, radians=False, return_back_azimuth=False)
        return
    half = n // 2
    parts = [(a[:half], a[half:]) for a in (lon, lat, azimuth, dist)]
    other = _executor().submit(geod._fwd, *(p[1] for p in parts), radians=False, return_back_azimuth=False)
    geod._fwd(*(p[0] for p in parts), radians=False, return_back_azimuth=False)
    other.result()


def _executor() -> ThreadPoolExecutor:
    """One helper thread per process (a forked job process starts its own)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="geodesic"))
    return _pool[1]


class LeanBufferMixin:
    """OpenDrift's `state_to_buffer` with the history staged time-major in numpy, copied to its buffer when full.

    OpenDrift's buffer is (trajectory, time): writing one output time touches one value per cache line, ~23
    variables a step. Here each output step (and each deactivation between output steps, into the next output
    time as OpenDrift's backfill does) is written as contiguous rows of a (time, trajectory) array; when the
    buffer is full or the run ends the staged values are copied into OpenDrift's buffer and OpenDrift's own
    `state_to_buffer` runs (min/max attributes, final metadata, the file writer, the buffer reset).
    """

    _stage = None

    def state_to_buffer(self, final: bool = False):
        stage = self._stage
        if stage is None or stage.result is not self.result:
            stage = self._stage = _Stage.of(self.result)
        if stage is None:
            return super().state_to_buffer(final)
        t = stage.column.get(self.time)
        if final or (t is not None and t == stage.nt - 1):
            stage.flush()
            out = super().state_to_buffer(final)
            self._stage = None  # OpenDrift reset (or truncated) its buffer: staged again from that
            return out
        if t is None:
            deactivated = np.flatnonzero(self.elements.status != 0)
            if deactivated.size == 0:
                return None
            t = stage.column[_backfill(self.result, self.time)]
            rows, index = self.elements.ID[deactivated], deactivated
        else:
            rows, index = self.elements.ID, slice(0, len(self.elements.ID))  # OpenDrift: range(len(ID))
        for name, values in stage.sources(self.elements, self.environment):
            stage.data[name][t, rows] = values[index]
        return None


def _backfill(result, time):
    """The output time OpenDrift writes a deactivation between output steps into (its own lookup)."""
    import pandas as pd

    return pd.Timestamp(result.time.sel(time=time, method="backfill").values).to_pydatetime()


class _Stage:
    """Time-major copies of OpenDrift's (trajectory, time) float32 buffer variables."""

    def __init__(self, result) -> None:
        self.result = result
        times = result.indexes["time"]
        self.nt = len(times)
        self.column = {t.to_pydatetime(): i for i, t in enumerate(times)}
        n = result.sizes["trajectory"]
        self.data = {name: np.full((self.nt, n), np.nan, dtype=np.float32) for name in result.data_vars}
        self._names = list(result.data_vars)

    @classmethod
    def of(cls, result):
        variables = result.variables
        for name in result.data_vars:
            var = variables[name]
            if var.dims != ("trajectory", "time") or type(var.data) is not np.ndarray or var.dtype != np.float32:
                return None
        return cls(result)

    def sources(self, elements, environment):
        """(name, values) in OpenDrift's order: an environment variable wins over an element property."""
        for name in self._names:
            values = getattr(environment, name, None)
            if values is None:
                values = getattr(elements, name, None)
            if values is not None:
                yield name, values

    def flush(self) -> None:
        variables = self.result.variables
        for name, staged in self.data.items():
            variables[name].values[...] = staged.T


class LeanPreviousStateMixin:
    """OpenDrift's `update_previous_state` with the snapshots of the last step taken as numpy copies.

    OpenDrift keeps each stored property's last value in `_elements_previous` (read by its coastline and
    seafloor actions, unchanged here) and also builds `elements_previous` / `environment_previous`, an xarray
    `isel` of the active particles every step (~1.3 ms a step for 5000 particles). None of the worker's models
    reads the element snapshot, and OceanDrift reads the environment one only with vertical advection: here the
    values are copied and the same `isel` Dataset is built only when someone asks for it.
    """

    def update_previous_state(self):
        stores = [(self._environment_previous, "environment_previous", lambda v: self.environment[v])]
        stores.append((self._elements_previous, "elements_previous", lambda v: getattr(self.elements, v)))
        if any(ds is not None and not _numpy_backed(ds) for ds, _, _ in stores):
            return super().update_previous_state()
        new = None
        if self.newly_seeded_IDs is not None:  # for newly seeded elements, previous is set equal to present
            new = np.where(self.elements.age_seconds == self.time_step.total_seconds())[0]
        ids = self.elements.ID
        for ds, name, present in stores:
            if ds is None:
                continue
            if new is not None:  # OpenDrift indexes the store with positions among the active elements here
                for var in ds:
                    ds.variables[var].values[new] = present(var)[new]
            self.__dict__["_lean_" + name] = _Snapshot(ds, ids)
            for var in ds:
                ds.variables[var].values[ids] = present(var)
        return None

    @property
    def elements_previous(self):
        return _resolved(self, "_lean_elements_previous")

    @elements_previous.setter
    def elements_previous(self, value) -> None:
        self.__dict__["_lean_elements_previous"] = value

    @property
    def environment_previous(self):
        return _resolved(self, "_lean_environment_previous")

    @environment_previous.setter
    def environment_previous(self, value) -> None:
        self.__dict__["_lean_environment_previous"] = value


class _Snapshot:
    """`ds.isel(trajectory=ids)` as it is now, built on first use (the values are copied now)."""

    def __init__(self, ds, ids: np.ndarray) -> None:
        self.ds, self.ids = ds, np.array(ids)
        self.values = {var: ds.variables[var].values[self.ids] for var in ds}  # fancy indexing copies

    def build(self):
        out = self.ds.isel(trajectory=self.ids)
        for var, values in self.values.items():
            out.variables[var].values[...] = values
        return out


def _resolved(model, key: str):
    value = model.__dict__.get(key)
    if isinstance(value, _Snapshot):
        value = model.__dict__[key] = value.build()
    return value


def _numpy_backed(ds) -> bool:
    """Every data variable of `ds` is one-dimensional and held in a numpy array (writable in place)."""
    return all(type(v.data) is np.ndarray and v.ndim == 1 for v in ds.data_vars.values())


# Mixed in before driftline.speedups.SPEEDUPS (whose previous-state and buffer mixins they take over).
LEAN_STEP = (LeanEnvironmentMixin, LeanMoveMixin, LeanBufferMixin, LeanPreviousStateMixin)
