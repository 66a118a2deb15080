"""probability.tif of a large density.nc: one band in memory at a time, HDF5's and GDAL's caches bounded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import netCDF4
import numpy as np

ROOT = Path(__file__).resolve().parents[3]
TIMES, NLAT, NLON, BANDS = 120, 300, 320, 41
MEASURE = """
import json, sys
from datetime import datetime, timezone
from pathlib import Path
from driftline.products.geotiff import write_probability_tif
def rss_kb(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key))
times = [datetime.fromtimestamp(1.7e9 + k * 3 * 3600, timezone.utc) for k in range(int(sys.argv[2]))]
write_probability_tif(Path(sys.argv[1]).with_name("warm.tif"), Path(sys.argv[1]), times[:1], "m")  # GDAL, HDF5 set up
before = rss_kb("VmRSS")
Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here on
write_probability_tif(Path(sys.argv[1]).with_name("p.tif"), Path(sys.argv[1]), times, "m")
print(json.dumps({"added_mb": (rss_kb("VmHWM") - before) / 1024}))
"""


def _density_nc(path: Path) -> Path:
    """A density.nc as products/density.py writes it (zlib, one chunk per time slice), random fields."""
    rng = np.random.default_rng(0)
    with netCDF4.Dataset(path, "w") as nc:
        for dim, n in (("time", TIMES), ("lat", NLAT), ("lon", NLON), ("nv", 2)):
            nc.createDimension(dim, n)
        nc.createVariable("time", "f8", ("time",))[:] = 1.7e9 + np.arange(TIMES) * 3600.0
        for name, n, d in (("lat", NLAT, 0.01), ("lon", NLON, 0.02)):
            centres = 57.0 + np.arange(n) * d
            nc.createVariable(name, "f8", (name,))[:] = centres
            nc.createVariable(f"{name}_bnds", "f8", (name, "nv"))[:] = np.stack([centres - d / 2, centres + d / 2], 1)
        nc.createVariable("share_floating", "f8", ("time",))[:] = 1.0
        fill = np.float32(netCDF4.default_fillvals["f4"])
        for name, scale in (("probability", 1.0), ("stranded_probability", 0.1)):
            var = nc.createVariable(name, "f4", ("time", "lat", "lon"), zlib=True, complevel=1,
                                    chunksizes=(1, NLAT, NLON), fill_value=fill)  # fmt: skip
            for t in range(TIMES):
                var[t] = (rng.random((NLAT, NLON)) * 1e-5 * scale).astype(np.float32)
    return path


def test_the_bands_are_written_one_at_a_time(tmp_path):
    """41 bands of 300 x 320 cells (15 MB of float32) from 120 time slices: the peak grows by less than two and a
    half times the bands (most of it GDAL's COG copy, whose pixel-interleaved tiles hold every band: 58 MB with
    256-px tiles; with every band, HDF5's 64 MB chunk cache per variable and an in-memory GeoTIFF, 116 MB)."""
    density = _density_nc(tmp_path / "density.nc")
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(density), str(BANDS)], cwd=ROOT, capture_output=True, text=True,
        timeout=300, check=True,
    )  # fmt: skip
    added_mb = json.loads(out.stdout.strip().splitlines()[-1])["added_mb"]
    band_mb = BANDS * NLAT * NLON * 4 / 2**20
    assert added_mb < 2.5 * band_mb, (added_mb, band_mb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["density.nc", "p.tif", "warm.tif"]  # no staging file left
