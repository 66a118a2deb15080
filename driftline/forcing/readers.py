"""Reading forcing files: open them with OpenDrift's readers and describe what they provide."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from driftline.errors import ForcingError
from driftline.forcing.common import CURRENT_VARS, QUANTITIES, WIND_VARS, as_utc, one_line

NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


@dataclass(frozen=True)
class DatasetInfo:
    """What a forcing file provides, where and when, as read by OpenDrift."""

    path: str
    reader_type: str  # "netCDF_CF_generic" or "ROMS_native"
    variables: list[str]
    provides_currents: bool
    provides_wind: bool
    lon_min: float
    lon_max: float
    lat_min: float
    lat_max: float
    time_start: datetime | None  # UTC; None when the file has no time axis
    time_end: datetime | None
    resolution_m: float | None
    size_bytes: int


def open_reader(path: Path | str, label: str | None = None):
    """Open a forcing file with the OpenDrift reader that fits it; ForcingError names `label` (e.g. its URI)."""
    path, label = Path(path), label or str(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as e:
        raise ForcingError(f"forcing file {label} cannot be opened: {e.strerror or e}") from e
    if not head.startswith(NETCDF_MAGIC):
        raise ForcingError(f"forcing file {label} is not a NetCDF file")
    try:
        if _is_roms_native(path):
            from opendrift.readers.reader_ROMS_native import Reader
        else:
            from opendrift.readers.reader_netCDF_CF_generic import Reader
        return Reader(str(path), name=label)
    except Exception as e:
        raise ForcingError(f"forcing file {label} cannot be read by OpenDrift: {one_line(e)}") from e


def _is_roms_native(path: Path) -> bool:
    """ROMS native output (s-coordinates, `ocean_time`) needs OpenDrift's ROMS reader."""
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        return "s_rho" in ds.dimensions or "ocean_time" in ds.variables


def provided(reader) -> dict[str, bool]:
    """Which quantities (currents, wind) the reader provides, by OpenDrift variable name."""
    return {q: all(v in reader.variables for v in names) for q, names in QUANTITIES.items()}


def check_usable(reader, label: str) -> dict[str, bool]:
    """The provided quantities; ForcingError naming the file when it has neither currents nor wind."""
    quantities = provided(reader)
    if not any(quantities.values()):
        have = ", ".join(sorted(reader.variables)) or "nothing"
        raise ForcingError(
            f"forcing file {label} has none of the needed variables (currents: {'/'.join(CURRENT_VARS)}, "
            f"wind: {'/'.join(WIND_VARS)}); it provides {have}"
        )
    return quantities


def inspect_reader(reader, path: Path | str, label: str | None = None) -> DatasetInfo:
    """Variables, lon/lat box, time range and resolution of an open reader."""
    quantities = check_usable(reader, label or str(path))
    lon_min, lon_max, lat_min, lat_max = _bbox(reader)
    return DatasetInfo(
        path=str(path),
        reader_type=type(reader).__module__.rsplit(".reader_", 1)[-1],
        variables=sorted(v for v in reader.variables if v not in ("latitude", "longitude")),
        provides_currents=quantities["currents"],
        provides_wind=quantities["wind"],
        lon_min=lon_min,
        lon_max=lon_max,
        lat_min=lat_min,
        lat_max=lat_max,
        time_start=as_utc(reader.start_time),
        time_end=as_utc(reader.end_time),
        resolution_m=_resolution_m(reader, (lat_min + lat_max) / 2),
        size_bytes=Path(path).stat().st_size,
    )


def inspect_forcing_file(path: Path | str, label: str | None = None) -> DatasetInfo:
    """Open a forcing file with OpenDrift and describe it; ForcingError naming the file if unusable."""
    return inspect_reader(open_reader(path, label), path, label)


def _bbox(reader) -> tuple[float, float, float, float]:
    """lon_min, lon_max, lat_min, lat_max of the reader's domain (grid edges mapped to lon/lat)."""
    lon, lat = getattr(reader, "lon", None), getattr(reader, "lat", None)
    if not getattr(reader, "projected", True) and isinstance(lon, np.ndarray):
        lons, lats = np.asarray(lon, float), np.asarray(lat, float)  # curvilinear grid: its own lon/lat arrays
    else:
        n = 50
        xs, ys = np.linspace(reader.xmin, reader.xmax, n), np.linspace(reader.ymin, reader.ymax, n)
        x = np.concatenate([xs, np.full(n, reader.xmax), xs, np.full(n, reader.xmin)])
        y = np.concatenate([np.full(n, reader.ymin), ys, np.full(n, reader.ymax), ys])
        lons, lats = (np.asarray(a, float) for a in reader.xy2lonlat(x, y))
    box = [np.nanmin(lons), np.nanmax(lons), np.nanmin(lats), np.nanmax(lats)]
    if reader.global_coverage():
        box[:2] = [-180.0, 180.0]
    for pole in (90.0, -90.0):  # a grid around a pole covers every longitude up to that pole
        if len(reader.covers_positions(np.array([0.0]), np.array([pole]))[0]):
            box = [-180.0, 180.0, min(box[2], pole), max(box[3], pole)]
    return tuple(round(float(b), 6) for b in box)


def _resolution_m(reader, lat_mid: float) -> float | None:
    """Horizontal grid spacing in metres (geometric mean of both directions on lat/lon grids)."""
    geographic = reader.proj is not None and reader.proj.crs.is_geographic and "ob_tran" not in str(reader.proj4)
    if geographic and reader.delta_x and reader.delta_y:
        return float(111_195 * math.sqrt(reader.delta_x * reader.delta_y * math.cos(math.radians(lat_mid))))
    size = reader.pixel_size()
    return float(size) if size else None
