"""Tiny CF-NetCDF forcing files for the tests, written with xarray."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyproj
import xarray as xr

START = datetime(2024, 1, 1, 12)


def _times(start: datetime, hours: int, step_h: int = 1) -> np.ndarray:
    start = start.replace(tzinfo=None)  # UTC
    return np.array([start + timedelta(hours=h) for h in range(0, hours + 1, step_h)], dtype="datetime64[ns]")


def _latlon_coords(lon: tuple[float, float], lat: tuple[float, float], step: float, times: np.ndarray) -> dict:
    lons = np.arange(lon[0], lon[1] + step / 2, step)
    lats = np.arange(lat[0], lat[1] + step / 2, step)
    return {
        "time": ("time", times, {"standard_name": "time"}),
        "lat": ("lat", lats, {"standard_name": "latitude", "units": "degrees_north"}),
        "lon": ("lon", lons, {"standard_name": "longitude", "units": "degrees_east"}),
    }


def _uniform(coords: dict, value: float) -> np.ndarray:
    return np.full((len(coords["time"][1]), len(coords["lat"][1]), len(coords["lon"][1])), value, dtype="f4")


def write_current(
    path: Path,
    u: float = 0.5,
    v: float = 0.0,
    lon: tuple[float, float] = (0.0, 10.0),
    lat: tuple[float, float] = (55.0, 65.0),
    step: float = 0.25,
    start: datetime = START,
    hours: int = 6,
) -> Path:
    """A uniform current (eastward/northward components) on a regular lat/lon grid."""
    coords = _latlon_coords(lon, lat, step, _times(start, hours))
    dims = ("time", "lat", "lon")
    ds = xr.Dataset(
        {
            "u": (dims, _uniform(coords, u), {"standard_name": "eastward_sea_water_velocity", "units": "m s-1"}),
            "v": (dims, _uniform(coords, v), {"standard_name": "northward_sea_water_velocity", "units": "m s-1"}),
        },
        coords=coords,
        attrs={"Conventions": "CF-1.8", "title": "test current"},
    )
    ds.to_netcdf(path)
    return path


def write_wind(
    path: Path,
    speed: float = 8.0,
    lon: tuple[float, float] = (0.0, 10.0),
    lat: tuple[float, float] = (55.0, 65.0),
    step: float = 0.5,
    start: datetime = START,
    hours: int = 6,
) -> Path:
    """A wind of constant speed whose direction rotates 30° per hour (x_wind/y_wind on a lat/lon grid)."""
    times = _times(start, hours)
    coords = _latlon_coords(lon, lat, step, times)
    angle = np.radians(30.0 * np.arange(len(times)))[:, None, None]
    ones = _uniform(coords, 1.0)
    dims = ("time", "lat", "lon")
    ds = xr.Dataset(
        {
            "x_wind_10m": (dims, speed * np.cos(angle) * ones, {"standard_name": "x_wind", "units": "m s-1"}),
            "y_wind_10m": (dims, speed * np.sin(angle) * ones, {"standard_name": "y_wind", "units": "m s-1"}),
        },
        coords=coords,
        attrs={"Conventions": "CF-1.8", "title": "test wind"},
    )
    ds.to_netcdf(path)
    return path


STEREO = "+proj=stere +lat_0=90 +lat_ts=60 +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"


def write_projected_current(
    path: Path, center: tuple[float, float] = (5.0, 70.0), cells: int = 21, dx_m: float = 10_000.0, hours: int = 6
) -> Path:
    """A north-going current on a polar stereographic grid (grid_mapping + projection_x/y_coordinate in m)."""
    x0, y0 = pyproj.Proj(STEREO)(*center)
    half = (cells - 1) / 2 * dx_m
    x = x0 + np.linspace(-half, half, cells)
    y = y0 + np.linspace(-half, half, cells)
    times = _times(START, hours)
    shape = (len(times), cells, cells)
    dims = ("time", "y", "x")
    attrs = {"standard_name": "northward_sea_water_velocity", "units": "m s-1", "grid_mapping": "projection_stere"}
    ds = xr.Dataset(
        {
            "u": (dims, np.zeros(shape, "f4"), {**attrs, "standard_name": "eastward_sea_water_velocity"}),
            "v": (dims, np.full(shape, 0.2, "f4"), attrs),
            "projection_stere": (
                (),
                np.int32(0),
                {
                    "grid_mapping_name": "polar_stereographic",
                    "straight_vertical_longitude_from_pole": 0.0,
                    "latitude_of_projection_origin": 90.0,
                    "standard_parallel": 60.0,
                    "false_easting": 0.0,
                    "false_northing": 0.0,
                    "proj4": STEREO,
                },
            ),
        },
        coords={
            "time": ("time", times, {"standard_name": "time"}),
            "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m"}),
            "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m"}),
        },
        attrs={"Conventions": "CF-1.8", "title": "test projected current"},
    )
    ds.to_netcdf(path)
    return path


def write_temperature_only(path: Path) -> Path:
    """A valid CF file that has no currents and no wind."""
    coords = _latlon_coords((0.0, 2.0), (60.0, 62.0), 0.5, _times(START, 2))
    temp = {"standard_name": "sea_water_temperature", "units": "degC"}
    ds = xr.Dataset({"temp": (("time", "lat", "lon"), _uniform(coords, 7.0), temp)}, coords=coords)
    ds.to_netcdf(path)
    return path


def write_not_netcdf(path: Path) -> Path:
    """A text file pretending to be NetCDF."""
    path.write_text("this is not a NetCDF file\n" * 10)
    return path
