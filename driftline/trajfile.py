"""particles.nc written as the run goes: each OpenDrift output buffer is appended to the final file.

OpenDrift keeps its whole history in memory unless it is given an `outfile`; its own writer then
rewrites the file at the end (uncompressed first, then level 6). Here OpenDrift's io hooks are
replaced: every full buffer (a few time steps of every variable) is encoded exactly as xarray's
`to_netcdf` would encode the in-memory result (same dtypes, fill values, time units, attributes,
zlib level 1) and written into its slab of the final file, and the products' arrays are filled from
the same buffer. A job's memory then depends on the particle count, not on the duration.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories

log = logging.getLogger(__name__)
# Attributes OpenDrift fills with wall-clock times; replaced so that the same job and seed give the same bytes.
VOLATILE_ATTRS = ("history", "date_created", "simulation_time", "runtime", "performance")
# OpenDrift's in-memory buffer: about this much per flush. The lean step stages a time-major copy of it and
# one encoded copy is in flight to the writer thread: ~3x this in memory (48 MB buffers before issue 26).
BUFFER_BYTES = 24 * 2**20
MAX_CHUNK_VALUES = 4 * 2**20  # HDF5 chunk size cap (values)
NEVER_CAPSIZES = 2  # see driftline.simulation
STRANDED_REASONS = ("stranded", "ship stranded")  # OpenDrift's coastline action; ShipDrift's own land check


def variable_encoding(name: str, attrs: dict) -> dict:
    """The NetCDF encoding of one variable of OpenDrift's result ("dtype" attribute = on-disk integer type)."""
    if name == "time":
        return {"units": "seconds since 1970-01-01 00:00:00", "dtype": "float64", "_FillValue": None}
    if name == "trajectory":
        return {"dtype": "int32", "_FillValue": None}
    enc: dict = {"zlib": True, "complevel": 1}  # level 4 costs 2.5x the time for 8 % less size
    dtype = attrs.get("dtype")
    if dtype is not None and np.issubdtype(np.dtype(dtype), np.integer):
        enc.update(dtype=np.dtype(dtype), _FillValue=np.iinfo(np.dtype(dtype)).max)
    return enc


def global_attrs(result_attrs: dict, extra: dict) -> dict:
    """OpenDrift's global attributes without the wall-clock ones, plus ours, as NetCDF-storable values."""
    attrs = {k: v for k, v in result_attrs.items() if k not in VOLATILE_ATTRS}
    attrs.update(extra)
    return {k: attr_value(v) for k, v in attrs.items()}


def attr_value(value):
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return value
    return str(value)


