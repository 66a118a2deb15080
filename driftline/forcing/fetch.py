"""The fetch process: reads a remote forcing source (OPeNDAP or Zarr) and answers one request, then exits.

Run as `python -m driftline.forcing.fetch` with a JSON request on stdin (see remote.run_fetch). Remote
reads happen only here, never in a job process: a DAP client that aborts on a malformed answer, a
server that never replies or a host the allow-list does not name costs this short-lived process, not
the mission. Every name lookup passes netguard.guard_sockets; every request has a timeout.

Ops: "probe" (what the source provides, where and when) and "subset" (the mission's box, time
window, variables and surface level written as CF NetCDF).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np

RESULT_MARK = "DRIFTLINE-FETCH-RESULT "
# OpenDrift variable -> CF standard names that give it (a subset of OpenDrift's own mapping).
STANDARD_NAMES = {
    "x_sea_water_velocity": ("x_sea_water_velocity", "eastward_sea_water_velocity", "sea_water_x_velocity",
                             "surface_eastward_sea_water_velocity"),
    "y_sea_water_velocity": ("y_sea_water_velocity", "northward_sea_water_velocity", "sea_water_y_velocity",
                             "surface_northward_sea_water_velocity"),
    "x_wind": ("x_wind", "eastward_wind"),
    "y_wind": ("y_wind", "northward_wind"),
}  # fmt: skip
MAX_COORD_SAMPLES = 400  # 2-D lon/lat are read with a stride that keeps at most this many points per side


class NoCoverage(Exception):
    """The source holds no data for the requested box or time window."""


def open_remote(req: dict):
    """The remote dataset as a lazy xarray Dataset (nothing but metadata read yet)."""
    import xarray as xr

    timeout = req["timeout_s"]
    if req["kind"] == "zarr":
        from driftline.forcing.zarrstore import S3ZarrStore, s3_client

        store = S3ZarrStore(req["url"], s3_client(req.get("storage_options") or {}, timeout))
        return xr.open_zarr(store, consolidated=None, chunks=None)
    import pydap.net
    from pydap.client import open_url

    session = _session(req["url"])
    pydap.net.build_session = lambda **_: session  # pydap would build its own, retrying session per request
    ds = open_url(req["url"], session=session, timeout=timeout, protocol="dap2")
    return xr.open_dataset(xr.backends.PydapDataStore(ds, protocol="dap2"))


def _session(url: str):
    """One requests session: no retries (a failed request fails the source), at most 3 redirects, no downgrade.

    pydap retries a failed https request over plain http; for an https source the http adapter refuses.
    Each redirect's host still passes the socket guard. Credentials: requests reads ~/.netrc.
    """
    import requests
    from requests.adapters import HTTPAdapter

    class Refuse(HTTPAdapter):
        def send(self, request, *args, **kwargs):
            raise requests.exceptions.InvalidSchema(f"plain http refused for an https source: {request.url}")

    session = requests.Session()
    session.max_redirects = 3
    session.mount("https://", HTTPAdapter(max_retries=0))
    session.mount("http://", Refuse() if url.startswith("https://") else HTTPAdapter(max_retries=0))
    return session


def _axes(ds) -> tuple[str, str, str]:
    """Names of the longitude, latitude and time variables."""
    found: dict[str, str] = {}
    for name, var in ds.variables.items():
        sn, units = var.attrs.get("standard_name", ""), str(var.attrs.get("units", ""))
        if "lon" not in found and (sn == "longitude" or units in ("degrees_east", "degree_east")):
            found["lon"] = name
        elif "lat" not in found and (sn == "latitude" or units in ("degrees_north", "degree_north")):
            found["lat"] = name
        elif "time" not in found and var.ndim == 1 and np.issubdtype(var.dtype, np.datetime64):
            found["time"] = name
    missing = {"lon", "lat", "time"} - set(found)
    if missing:
        raise ValueError(f"no {'/'.join(sorted(missing))} coordinate found (CF standard_name or units)")
    return found["lon"], found["lat"], found["time"]


def variable_map(ds, only: list[str] | None = None) -> dict[str, str]:
    """OpenDrift variable -> source variable, preferring the fewest dimensions, then a 10 m level.

    `only` limits the candidates to these source variables; an entry `x_wind=UGRD` names the source
    variable of an OpenDrift variable outright (for servers whose variables have no standard_name).
    """
    only = list(only or [])
    explicit = dict(e.split("=", 1) for e in only if "=" in e)
    only = [e for e in only if "=" not in e]
    missing = sorted(v for v in explicit.values() if v not in ds.data_vars)
    if missing or set(explicit) - set(STANDARD_NAMES):
        raise ValueError(f"unknown variables in the mapping {explicit} (missing in the source: {missing})")
    out = dict(explicit)
    for target, names in STANDARD_NAMES.items():
        if target in out:
            continue
        candidates = [
            name
            for name, var in ds.data_vars.items()
            if var.attrs.get("standard_name") in names and (not only or name in only) and var.ndim >= 3
        ]
        if candidates:
            out[target] = min(candidates, key=lambda n: (ds[n].ndim, "10m" not in n, n))
    return out


def _lonlat_sample(ds, lon: str, lat: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Longitudes and latitudes as 2-D arrays (2-D grids read with a stride), and that stride."""
    if ds[lon].ndim == 1:
        lons, lats = np.meshgrid(ds[lon].values.astype(float), ds[lat].values.astype(float))
        return lons, lats, 1
    stride = max(1, math.ceil(max(ds[lon].shape) / MAX_COORD_SAMPLES))
    lons = ds[lon][::stride, ::stride].values.astype(float)
    lats = ds[lat][::stride, ::stride].values.astype(float)
    return lons, lats, stride


