"""probability.tif: the floating probability at each search-area time as a Cloud-Optimised GeoTIFF (rasterio/GDAL).

EPSG:4326, north-up, one float32 band per search-area time (band description = the ISO time, tags `time`
and `share_floating`); each band sums to the floating share of its time (density.nc's `probability` minus
`stranded_probability`: the search areas are areas of the floating probability too). Cells without
probability are nodata (0), so a GIS shows only the plume; sums are the same either way.

Antimeridian: the raster keeps density.nc's contiguous grid, its west edge within -180..180 and its east
edge past 180 when the plume crosses it (GDAL, QGIS and ArcGIS read geographic extents beyond 180);
splitting it in two would make one raster span the whole globe.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import netCDF4
import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine

from driftline.products.density import bound_chunk_cache

NODATA = 0.0
CACHE_MB = 16  # GDAL's block cache while the COG is made (its default is 5 % of the machine's memory)
TILE_BYTES = 4 * 2**20  # GDAL 3.10's COG is pixel-interleaved: one tile holds every band, a few tiles are in memory


def tile_px(bands: int) -> int:
    """The COG's tile side: 256 px, halved (down to 16) while a tile of every band would pass TILE_BYTES.

    41 bands in 256-px tiles (10.7 MB a tile) added 61 MB to the largest mission's peak while GDAL made the COG;
    in 128-px tiles, 24 MB (`tests/unit/products/test_geotiff_memory.py`)."""
    side = 256
    while side > 16 and bands * side * side * 4 > TILE_BYTES:
        side //= 2
    return side


def _times(nc: netCDF4.Dataset) -> np.ndarray:
    return np.asarray(nc["time"][:], np.float64).astype("int64").astype("datetime64[s]")


@contextmanager
def _bands(density_nc: Path, times: list[datetime]) -> Iterator[tuple[dict, list[tuple[str, float, Callable]]]]:
    """(grid, [(iso time, floating share, read)]) at the output times nearest `times`; `read()` gives that
    time's (nlat, nlon) north-up float32 floating probability, one band at a time, while the file is open."""
    with netCDF4.Dataset(density_nc) as nc:
        nc.set_auto_mask(False)
        all_times = _times(nc)
        lat, lon = np.asarray(nc["lat"][:]), np.asarray(nc["lon"][:])
        lat_b, lon_b = np.asarray(nc["lat_bnds"][:]), np.asarray(nc["lon_bnds"][:])
        fill = nc["probability"]._FillValue
        share = np.asarray(nc["share_floating"][:], np.float64)
        bound_chunk_cache(nc["probability"])
        bound_chunk_cache(nc["stranded_probability"])

        def read(k: int) -> np.ndarray:
            p = np.asarray(nc["probability"][k], np.float64)
            s = np.asarray(nc["stranded_probability"][k], np.float64)
            p, s = np.where(p == fill, 0.0, p), np.where(s == fill, 0.0, s)
            return np.clip(p - s, 0.0, None)[::-1].astype(np.float32)  # rows from the north

        bands = []
        for t in times or [all_times[-1].astype(datetime)]:
            t64 = np.datetime64(t.replace(tzinfo=None) if isinstance(t, datetime) else t, "s")
            k = int(np.argmin(np.abs((all_times - t64) / np.timedelta64(1, "s"))))
            iso = f"{np.datetime_as_string(all_times[k], unit='s')}Z"
            bands.append((iso, float(share[k]), functools.partial(read, k)))
        west = (float(lon_b[0, 0]) + 180.0) % 360.0 - 180.0
        grid = {"west": west, "north": float(lat_b[-1, 1]), "dlon": float(lon[1] - lon[0]) if lon.size > 1 else
                float(lon_b[0, 1] - lon_b[0, 0]), "dlat": float(lat[1] - lat[0]) if lat.size > 1 else
                float(lat_b[0, 1] - lat_b[0, 0]), "nlat": lat.size, "nlon": lon.size}  # fmt: skip
        yield grid, bands


def floating_bands(density_nc: Path, times: list[datetime]) -> tuple[dict, list[tuple[str, float, np.ndarray]]]:
    """(grid, [(iso time, floating share, (nlat, nlon) north-up float32)]) at the output times nearest `times`."""
    with _bands(density_nc, times) as (grid, bands):
        return grid, [(iso, share, read()) for iso, share, read in bands]


def write_probability_tif(path: Path, density_nc: Path, times: list[datetime], mission_id: str) -> Path:
    """Write the COG (DEFLATE, float predictor, `tile_px` tiles) from a plain GeoTIFF written beside it band by band.

    One band in memory at a time, GDAL's cache bounded and tiles of at most TILE_BYTES: with every band and an
    in-memory GeoTIFF held at once, 41 bands from a density.nc of 241 x 400 x 410 (the size of a 50000 x 240 h
    mission's) added ~170 MB to the peak, 61 MB with 256-px tiles, 24 MB now.
    """
    staging = path.with_name(f".{path.name}.bands.tif")
    try:
        with rasterio.Env(GDAL_NUM_THREADS="1", GDAL_CACHEMAX=CACHE_MB), _bands(density_nc, times) as (grid, bands):
            profile = dict(
                driver="GTiff", width=grid["nlon"], height=grid["nlat"], count=len(bands), dtype="float32",
                crs="EPSG:4326", transform=Affine(grid["dlon"], 0.0, grid["west"], 0.0, -grid["dlat"], grid["north"]),
                nodata=NODATA, interleave="band",
            )  # fmt: skip
            with rasterio.open(staging, "w", **profile) as ds:
                ds.update_tags(
                    mission_id=mission_id,
                    quantity="share of the total probability floating in the cell",
                    units="1",
                    band_sums="each band sums to the share floating at its time (tag share_floating)",
                )
                for i, (iso, share, read) in enumerate(bands, 1):
                    ds.write(read(), i)
                    ds.set_band_description(i, iso)
                    ds.update_tags(i, time=iso, share_floating=f"{share:.6f}")
            rasterio.shutil.copy(
                str(staging), str(path), driver="COG", COMPRESS="DEFLATE", PREDICTOR="3",
                BLOCKSIZE=str(tile_px(len(bands))), OVERVIEW_RESAMPLING="AVERAGE",
            )  # fmt: skip
    finally:
        staging.unlink(missing_ok=True)
    return path
