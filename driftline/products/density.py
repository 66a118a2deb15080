"""Probability density map: particle fractions per grid cell and output time, and its CF-1.8 NetCDF writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import netCDF4
import numpy as np

from driftline.geodesy import normalise_lon
from driftline.products.grid import Grid, present_positions
from driftline.products.shares import time_shares
from driftline.trajectory import STRANDED, Trajectories

if TYPE_CHECKING:
    from driftline.products.areas import MemberStats
    from driftline.products.meta import ProductMeta

FILL = np.float32(netCDF4.default_fillvals["f4"])


@dataclass
class Density:
    """Per-time probability per cell, the shares of the states and the probability-weighted centre."""

    grid: Grid
    times: np.ndarray  # (T,) datetime64[s]
    probability: np.ndarray  # (T, nlat, nlon) float32 share of the total probability (floating or stranded)
    stranded: np.ndarray  # (T, nlat, nlon) float32, the stranded part of probability
    present: np.ndarray  # (T,) int, particles counted per time
    centre_lat: np.ndarray  # (T,) probability-weighted centre, NaN when nothing is present
    centre_lon: np.ndarray
    shares: dict[str, np.ndarray] = field(default_factory=dict)  # (T,) floating/stranded/out_of_domain/not_released
    outside_forcing: np.ndarray | None = None  # (T,) share floating outside the forcing files, when there are files


def compute_density(traj: Trajectories, grid: Grid) -> Density:
    """Bin the floating and stranded particles of every output time by weight (one bincount per time).

    Each slice sums to the share floating + stranded at that time; the rest of the probability is out of
    the domain or not released yet (`shares`), so nothing is renormalised away. The cells are found one time
    at a time: an (N, T) index array was 48 MB of the largest mission's memory, held to the end of its products.
    """
    lon, lat = present_positions(traj)
    ncell, nt = grid.nlat * grid.nlon, traj.num_times
    present = np.zeros(nt, np.int64)
    w = traj.shares()
    prob = np.zeros((nt, grid.nlat, grid.nlon), np.float32)
    strand = np.zeros_like(prob)
    for t in range(nt):
        c = grid.index(lon[:, t], lat[:, t])
        ok = c >= 0
        present[t] = np.count_nonzero(ok)
        if not present[t]:
            continue
        prob[t] = np.bincount(c[ok], w[ok], minlength=ncell).reshape(grid.nlat, grid.nlon)
        s = ok & (traj.state[:, t] == STRANDED)
        if s.any():
            strand[t] = np.bincount(c[s], w[s], minlength=ncell).reshape(grid.nlat, grid.nlon)
    with np.errstate(invalid="ignore", divide="ignore"):
        py, px = prob.sum(axis=2, dtype=np.float64), prob.sum(axis=1, dtype=np.float64)
        has = (present > 0) & (py.sum(axis=1) > 0)
        clat = np.where(has, py @ grid.lat / py.sum(axis=1), np.nan)
        clon = np.where(has, px @ grid.lon / px.sum(axis=1), np.nan)
    return Density(grid, traj.times, prob, strand, present, clat, clon, time_shares(traj))


WRITE_BLOCK_BYTES = 8 * 2**20  # float32 time slices written to density.nc at once


def time_blocks(shape: tuple[int, ...], block_bytes: int | None = None) -> list[slice]:
    """Runs of whole time slices of a (T, nlat, nlon) float32 field of at most block_bytes (at least one slice).

    One write per run instead of per slice (a small mission's 3 x 25 writes through netCDF4 and HDF5 were most
    of density.nc's time), while the largest missions' temporaries (probability / cell area) stay bounded.
    """
    per = max(1, (block_bytes or WRITE_BLOCK_BYTES) // max(1, 4 * int(np.prod(shape[1:]))))
    return [slice(t, min(t + per, shape[0])) for t in range(0, shape[0], per)]


def time_seconds(times: np.ndarray) -> np.ndarray:
    """datetime64 times as float seconds since 1970-01-01 (CF time values)."""
    return times.astype("datetime64[s]").astype(np.int64).astype(np.float64)


def global_attrs(meta: ProductMeta, dens: Density, traj: Trajectories) -> dict[str, object]:
    """Global attributes: CF/ACDD basics plus the mission context a coordinator needs."""
    backward = meta.direction == "backward"
    what = "Origin probability (backward run)" if backward else "Drift probability"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    g = dens.grid
    attrs: dict[str, object] = dict(
        Conventions="CF-1.8",
        title=f"{what} map, mission {meta.mission_id}",
        summary=(
            f"{what}: probability (share of the weighted particles, floating or stranded) in each grid cell at "
            "each output time; share_* give the floating, stranded, out-of-domain and not-yet-released shares, "
            f"which sum to 1. Object: {meta.object_description}. Scenario: {meta.scenario_description}"
        ),
        source="OpenDrift Leeway simulation",
        mission_id=meta.mission_id,
        direction=meta.direction,
        object_type=meta.object_description,
        start_time=meta.start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        last_known_position_kind="found_position" if backward else "last_known_position",
        last_known_position_lat=float(meta.lkp_lat),
        last_known_position_lon=float(meta.lkp_lon),
        forcing=meta.forcing_description,
        scenario=meta.scenario_description,
        software_versions=", ".join(f"{k} {v}" for k, v in meta.software_versions.items()),
        grid_resolution_m=float(g.resolution_m),
        num_particles=int(traj.num_particles),
        geospatial_lat_min=float(g.lat0),
        geospatial_lat_max=float(g.lat0 + g.nlat * g.dlat),
        geospatial_lon_min=normalise_lon(g.lon0),  # ACDD: min > max when the grid crosses the antimeridian
        geospatial_lon_max=normalise_lon(g.lon0 + g.nlon * g.dlon),
        date_created=now,
        history=f"{now} created by driftline products from {traj.num_particles} particles x {traj.num_times} times",
    )
    for key, value in [*((f"software_{k}", v) for k, v in meta.software_versions.items()), *meta.extra_attrs.items()]:
        attrs.setdefault(key, str(value))  # extra attributes never override the ones above
    return attrs


def _var(nc: netCDF4.Dataset, name: str, dtype: str, dims: tuple[str, ...], **attrs: object) -> netCDF4.Variable:
    """Compressed variable with attributes; 3-D fields are chunked one time slice at a time."""
    chunks = (1, *(len(nc.dimensions[d]) for d in dims[1:])) if len(dims) == 3 else None
    fill = attrs.pop("_FillValue", None)
    v = nc.createVariable(name, dtype, dims, zlib=True, complevel=4, shuffle=True, chunksizes=chunks, fill_value=fill)
    if chunks is not None:
        bound_chunk_cache(v)
    v.setncatts(attrs)
    return v


def bound_chunk_cache(var: netCDF4.Variable, chunks: int = 2) -> None:
    """Let HDF5 cache at most `chunks` chunks of a variable read or written slice by slice: its default (64 MB a
    variable) kept every time slice of the largest missions' fields in memory until the file was closed."""
    layout = var.chunking()
    if layout == "contiguous":
        return
    size = chunks * int(np.prod(layout)) * var.dtype.itemsize
    var.set_var_chunk_cache(size=size, nelems=max(chunks, 1), preemption=1.0)


def _write_coords(nc: netCDF4.Dataset, g: Grid, times: np.ndarray) -> None:
    """time, lat, lon coordinate variables with cell bounds, and the cell areas."""
    for dim, size in (("time", len(times)), ("lat", g.nlat), ("lon", g.nlon), ("nv", 2)):
        nc.createDimension(dim, size)
    t = _var(nc, "time", "f8", ("time",), standard_name="time", long_name="time", axis="T", calendar="standard")
    t.units = "seconds since 1970-01-01 00:00:00"
    t[:] = time_seconds(times)
    for name, std, units, axis, centres, edges in (
        ("lat", "latitude", "degrees_north", "Y", g.lat, g.lat_edges),
        ("lon", "longitude", "degrees_east", "X", g.lon, g.lon_edges),
    ):
        v = _var(nc, name, "f8", (name,), standard_name=std, long_name=std, units=units, axis=axis)
        v.bounds = f"{name}_bnds"
        v[:] = centres
        _var(nc, f"{name}_bnds", "f8", (name, "nv"))[:] = np.stack([edges[:-1], edges[1:]], axis=1)
    area = _var(nc, "cell_area", "f4", ("lat", "lon"), standard_name="cell_area", long_name="area of grid cell")
    area.units = "m2"
    area[:] = np.repeat(g.cell_area_km2()[:, None] * 1e6, g.nlon, axis=1)


def _write_fields(nc: netCDF4.Dataset, dens: Density, backward: bool) -> None:
    """probability, stranded_probability, probability_density, particle counts, shares and the centre."""
    noun = "origin" if backward else "object location"
    dims = ("time", "lat", "lon")
    common = {"_FillValue": FILL, "cell_measures": "area: cell_area", "cell_methods": "area: sum"}
    p = _var(nc, "probability", "f4", dims, long_name=f"probability of {noun} in grid cell", units="1", **common)
    p.comment = (
        "share of the total probability (floating or stranded particles, by weight) in the cell; each time sums "
        "to share_floating + share_stranded"
    )
    s = _var(nc, "stranded_probability", "f4", dims, units="1", **common)
    s.long_name = "probability of stranded object in grid cell"
    s.comment = "stranded part of probability; each time sums to share_stranded"
    common["cell_methods"] = "area: mean"
    d = _var(nc, "probability_density", "f4", dims, units="km-2", **common)
    d.long_name = f"probability density of {noun}"
    d.comment = "probability / cell_area, per km2"
    area_km2 = dens.grid.cell_area_km2()[:, None].astype(np.float32)
    for block in time_blocks(dens.probability.shape):
        p[block] = dens.probability[block]
        s[block] = dens.stranded[block]
        d[block] = dens.probability[block] / area_km2
    n = _var(nc, "particles_present", "i4", ("time",), long_name="number of particles floating or stranded")
    n.units = "1"
    n[:] = dens.present
    for name, values in dens.shares.items():
        v = _var(nc, f"share_{name}", "f8", ("time",), units="1", long_name=f"share of the probability {_SHARE[name]}")
        v.comment = "share_floating + share_stranded + share_out_of_domain + share_not_released = 1 at every time"
        v[:] = values
    if dens.outside_forcing is not None:
        v = _var(nc, "share_floating_outside_forcing", "f8", ("time",), units="1")
        v.long_name = "share of the probability floating outside the forcing files"
        v.comment = "part of share_floating driven by the on-scene or zero fallback only: the forecast is blind there"
        v[:] = dens.outside_forcing
    for name, values, std, units in (
        ("centre_lat", dens.centre_lat, "latitude", "degrees_north"),
        ("centre_lon", dens.centre_lon, "longitude", "degrees_east"),
    ):
        c = _var(nc, name, "f8", ("time",), long_name=f"probability-weighted centre {std}", _FillValue=np.nan)
        c.units = units
        c[:] = values


_SHARE = {
    "floating": "floating",
    "stranded": "stranded on the coast",
    "out_of_domain": "that left the model domain (or was deactivated for lack of forcing)",
    "not_released": "not yet released",
}


def write_density_nc(
    path: Path, dens: Density, meta: ProductMeta, traj: Trajectories, members: MemberStats | None = None
) -> Path:
    """Write density.nc (CF-1.8): probability and stranded_probability on (time, lat, lon), plus member stats."""
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.setncatts(global_attrs(meta, dens, traj))
        _write_coords(nc, dens.grid, dens.times)
        _write_fields(nc, dens, meta.direction == "backward")
        if members is not None:
            write_members(nc, members)
    return path


def write_members(nc: netCDF4.Dataset, members: MemberStats) -> None:
    """Per-ensemble-member centre and 90 % area on (member, time)."""
    nc.createDimension("member", len(members.names))
    names = nc.createVariable("member_name", str, ("member",))
    names.long_name = "ensemble member name"
    names[:] = np.array(members.names, dtype=object)
    for name, data, long_name, units in (
        ("member_centre_lat", members.centre_lat, "density-weighted centre latitude of member", "degrees_north"),
        ("member_centre_lon", members.centre_lon, "density-weighted centre longitude of member", "degrees_east"),
        ("member_area_90_km2", members.area_90_km2, "area of the smallest region holding 90 % of member", "km2"),
    ):
        v = _var(nc, name, "f8", ("member", "time"), long_name=long_name, units=units, _FillValue=np.nan)
        v.coordinates = "member_name"
        if name == "member_area_90_km2":
            v.comment = "computed at the search-area times (every search_area_interval_hours and the final time)"
        v[:] = data
