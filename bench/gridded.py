"""A real-size gridded forcing file for the benchmark: CF current and wind, 300 x 300 cells, hourly for 48 h.

    .venv/bin/python bench/gridded.py OUT.nc [--cells 300] [--hours 48]

The fields vary in space and time (a meandering current, a veering wind), so OpenDrift's readers really
interpolate: 4 variables x 49 times x 300 x 300 float32 = 70 MB. Used by bench/run.py's workload G (the same
file for the worker, uploaded to the forcing bucket, and for plain OpenDrift's bare run).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

# Around bench/run.py's scene (57N 3E): 0.02 deg x 0.01 deg cells, ~1.2 km x 1.1 km.
LON = (0.0, 6.0)
LAT = (55.5, 58.5)


def write_grid(path: Path, start: datetime, cells: int = 300, hours: int = 48) -> Path:
    """Write the CF file (eastward/northward current, x/y wind; variables by CF standard name)."""
    import xarray as xr

    lon = np.linspace(*LON, cells)
    lat = np.linspace(*LAT, cells)
    times = np.array([start + timedelta(hours=h) for h in range(hours + 1)], dtype="datetime64[ns]")
    t = np.arange(hours + 1, dtype=np.float32)[:, None, None]
    y = np.radians(lat, dtype=np.float32)[None, :, None] * 40
    x = np.radians(lon, dtype=np.float32)[None, None, :] * 40
    dims = ("time", "lat", "lon")

    def field(values, standard_name: str):
        return dims, np.broadcast_to(values, (hours + 1, cells, cells)).astype("f4"), {
            "standard_name": standard_name, "units": "m s-1"}  # fmt: skip

    ds = xr.Dataset(
        {
            "u": field(0.3 + 0.15 * np.sin(x + 0.2 * t) * np.cos(y), "eastward_sea_water_velocity"),
            "v": field(0.1 * np.cos(x - y + 0.1 * t), "northward_sea_water_velocity"),
            "x_wind": field(7.0 + 2.0 * np.cos(y + 0.05 * t) + 0 * x, "x_wind"),
            "y_wind": field(2.5 * np.sin(x * 0.5 + 0.13 * t) + 0 * y, "y_wind"),
        },
        coords={
            "time": ("time", times, {"standard_name": "time"}),
            "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={"Conventions": "CF-1.8", "title": f"benchmark forcing {cells}x{cells}x{hours + 1}"},
    )
    ds.to_netcdf(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--cells", type=int, default=300)
    p.add_argument("--hours", type=int, default=48)
    p.add_argument("--start", default="2024-01-01T00:00:00")
    args = p.parse_args(argv)
    write_grid(Path(args.out), datetime.fromisoformat(args.start), args.cells, args.hours)
    return 0


if __name__ == "__main__":
    sys.exit(main())