def _resolution_m(lons: np.ndarray, lats: np.ndarray, stride: int) -> float | None:
    """Median grid spacing in metres (geometric mean of both directions)."""
    if lons.shape[0] < 2 or lons.shape[1] < 2:
        return None
    coslat = np.cos(np.radians(lats))
    dx = np.hypot(np.diff(lons, axis=1) * coslat[:, 1:], np.diff(lats, axis=1))
    dy = np.hypot(np.diff(lons, axis=0) * coslat[1:, :], np.diff(lats, axis=0))
    spacing = math.sqrt(float(np.nanmedian(dx)) * float(np.nanmedian(dy))) * 111_195 / stride
    return spacing if math.isfinite(spacing) and spacing > 0 else None


def _iso(t: np.datetime64) -> str:
    return str(np.datetime_as_string(t, unit="s")) + "Z"


def probe(req: dict) -> dict:
    """What the source provides (OpenDrift names), its lon/lat box, time coverage, step and resolution."""
    ds = open_remote(req)
    lon, lat, time = _axes(ds)
    variables = variable_map(ds, req.get("variables"))
    if not variables:
        raise ValueError("no currents or wind variables (CF standard names) found")
    lons, lats, stride = _lonlat_sample(ds, lon, lat)
    times = ds[time].values
    steps = np.diff(times).astype("timedelta64[s]").astype(float)
    return {
        "variables": variables,
        "lon_min": float(np.nanmin(lons)),
        "lon_max": float(np.nanmax(lons)),
        "lat_min": float(np.nanmin(lats)),
        "lat_max": float(np.nanmax(lats)),
        "time_start": _iso(times.min()),
        "time_end": _iso(times.max()),
        "time_step_s": float(np.median(steps)) if len(steps) else None,
        "resolution_m": _resolution_m(lons, lats, stride),
        "title": str(ds.attrs.get("title", ""))[:200],
    }


def _index_range(inside: np.ndarray, size: int, pad: int) -> slice:
    hits = np.flatnonzero(inside)
    if not len(hits):
        raise NoCoverage("the requested box lies outside the source's grid")
    return slice(max(0, int(hits.min()) - pad), min(size, int(hits.max()) + pad + 1))


