"""particles.nc's slab writer: its writes off the main thread never run inside netCDF-C/HDF5 beside xarray's."""

from __future__ import annotations

import time

import netCDF4
import numpy as np
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
