"""particles.nc's slab writer: its writes off the main thread never run inside netCDF-C/HDF5 beside xarray's."""

from __future__ import annotations

import time

import netCDF4
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from xarray.backends.netCDF4_ import NETCDF4_PYTHON_LOCK

from driftline import trajfile


def _empty_file(path):
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("trajectory", 10)
        nc.createDimension("time", 4)
        nc.createVariable("time", "f8", ("time",))
        nc.createVariable("lon", "f4", ("trajectory", "time"), zlib=True, complevel=1)
    return path


def test_a_slab_write_waits_while_xarray_is_inside_netcdf(tmp_path):
    """A forcing reader reads through xarray (holding its lock) on the simulation's thread: the writer waits.
    Neither netCDF-C nor the wheels' HDF5 is thread-safe, so the two must not run at once."""
    path = _empty_file(tmp_path / "particles.nc")
    writer = trajfile._SlabWriter(path)
    with NETCDF4_PYTHON_LOCK:  # as xarray's NetCDF4ArrayWrapper holds it around a read
        writer.submit(0, 2, {"time": np.arange(2.0), "lon": np.full((10, 2), 3.5, dtype="f4")})
        time.sleep(0.3)
        assert not writer._pending.done()
    writer.close()
    with netCDF4.Dataset(path) as nc:
        np.testing.assert_array_equal(nc["lon"][:, :2], 3.5)
        np.testing.assert_array_equal(nc["time"][:2], [0.0, 1.0])


def _per_time(categories, lon, lat, status):
    """The rules one output time at a time (the builder's loop before it took whole buffers)."""
    n, nt = lon.shape
    last_state, last_lon, last_lat = (
        np.full(n, v, dtype=d) for v, d in ((-1, np.int8), (np.nan, "f4"), (np.nan, "f4"))
    )
    last_state[:] = trajfile.NOT_RELEASED
    out = {k: np.empty((n, nt), d) for k, d in (("state", np.int8), ("lon", "f4"), ("lat", "f4"))}
    for t in range(nt):
        valid = np.isfinite(lon[:, t]) & np.isfinite(status[:, t])
        code = np.where(valid, status[:, t], 0).astype(int)
        names = np.array(categories + ["?"])[np.clip(code, 0, len(categories))]
        state = np.full(n, trajfile.NOT_RELEASED, dtype=np.int8)
        stranded = np.isin(names, trajfile.STRANDED_REASONS)
        state[valid & (names == "active")] = trajfile.ACTIVE
        state[valid & stranded] = trajfile.STRANDED
        state[valid & (names != "active") & ~stranded] = trajfile.OUT_OF_DOMAIN
        seen = state != trajfile.NOT_RELEASED
        last_state[seen], last_lon[seen], last_lat[seen] = state[seen], lon[seen, t], lat[seen, t]
        final = np.where(last_state == trajfile.ACTIVE, trajfile.OUT_OF_DOMAIN, last_state)
        new = np.where(seen, state, final).astype(np.int8)
        out["state"][:, t] = new
        active, stranded = new == trajfile.ACTIVE, new == trajfile.STRANDED
        out["lon"][:, t] = np.where(stranded, last_lon, np.where(active, lon[:, t], np.nan))
        out["lat"][:, t] = np.where(stranded, last_lat, np.where(active, lat[:, t], np.nan))
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 30), st.integers(1, 25), st.lists(st.integers(1, 8), min_size=1, max_size=25),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_whole_buffers_follow_the_per_time_rules(n, nt, cuts, seed):
    """Buffers of any length: release, stranding, leaving the domain, unknown and negative status codes."""
    rng = np.random.default_rng(seed)
    categories = ["active", "stranded", "missing_data", "ship stranded"]
    lon = rng.uniform(3, 4, (n, nt)).astype("f4")
    lat = rng.uniform(60, 61, (n, nt)).astype("f4")
    status = rng.choice([0, 0, 0, 1, 2, 3, 7, -1], (n, nt)).astype("f4")
    lon[rng.random((n, nt)) < 0.3] = np.nan  # not written (not released, or deactivated before)
    status[rng.random((n, nt)) < 0.05] = np.nan
    builder = trajfile.TrajectoryBuilder(n, nt, 0, categories)
    t0 = 0
    for size in cuts:
        if t0 >= nt:
            break
        k = min(size, nt - t0)
        builder._columns(t0, lon[:, t0 : t0 + k], lat[:, t0 : t0 + k], status[:, t0 : t0 + k])
        t0 += k
    if t0 < nt:
        builder._columns(t0, lon[:, t0:], lat[:, t0:], status[:, t0:])
    expected = _per_time(categories, lon, lat, status)
    np.testing.assert_array_equal(builder.state, expected["state"])
    np.testing.assert_array_equal(builder.lon, expected["lon"])
    np.testing.assert_array_equal(builder.lat, expected["lat"])