def _space_indices(ds, lon: str, lat: str, box: list[float]) -> dict[str, slice]:
    """Index slices of the grid cells inside the box, plus one cell (one stride) around it."""
    lon_min, lon_max, lat_min, lat_max = box
    lons, lats, stride = _lonlat_sample(ds, lon, lat)
    if np.nanmax(lons) > 180 and lon_min < 0:  # a 0..360 grid
        lon_min, lon_max = lon_min + 360, lon_max + 360
    inside = (lons >= lon_min) & (lons <= lon_max) & (lats >= lat_min) & (lats <= lat_max)
    if ds[lon].ndim == 1:
        return {
            ds[lon].dims[0]: _index_range(inside.any(axis=0), ds[lon].size, 1),
            ds[lat].dims[0]: _index_range(inside.any(axis=1), ds[lat].size, 1),
        }
    ydim, xdim = ds[lon].dims
    rows = _index_range(inside.any(axis=1), ds[lon].shape[0] // stride + 1, 1)
    cols = _index_range(inside.any(axis=0), ds[lon].shape[1] // stride + 1, 1)
    return {
        ydim: slice(rows.start * stride, min(ds[lon].shape[0], rows.stop * stride)),
        xdim: slice(cols.start * stride, min(ds[lon].shape[1], cols.stop * stride)),
    }


def _time_indices(times: np.ndarray, t0: np.datetime64, t1: np.datetime64) -> slice:
    """The steps inside [t0, t1] plus the step before and the step after (one model step each side)."""
    if not len(times) or times[-1] < t0 or times[0] > t1:
        raise NoCoverage("the source holds no time steps in the requested window")
    start = max(0, int(np.searchsorted(times, t0, "right")) - 2)
    stop = min(len(times), int(np.searchsorted(times, t1, "left")) + 2)
    return slice(start, stop)


def _surface(ds, names: list[str], keep: set[str]) -> dict[str, int]:
    """For every other dimension of the variables (depth, height, ensemble member...), the index nearest 0."""
    out = {}
    for name in names:
        for dim in ds[name].dims:
            if dim in keep or dim in out:
                continue
            values = ds[dim].values if dim in ds.coords else None
            numeric = values is not None and np.issubdtype(values.dtype, np.number)
            out[dim] = int(np.nanargmin(np.abs(values))) if numeric else 0
    return out


def _plain_attrs(attrs: dict) -> dict:
    """Attributes NetCDF can hold (DAP servers may send nested containers)."""
    ok = (str, int, float, np.number, np.ndarray, list, tuple)
    return {k: v for k, v in attrs.items() if isinstance(v, ok) and not isinstance(v, bool)}


def _clean_for_netcdf(sub) -> None:
    sub.attrs = _plain_attrs(sub.attrs)
    for var in sub.variables.values():
        var.attrs = _plain_attrs(var.attrs)
        keep = ("dtype", "_FillValue", "units", "calendar", "scale_factor", "add_offset")
        var.encoding = {k: var.encoding[k] for k in keep if k in var.encoding}


def _valid_fraction(sub, names: list[str]) -> float:
    return min(float(np.isfinite(sub[n].values).mean()) if sub[n].size else 0.0 for n in names)


def subset(req: dict) -> dict:
    """Write the requested subset to req["out"]; report its valid fraction, dimensions and time range."""
    ds = open_remote(req)
    lon, lat, time = _axes(ds)
    names = list(req["variables"])
    times = ds[time].values
    isel: dict[str, Any] = {ds[time].dims[0]: _time_indices(times, *(np.datetime64(t[:19]) for t in req["window"]))}
    isel.update(_space_indices(ds, lon, lat, req["bbox"]))
    isel.update(_surface(ds, names, set(isel)))
    extra = [lon, lat] if ds[lon].ndim == 2 else []
    extra += [ds[n].attrs["grid_mapping"] for n in names if ds[n].attrs.get("grid_mapping") in ds.variables]
    sub = ds[list(dict.fromkeys(names + extra))].isel({k: v for k, v in isel.items() if k in ds.dims})
    sub = sub.drop_vars([c for c in sub.coords if sub[c].ndim == 0 and c not in extra]).load()
    _clean_for_netcdf(sub)
    for name, target in (req.get("standard_names") or {}).items():  # explicitly mapped variables
        if sub[name].attrs.get("standard_name") not in STANDARD_NAMES[target]:
            sub[name].attrs["standard_name"] = target
    sub.attrs.update(
        driftline_source=req["url"],
        driftline_subset_bbox=json.dumps(req["bbox"]),
        driftline_subset_window=json.dumps(req["window"]),
    )
    sub.to_netcdf(req["out"], engine="netcdf4", format="NETCDF4")
    sub_times = sub[time].values
    return {
        "valid_fraction": _valid_fraction(sub, names),
        "dims": {str(k): int(v) for k, v in sub.sizes.items()},
        "time_start": _iso(sub_times.min()),
        "time_end": _iso(sub_times.max()),
    }


OPS = {"probe": probe, "subset": subset}


def malformed(e: BaseException) -> bool:
    """The source answered, with data that cannot be read; False when it did not answer (network, timeout,
    HTTP or S3 error, refused host: an outage of the source, waited out for a required one)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from driftline.forcing.netguard import HostRefused

    return not isinstance(e, (OSError, BotoCoreError, ClientError, HostRefused))  # requests' errors are OSErrors


def main() -> int:
    from driftline.forcing.netguard import guard_sockets

    req = json.loads(sys.stdin.read())
    guard_sockets(tuple(req["allowed_hosts"]))
    try:
        out = {"ok": True, **OPS[req["op"]](req)}
    except NoCoverage as e:
        out = {"ok": False, "no_coverage": True, "error": str(e)}
    except Exception as e:  # noqa: BLE001 - any failure of a remote source is reported, never raised
        out = {"ok": False, "error": " ".join(f"{type(e).__name__}: {e}".split())[:300], "malformed": malformed(e)}
    print(RESULT_MARK + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
