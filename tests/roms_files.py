"""A small ROMS native output file (s-coordinates, staggered u/v grids, `ocean_time`) for the tests.

OpenDrift reads it with `reader_ROMS_native` (driftline.forcing.readers picks that reader for files with
`s_rho` or `ocean_time`): currents vary in space, time and depth, so its s-to-z and u/v-to-rho interpolation
and the grid rotation really run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np


def write_roms(path: Path, start: datetime, hours: int = 12, lon=(4.0, 5.6), lat=(59.9, 60.7), n=(24, 20)) -> Path:
    """ROMS-like file: `n` = (xi, eta) rho points, 3 s-levels, hourly `ocean_time`, u/v on their own grids."""
    import xarray as xr

    nx, ny = n
    lon_r, lat_r = np.meshgrid(np.linspace(*lon, nx), np.linspace(*lat, ny))
    seconds = np.array([(start + timedelta(hours=h) - datetime(1970, 1, 1)).total_seconds() for h in range(hours + 1)])
    t = np.arange(hours + 1)[:, None, None, None]
    s_rho = np.array([-0.833, -0.5, -0.167])
    depth = s_rho[None, :, None, None]

    def u_field(lo, la):
        return (0.25 + 0.1 * np.sin(lo * 3 + 0.3 * t) * np.cos(la * 5) * (1 + depth)).astype("f4")

    def v_field(lo, la):
        return (0.08 * np.cos(lo * 4 - la * 2 + 0.2 * t) * (1 + 0.5 * depth)).astype("f4")

    lon_u, lat_u = (lon_r[:, 1:] + lon_r[:, :-1]) / 2, (lat_r[:, 1:] + lat_r[:, :-1]) / 2
    lon_v, lat_v = (lon_r[1:, :] + lon_r[:-1, :]) / 2, (lat_r[1:, :] + lat_r[:-1, :]) / 2
    mask = np.ones((ny, nx))
    mask[-3:, -4:] = 0  # a patch of land in the model's own mask
    ds = xr.Dataset(
        {
            "u": (("ocean_time", "s_rho", "eta_u", "xi_u"), u_field(lon_u, lat_u)),
            "v": (("ocean_time", "s_rho", "eta_v", "xi_v"), v_field(lon_v, lat_v)),
            "h": (("eta_rho", "xi_rho"), np.full((ny, nx), 80.0)),
            "mask_rho": (("eta_rho", "xi_rho"), mask),
            "mask_u": (("eta_u", "xi_u"), mask[:, 1:] * mask[:, :-1]),
            "mask_v": (("eta_v", "xi_v"), mask[1:, :] * mask[:-1, :]),
            "angle": (("eta_rho", "xi_rho"), np.full((ny, nx), 0.05)),
            "lon_rho": (("eta_rho", "xi_rho"), lon_r), "lat_rho": (("eta_rho", "xi_rho"), lat_r),
            "lon_u": (("eta_u", "xi_u"), lon_u), "lat_u": (("eta_u", "xi_u"), lat_u),
            "lon_v": (("eta_v", "xi_v"), lon_v), "lat_v": (("eta_v", "xi_v"), lat_v),
            "Cs_r": (("s_rho",), np.array([-0.7, -0.35, -0.1])),
            "hc": ((), 20.0), "Vtransform": ((), 2), "Vstretching": ((), 4),
        },
        coords={
            "ocean_time": ("ocean_time", seconds, {"units": "seconds since 1970-01-01 00:00:00"}),
            "s_rho": ("s_rho", s_rho),
        },
        attrs={"title": "ROMS native test file", "type": "ROMS history file"},
    )  # fmt: skip
    ds.to_netcdf(path)
    return path