def buffer_length(num_particles: int, num_variables: int) -> int:
    """Output steps per OpenDrift buffer so that one buffer holds about BUFFER_BYTES of float32."""
    return max(1, BUFFER_BYTES // max(1, num_particles * num_variables * 4))


def tidy_capsized(ds) -> None:
    """Report types that cannot capsize as upright (0), not with the internal marker."""
    if "capsized" in ds:
        values = ds["capsized"].values
        values[values == NEVER_CAPSIZES] = 0


class StreamingOutput:
    """OpenDrift's io hooks (init, write_buffer, close) writing particles.nc and the Trajectories arrays."""

    def __init__(self, path: Path, attrs: dict, default_object: int) -> None:
        self.path, self.attrs, self.default_object = Path(path), attrs, default_object
        self.written = 0  # output times written so far
        self.traj: TrajectoryBuilder | None = None
        self._writer = _SlabWriter(self.path)

    def attach(self, model) -> None:
        model.io_init = lambda filename: None
        model.io_write_buffer = lambda: self.write(model)
        model.io_close = lambda: self.close(model)

    def write(self, model) -> None:
        ds = model.result
        nt = ds.sizes["time"]
        if nt == 0:
            return
        if self.traj is None:
            self._create(model)
        tidy_capsized(ds)
        t0, t1 = self.written, self.written + nt
        slabs = {"time": np.array(_encoded(ds["time"].variable, "time").values)}  # copies: OpenDrift reuses its buffer
        slabs.update({name: np.array(_encoded(var.variable, name).values) for name, var in ds.data_vars.items()})
        self._writer.submit(t0, t1, slabs)
        self.traj.categories = list(getattr(model, "status_categories", self.traj.categories))
        self.traj.add(ds, t0)
        self.written = t1

    def _create(self, model) -> None:
        import netCDF4

        ds = model.result
        n, nt = ds.sizes["trajectory"], model.expected_steps_output
        with netCDF4.Dataset(self.path, "w", format="NETCDF4") as nc:
            nc.createDimension("trajectory", n)
            nc.createDimension("time", nt)
            steps = ds.sizes["time"]
            chunks = (max(1, min(n, MAX_CHUNK_VALUES // steps)), steps)  # each buffer fills whole chunks
            for name, var in ds.variables.items():
                enc = _encoded(var[..., :1] if var.dims else var, name)
                fill = enc.attrs.pop("_FillValue", None)
                compressed = var.dims == ("trajectory", "time")
                nc.createVariable(
                    name, enc.dtype, var.dims, zlib=compressed, complevel=1, shuffle=True,
                    chunksizes=chunks if compressed else None, fill_value=fill,
                )  # fmt: skip
            nc["trajectory"][:] = _encoded(ds["trajectory"].variable, "trajectory").values
        categories = list(getattr(model, "status_categories", ["active"]))
        self.traj = TrajectoryBuilder(n, nt, self.default_object, categories)

    def close(self, model) -> None:
        """Final attributes (OpenDrift's minval/maxval and metadata, ours), truncation if the run stopped early."""
        ds = model.result
        self._writer.close()  # every slab written; re-raises a failed write
        if self.traj is None:
            raise RuntimeError("OpenDrift wrote no output")
        self.traj.categories = list(getattr(model, "status_categories", self.traj.categories))
        with _opened(self.path) as nc:
            for name, var in ds.variables.items():
                attrs = _encoded(var[..., :1] if var.dims else var, name).attrs
                attrs.pop("_FillValue", None)
                nc[name].setncatts(attrs)
            nc.setncatts(global_attrs(ds.attrs, self.attrs))
            complete = self.written == nc.dimensions["time"].size
        unseeded = model.num_elements_scheduled() > 0
        if not complete or unseeded:
            keep = _seeded_rows(model) if unseeded else None
            _truncate(self.path, self.written, keep)
            self.traj.truncate(self.written, keep)
        model.result = ds.isel(time=slice(0, 0))  # OpenDrift reopens the file afterwards: nothing big left in memory

    def trajectories(self) -> Trajectories:
        return self.traj.build()


class _SlabWriter:
    """Writes each buffer's slabs into the file on a helper thread while the simulation goes on.

    netCDF4 writes and compresses without the GIL, so the zlib work of one buffer overlaps the next buffer's
    time steps. At most one buffer is in flight (its encoded copy, ~BUFFER_BYTES); `wait` re-raises errors.
    Each write holds the lock xarray holds around its own netCDF4 calls (`netcdf_lock`): the forcing readers
    read their files through xarray on the simulation's thread meanwhile, and neither netCDF-C nor the HDF5
    of the netCDF4 wheels is thread-safe (HDF5 built with "Threadsafety: OFF").
    HDF5 keeps what is written in memory until the file is closed (whatever the chunk cache): one
    open-write-close per buffer, as OpenDrift's own writer does, bounds that to one buffer.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = None
        self._pending = None

    def submit(self, t0: int, t1: int, slabs: dict[str, np.ndarray]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="particles-nc")
        self._pending = self._pool.submit(self._write, t0, t1, slabs)

    def _write(self, t0: int, t1: int, slabs: dict[str, np.ndarray]) -> None:
        with netcdf_lock(), _opened(self.path) as nc:  # the lock until the file is closed (and its chunks written)
            for name, values in slabs.items():
                if name == "time":
                    nc[name][t0:t1] = values
                else:
                    nc[name][:, t0:t1] = values
        slabs.clear()
        _release_freed_memory()

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        self.wait()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def netcdf_lock():
    """The lock around every netCDF4 (netCDF-C, HDF5) call xarray's netCDF4 backend makes, for calls made off the
    main thread: two threads inside the non-thread-safe libraries at once can corrupt their global state."""
    from xarray.backends.netCDF4_ import NETCDF4_PYTHON_LOCK

    return NETCDF4_PYTHON_LOCK


def _opened(path: Path):
    import netCDF4

    return netCDF4.Dataset(path, "a")


def _release_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc keeps them; this is what PSS counts)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc


def _encoded(variable, name: str):
    from xarray.conventions import encode_cf_variable

    var = variable.copy(deep=False)
    var.attrs = {k: v for k, v in var.attrs.items() if k != "dtype"}
    var.encoding = variable_encoding(name, variable.attrs)
    return encode_cf_variable(var, name=name)


def _seeded_rows(model) -> np.ndarray:
    unseeded = set(np.asarray(model.elements_scheduled.ID).tolist())
    return np.array([i for i in range(model.num_elements_total()) if i not in unseeded], dtype=np.int64)


def _truncate(path: Path, times: int, rows: np.ndarray | None) -> None:
    """Rewrite the file with its first `times` output times (and only `rows` trajectories), slab by slab."""
    import netCDF4

    tmp = path.with_suffix(".tmp.nc")
    with netCDF4.Dataset(path) as src, netCDF4.Dataset(tmp, "w", format="NETCDF4") as dst:
        sizes = {"trajectory": len(rows) if rows is not None else src.dimensions["trajectory"].size, "time": times}
        for dim in src.dimensions:
            dst.createDimension(dim, sizes[dim])
        for var in src.variables.values():
            _copy_values(var, _like(dst, var, sizes), times, rows)
        dst.setncatts({k: src.getncattr(k) for k in src.ncattrs()})
    os.replace(tmp, path)


def _like(dst, var, sizes: dict[str, int]):
    """An empty copy of `var` (type, fill value, compression, attributes) in `dst`, chunks capped by `sizes`."""
    var.set_auto_maskandscale(False)
    fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
    filters, chunks = var.filters() or {}, var.chunking()
    if chunks != "contiguous":
        chunks = [min(c, max(1, sizes[d])) for c, d in zip(chunks, var.dimensions, strict=True)]
    out = dst.createVariable(
        var.name, var.dtype, var.dimensions, zlib=bool(filters.get("zlib")), complevel=1,
        shuffle=bool(filters.get("shuffle")), chunksizes=None if chunks == "contiguous" else chunks, fill_value=fill,
    )  # fmt: skip
    out.set_auto_maskandscale(False)
    out.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
    return out


def _copy_values(var, out, times: int, rows: np.ndarray | None) -> None:
    if var.dimensions == ("time",):
        out[:] = var[:times]
    elif var.dimensions == ("trajectory",):
        out[:] = var[:] if rows is None else var[:][rows]
    else:
        step = max(1, MAX_CHUNK_VALUES // max(1, var.shape[0]))
        for t in range(0, times, step):
            block = var[:, t : min(t + step, times)]
            out[:, t : min(t + step, times)] = block if rows is None else block[rows]


class TrajectoryBuilder:
    """The products' arrays filled buffer by buffer: states decoded, final states carried forward.

    Positions are kept as float32 (OpenDrift's own output precision), so nothing is lost and half the memory.
    """

    def __init__(self, n: int, nt: int, default_object: int, categories: list[str]) -> None:
        self.categories = categories
        self.times = np.zeros(nt, dtype="datetime64[s]")
        self.lon = np.full((n, nt), np.nan, dtype=np.float32)
        self.lat = np.full((n, nt), np.nan, dtype=np.float32)
        self.state = np.full((n, nt), NOT_RELEASED, dtype=np.int8)
        self.object_number = np.full(n, np.nan, dtype=np.float32)
        self.default_object = default_object
        self.has_objects = True
        self.last_state = np.full(n, NOT_RELEASED, dtype=np.int8)  # at the last time each particle was written
        self.last_lon = np.full(n, np.nan, dtype=np.float32)
        self.last_lat = np.full(n, np.nan, dtype=np.float32)

    def add(self, ds, t0: int) -> None:
        nt = ds.sizes["time"]
        self.times[t0 : t0 + nt] = ds["time"].values.astype("datetime64[s]")
        self.has_objects = "object_type" in ds  # Leeway only; other models' particles get object number 0
        objects = ds["object_type"].values if self.has_objects else None
        todo = np.isnan(self.object_number) if self.has_objects else np.zeros(0, bool)
        if todo.any():
            has = np.isfinite(objects[todo])
            first = np.argmax(has, axis=1)
            found = objects[todo][np.arange(first.size), first]
            self.object_number[todo] = np.where(has.any(axis=1), found, np.nan)
        lon, lat, status = ds["lon"].values, ds["lat"].values, ds["status"].values
        self._columns(t0, lon, lat, status)

    def _columns(self, t0: int, lon: np.ndarray, lat: np.ndarray, status: np.ndarray) -> None:
        """A buffer's output times at once, by the same rules as driftline.simulation's in-memory conversion:
        a particle not written carries its last written state (vanished while active: out of domain), and a
        stranded one its stranding point; what each particle last had is carried into the next buffer."""
        n, k = lon.shape
        valid = np.isfinite(lon) & np.isfinite(status)
        code = np.clip(np.where(valid, status, 0).astype(int), 0, len(self.categories))
        state = np.where(valid, _state_of_category(self.categories)[code], NOT_RELEASED).astype(np.int8)
        seen = state != NOT_RELEASED
        last = np.maximum.accumulate(np.where(seen, np.arange(k)[None, :], -1), axis=1)  # last column written
        rows, src, had = np.arange(n)[:, None], np.maximum(last, 0), last >= 0
        last_state = np.where(had, state[rows, src], self.last_state[:, None])
        last_lon = np.where(had, lon[rows, src], self.last_lon[:, None])
        last_lat = np.where(had, lat[rows, src], self.last_lat[:, None])
        final = np.where(last_state == ACTIVE, OUT_OF_DOMAIN, last_state)  # vanished while active
        new = np.where(seen, state, final).astype(np.int8)
        active, stranded = new == ACTIVE, new == STRANDED
        cols = slice(t0, t0 + k)
        self.state[:, cols] = new
        self.lon[:, cols] = np.where(stranded, last_lon, np.where(active, lon, np.nan))
        self.lat[:, cols] = np.where(stranded, last_lat, np.where(active, lat, np.nan))
        self.last_state, self.last_lon, self.last_lat = (a[:, -1].copy() for a in (last_state, last_lon, last_lat))

    def truncate(self, times: int, rows: np.ndarray | None) -> None:
        sel = slice(None) if rows is None else rows
        self.times = self.times[:times]
        self.lon, self.lat, self.state = (a[sel, :times] for a in (self.lon, self.lat, self.state))
        self.object_number = self.object_number[sel]

    def build(self) -> Trajectories:
        return Trajectories(
            times=self.times,
            lon=self.lon,
            lat=self.lat,
            state=self.state,
            member=np.zeros(self.lon.shape[0], dtype=np.int16),
            object_number=np.nan_to_num(self.object_number, nan=self.default_object).astype(np.int16)
            if self.has_objects
            else np.zeros(self.lon.shape[0], dtype=np.int16),
            masked=True,
        )


def _state_of_category(categories: list[str]) -> np.ndarray:
    """Trajectories state of each OpenDrift status code (and of an unknown code, the last entry)."""
    states = [ACTIVE if c == "active" else STRANDED if c in STRANDED_REASONS else OUT_OF_DOMAIN for c in categories]
    return np.array([*states, OUT_OF_DOMAIN], dtype=np.int8)
