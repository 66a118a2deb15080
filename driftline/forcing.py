"""Forcing: which currents and winds drive a mission, and where they come from.

Sources, best first: NetCDF model files named by the job (s3:// URIs in the forcing bucket)
or given locally, else files picked from the `forcing_datasets` catalog; outside their
domain, the job's on-scene observation or a zero fallback. Files are opened only with
OpenDrift's own readers and fetched through a process-safe local cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from config import Settings
from driftline.errors import DatabaseUnavailable, ForcingError, InvalidJob, StorageUnavailable
from driftline.storage import ensure_buckets, make_s3_client, translate_s3_error

log = logging.getLogger(__name__)

CURRENT_VARS = ("x_sea_water_velocity", "y_sea_water_velocity")
WIND_VARS = ("x_wind", "y_wind")
QUANTITIES = {"currents": CURRENT_VARS, "wind": WIND_VARS}
NOUNS = {"currents": "current", "wind": "wind"}
NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")
DATASETS_PER_QUANTITY = 2  # catalog picks per quantity: the best, and one lower-priority reader behind it
CATALOG_COLUMNS = (
    "name", "s3_key", "uri", "etag", "variables", "provides_currents", "provides_wind",
    "lon_min", "lon_max", "lat_min", "lat_max", "time_start", "time_end", "resolution_m", "size_bytes",
)  # fmt: skip


@dataclass
class ForcingPlan:
    """What the simulation adds to OpenDrift: readers (highest priority first) and constant fallbacks."""

    readers: list[Any] = field(default_factory=list)  # OpenDrift reader objects
    constants: dict[str, float] = field(default_factory=dict)  # OpenDrift variable -> constant value
    sources: list[dict] = field(default_factory=list)  # provenance, one entry per quantity ("currents", "wind")
    warnings: list[str] = field(default_factory=list)
    datasets: list[dict] = field(default_factory=list)  # files used: uri, name, reader, variables, quantities

    def describe(self) -> str:
        return "; ".join(f"{s['quantity']}: {s['description']}" for s in self.sources)


def check_forcing_uri(uri: Any, settings: Settings) -> str:
    """Accept only s3://{FORCING_BUCKET}/key.nc; refuse anything else before any fetch."""
    if not isinstance(uri, str) or len(uri) > 1024:
        raise InvalidJob("forcing entries must be s3:// URI strings")
    parts = urlsplit(uri)
    if parts.scheme != "s3" or parts.netloc != settings.forcing_bucket or parts.query or parts.fragment:
        raise InvalidJob(f"forcing URI {uri!r} is not allowed: only s3://{settings.forcing_bucket}/... is accepted")
    key = parts.path.lstrip("/")
    if not key or ".." in key.split("/") or not key.endswith((".nc", ".nc4")):
        raise InvalidJob(f"forcing URI {uri!r} is not allowed: the key must name a .nc file")
    return uri


def _fallback(quantity: str, obs) -> tuple[float, float, str, str, str]:
    """(u, v, kind, description, 'using ...' phrase) of the constant used where no file covers."""
    noun = NOUNS[quantity]
    if obs is None:
        desc = "zero fallback (no model data and no on-scene observation)"
        return 0.0, 0.0, "zero_fallback", desc, f"{noun} set to zero"
    u, v = obs.components
    direction = f"from {obs.from_deg:g}°" if quantity == "wind" else f"towards {obs.to_deg:g}°"
    value = f"{obs.speed_ms:g} m/s {direction}"
    return u, v, "on_scene", f"on-scene constant {value}", f"using on-scene {noun} {value}"


def constant_plan(wind, current) -> ForcingPlan:
    """On-scene constants where given, zero fallback otherwise; both recorded as provenance."""
    plan = ForcingPlan()
    for quantity, obs in (("currents", current), ("wind", wind)):
        u, v, kind, desc, _ = _fallback(quantity, obs)
        if kind == "zero_fallback":
            plan.warnings.append(f"no {quantity} data: {quantity} set to zero")
        plan.constants.update(dict(zip(QUANTITIES[quantity], (u, v), strict=True)))
        plan.sources.append({"quantity": quantity, "kind": kind, "description": desc})
    return plan


# ---------------------------------------------------------------- reading files


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
        raise ForcingError(f"forcing file {label} cannot be read by OpenDrift: {_one_line(e)}") from e


def _is_roms_native(path: Path) -> bool:
    """ROMS native output (s-coordinates, `ocean_time`) needs OpenDrift's ROMS reader."""
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        return "s_rho" in ds.dimensions or "ocean_time" in ds.variables


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300] or type(e).__name__


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
        time_start=_utc(reader.start_time),
        time_end=_utc(reader.end_time),
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


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _iso(t: datetime | None) -> str:
    return _utc(t).strftime("%Y-%m-%dT%H:%MZ") if t else "-"


def _covers_time(start: datetime | None, end: datetime | None, t: datetime) -> bool:
    return start is None or (start <= _utc(t) <= (end or start))


def _where(lat: float, lon: float, t: datetime) -> str:
    return f"{abs(lat):.3f}{'N' if lat >= 0 else 'S'} {abs(lon):.3f}{'E' if lon >= 0 else 'W'} at {_iso(t)}"


# ---------------------------------------------------------------- catalog


@contextmanager
def _db(what: str) -> Iterator[None]:
    """Translate psycopg2 errors into DatabaseUnavailable (retryable)."""
    import psycopg2

    try:
        yield
    except psycopg2.Error as e:
        detail = _one_line(e) if str(e).strip() else type(e).__name__
        raise DatabaseUnavailable(f"forcing catalog {what} failed: {detail}") from e


def _rows(cur) -> list[dict]:
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def register_dataset(conn, info: DatasetInfo, key: str, uri: str, etag: str | None, name: str) -> dict:
    """Insert or update (by S3 key) one catalog row; returns the row."""
    values = {**asdict(info), "name": name, "s3_key": key, "uri": uri, "etag": etag}
    cols = ", ".join(CATALOG_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in CATALOG_COLUMNS if c != "s3_key")
    sql = (
        f"INSERT INTO forcing_datasets ({cols}) VALUES ({', '.join(f'%({c})s' for c in CATALOG_COLUMNS)}) "
        f"ON CONFLICT (s3_key) DO UPDATE SET {updates}, created_at = now() RETURNING *"
    )
    with _db("update"), conn, conn.cursor() as cur:
        cur.execute(sql, values)
        return _rows(cur)[0]


def list_datasets(conn) -> list[dict]:
    """All catalog rows, by name then newest first."""
    with _db("listing"), conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM forcing_datasets ORDER BY name, created_at DESC, id DESC")
        return _rows(cur)


SELECT_SQL = """
SELECT * FROM forcing_datasets
WHERE {flag}
  AND lat_min <= %(lat)s AND %(lat)s <= lat_max
  AND ((lon_min <= %(lon)s AND %(lon)s <= lon_max) OR (lon_min <= %(lon)s + 360 AND %(lon)s + 360 <= lon_max))
  AND (time_start IS NULL OR time_start <= %(t)s) AND (time_end IS NULL OR %(t)s <= time_end)
ORDER BY resolution_m ASC NULLS LAST, time_start DESC NULLS LAST, created_at DESC, id DESC
"""


def select_datasets(conn, lat: float, lon: float, start_time: datetime, end_time: datetime) -> dict[str, list[dict]]:
    """Per quantity, the catalog rows whose box holds the position and whose time range holds start_time, best first.

    Best = finest resolution, then newest (time_start, then created_at). Each row gains `covers_run`:
    whether its time range also holds end_time.
    """
    params = {"lat": lat, "lon": lon, "t": _utc(start_time)}
    out = {}
    with _db("query"), conn, conn.cursor() as cur:
        for quantity in QUANTITIES:
            cur.execute(SELECT_SQL.format(flag=f"provides_{quantity}"), params)
            out[quantity] = [
                {**r, "covers_run": _covers_time(r["time_start"], r["time_end"], end_time)} for r in _rows(cur)
            ]
    return out


# ---------------------------------------------------------------- download cache


def _s3_key(uri: str) -> str:
    return urlsplit(uri).path.lstrip("/")


def _s3_error(e: Exception, uri: str, what: str) -> Exception:
    """Missing object -> ForcingError naming the URI; the rest as translate_s3_error decides."""
    code = str((getattr(e, "response", None) or {}).get("Error", {}).get("Code", ""))
    if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
        return ForcingError(f"forcing file {uri} does not exist in S3")
    if code in ("412", "PreconditionFailed"):
        return StorageUnavailable(f"forcing file {uri} changed during download")
    return translate_s3_error(e, f"{what} of forcing file {uri}")


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[int]:
    """flock a lock file; retry if it was unlinked (evicted) between open and lock. LOCK_NB raises BlockingIOError."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield fd
    finally:
        os.close(fd)


class ForcingCache:
    """Local copies of forcing files keyed by (S3 key, ETag); safe across processes, LRU-bounded."""

    def __init__(self, settings: Settings, s3_client):
        self.settings = settings
        self.client = s3_client
        self.dir = Path(settings.forcing_cache_dir)
        self.max_bytes = int(settings.forcing_cache_max_gb * 1e9)
        self.downloads = 0
        self.hits = 0
        self.dir.mkdir(parents=True, exist_ok=True)

    def fetch(self, uri: str) -> Path:
        """Local path of the current version of `uri`, downloading it once if not cached."""
        key = _s3_key(check_forcing_uri(uri, self.settings))
        etag = self._etag(uri, key)
        entry = self.dir / _entry_name(key, etag)
        with _locked(self._lock(entry), fcntl.LOCK_SH):
            if self._hit(entry, uri):
                return entry
        with _locked(self._lock(entry), fcntl.LOCK_EX):
            if self._hit(entry, uri):
                return entry
            try:
                self._download(uri, key, etag, entry)
            except BaseException:
                self._lock(entry).unlink(missing_ok=True)  # no entry, no lock file; waiters re-check the inode
                raise
        self.evict(keep=entry)
        return entry

    def _lock(self, entry: Path) -> Path:
        return entry.with_suffix(".lock")

    def _etag(self, uri: str, key: str) -> str:
        try:
            return self.client.head_object(Bucket=self.settings.forcing_bucket, Key=key)["ETag"].strip('"')
        except Exception as e:
            raise _s3_error(e, uri, "check") from e

    def _hit(self, entry: Path, uri: str) -> bool:
        try:
            os.utime(entry)  # LRU: a hit makes the entry the newest
        except FileNotFoundError:
            return False
        self.hits += 1
        log.info("Forcing cache hit %s (%s)", uri, entry.name)
        return True

    def _download(self, uri: str, key: str, etag: str, entry: Path) -> None:
        """Stream to a temp file in the cache dir, then rename: a partial download never becomes an entry."""
        t0 = time.monotonic()
        fd, tmp = tempfile.mkstemp(prefix=f".{entry.stem}.", suffix=".part", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                self.client.download_fileobj(self.settings.forcing_bucket, key, fh)
                fh.flush()
                os.fsync(fh.fileno())
            if self._etag(uri, key) != etag:  # replaced since our HEAD: the bytes may not match the entry's name
                raise StorageUnavailable(f"forcing file {uri} changed during download")
            os.replace(tmp, entry)
        except BaseException as e:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            error = _s3_error(e, uri, "download") if isinstance(e, Exception) else e
            if error is e:
                raise
            raise error from e
        self.downloads += 1
        size = entry.stat().st_size
        log.info("Downloaded forcing %s (%.1f MB) in %.1f s", uri, size / 1e6, time.monotonic() - t0)

    def entries(self) -> list[Path]:
        """Cache entries, least recently used first."""
        stats = []
        for p in self.dir.glob("*.nc"):
            with suppress(FileNotFoundError):
                stats.append((p.stat().st_mtime, p))
        return [p for _, p in sorted(stats)]

    def evict(self, keep: Path | None = None) -> None:
        """Delete least recently used entries not in use until the cache fits FORCING_CACHE_MAX_GB."""
        with _locked(self.dir / ".evict.lock", fcntl.LOCK_EX):
            self._remove_leftovers()
            entries = self.entries()
            total = sum(_size(p) for p in entries)
            for entry in entries:
                if total <= self.max_bytes:
                    break
                if entry != keep:
                    total -= self._remove(entry)

    def _remove(self, entry: Path) -> int:
        """Remove an entry unless another process holds its lock; returns the bytes freed."""
        try:
            with _locked(self._lock(entry), fcntl.LOCK_EX | fcntl.LOCK_NB):
                size = _size(entry)
                entry.unlink(missing_ok=True)
                self._lock(entry).unlink(missing_ok=True)
        except BlockingIOError:
            return 0
        log.info("Evicted forcing cache entry %s (%.1f MB)", entry.name, size / 1e6)
        return size

    def _remove_leftovers(self) -> None:
        """Temp files of killed downloads and lock files without an entry, when no process holds their lock."""
        locks = [p for p in self.dir.glob("*.lock") if not p.name.startswith(".")]
        for path in [*self.dir.glob(".*.part"), *locks]:
            entry = self.dir / f"{path.name.lstrip('.').split('.')[0]}.nc"
            if path.suffix == ".lock" and entry.exists():
                continue
            with suppress(BlockingIOError), _locked(self._lock(entry), fcntl.LOCK_EX | fcntl.LOCK_NB):
                if path.suffix == ".part":
                    path.unlink(missing_ok=True)
                if not entry.exists():
                    self._lock(entry).unlink(missing_ok=True)


def _entry_name(key: str, etag: str) -> str:
    return hashlib.sha256(f"{key}\n{etag}".encode()).hexdigest()[:40] + ".nc"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


# ---------------------------------------------------------------- resolving a mission's forcing


@dataclass
class ForcingContext:
    """What resolve_forcing may use: S3 (None in local mode), the catalog database (None in local mode), local files."""

    settings: Settings
    s3: Any = None  # boto3 S3 client
    db: Callable[[], Any] | None = None  # returns a psycopg2 connection (e.g. MissionStore.connect); not closed here
    local_files: list[Path] = field(default_factory=list)  # `worker.py run --forcing FILE.nc`
    cache: ForcingCache | None = None  # built on first use; shared by the calls (e.g. ensemble members)

    def get_cache(self, uri: str) -> ForcingCache:
        if self.s3 is None:
            raise ForcingError(
                f"forcing file {uri} cannot be fetched: S3 is not configured (local mode: use --forcing)"
            )
        if self.cache is None:
            self.cache = ForcingCache(self.settings, self.s3)
        return self.cache


def resolve_forcing(
    ctx: ForcingContext,
    *,
    lat: float,
    lon: float,
    start_time: datetime,
    end_time: datetime,
    wind=None,
    current=None,
    forcing_uris=(),
) -> ForcingPlan:
    """Readers (job files, local files, or catalog picks) plus on-scene/zero fallback constants for one mission."""
    warnings: list[str] = []
    if forcing_uris or ctx.local_files:
        uris = [check_forcing_uri(uri, ctx.settings) for uri in forcing_uris]  # all refused before any fetch
        files = [(ctx.get_cache(uri).fetch(uri), uri, _s3_key(uri)) for uri in uris]
        files += [(Path(p), Path(p).resolve().as_uri(), Path(p).name) for p in ctx.local_files]
        used = [_open_dataset(path, uri, name, start_time) for path, uri, name in files]
        for d in used:
            warnings += _position_warning(d, lat, lon, start_time) + _time_warning(d, end_time)
        chosen = {q: [d for d in used if d["quantities"][q]] for q in QUANTITIES}
        missing = "no {noun} in the forcing files"
    elif ctx.db is not None:
        chosen = _catalog_choice(ctx, lat, lon, start_time, end_time, warnings)
        missing = f"no {{noun}} dataset covers {_where(lat, lon, start_time)}"
    else:
        return constant_plan(wind, current)
    plan = _build_plan(chosen, wind, current, missing)
    plan.warnings = warnings + plan.warnings
    return plan


def _open_dataset(path: Path, uri: str, name: str, start_time: datetime) -> dict:
    """Open one file, check it gives currents or wind and holds the start time; ForcingError naming it."""
    reader = open_reader(path, uri)
    quantities = check_usable(reader, uri)
    start, end = _utc(reader.start_time), _utc(reader.end_time)
    if not _covers_time(start, end, start_time):
        raise ForcingError(
            f"forcing file {uri} covers {_iso(start)} to {_iso(end)}, but the mission starts at {_iso(start_time)}"
        )
    variables = sorted(v for v in reader.variables if v not in ("latitude", "longitude"))
    return {"uri": uri, "name": name, "reader": reader, "variables": variables, "quantities": quantities}


def _covers_position(reader, lat: float, lon: float) -> bool:
    return bool(len(reader.covers_positions(np.array([float(lon)]), np.array([float(lat)]))[0]))


def _position_warning(d: dict, lat: float, lon: float, start_time: datetime) -> list[str]:
    if _covers_position(d["reader"], lat, lon):
        return []
    return [f"forcing file {d['uri']} does not cover the start position {_where(lat, lon, start_time)}"]


def _time_warning(d: dict, end_time: datetime) -> list[str]:
    start, end = _utc(d["reader"].start_time), _utc(d["reader"].end_time)
    if _covers_time(start, end, end_time):
        return []
    end_of_run = _iso(end_time)
    return [f"forcing file {d['uri']} covers {_iso(start)} to {_iso(end)}, not the end of the run at {end_of_run}"]


def _catalog_choice(ctx: ForcingContext, lat, lon, start_time, end_time, warnings: list[str]) -> dict[str, list]:
    """Per quantity, up to DATASETS_PER_QUANTITY catalog files that really cover the position, best first."""
    with _db("connection"):
        conn = ctx.db()
    candidates = select_datasets(conn, lat, lon, start_time, end_time)
    opened: dict[str, dict | None] = {}
    chosen: dict[str, list] = {}
    for quantity, rows in candidates.items():
        chosen[quantity] = []
        for row in rows:
            if len(chosen[quantity]) >= DATASETS_PER_QUANTITY:
                break
            if row["uri"] not in opened:
                opened[row["uri"]] = _open_catalogued(ctx, row, lat, lon, start_time, warnings)
            if opened[row["uri"]]:
                chosen[quantity].append(opened[row["uri"]])
        if chosen[quantity]:
            warnings += [w for w in _time_warning(chosen[quantity][0], end_time) if w not in warnings]
    return chosen


def _open_catalogued(ctx: ForcingContext, row: dict, lat, lon, start_time, warnings: list[str]) -> dict | None:
    """A catalog pick opened, or None when its file is broken or its grid misses the position."""
    try:
        d = _open_dataset(ctx.get_cache(row["uri"]).fetch(row["uri"]), row["uri"], row["name"], start_time)
    except (ForcingError, InvalidJob) as e:
        warnings.append(f"catalog dataset {row['name']} skipped: {e}")
        return None
    if not _covers_position(d["reader"], lat, lon):
        log.debug("Catalog dataset %s: box holds the position but the grid does not", row["uri"])
        return None
    return {**d, "covers_run": row["covers_run"]}


def _build_plan(chosen: dict[str, list[dict]], wind, current, missing: str) -> ForcingPlan:
    """Readers in priority order, fallback constants, one provenance entry and any warning per quantity."""
    plan = ForcingPlan()
    for quantity, obs in (("currents", current), ("wind", wind)):
        u, v, kind, desc, using = _fallback(quantity, obs)
        plan.constants.update(dict(zip(QUANTITIES[quantity], (u, v), strict=True)))
        used = chosen.get(quantity, [])
        if not used:
            plan.sources.append({"quantity": quantity, "kind": kind, "description": desc})
            plan.warnings.append(f"{missing.format(noun=NOUNS[quantity])}: {using}")
            continue
        files = [{"uri": d["uri"], "name": d["name"], "variables": d["variables"]} for d in used]
        label = "datasets" if len(files) > 1 else "dataset"
        names = ", ".join(f"{f['name']} ({f['uri']})" for f in files)
        description = f"{label} {names}; outside it {desc}"
        source = {"quantity": quantity, "kind": "dataset", "description": description}
        plan.sources.append(source | files[0] | {"datasets": files, "fallback": desc})
    for d in {d["uri"]: d for q in QUANTITIES for d in chosen.get(q, [])}.values():
        plan.readers.append(d["reader"])
        quantities = [q for q in QUANTITIES if d["quantities"][q]]
        plan.datasets.append({k: d[k] for k in ("uri", "name", "reader", "variables")} | {"quantities": quantities})
    return plan


# ---------------------------------------------------------------- after the run


def domain_fractions(plan: ForcingPlan, traj, member: int | None = None) -> dict[str, float]:
    """Per dataset URI, the fraction of floating/stranded particle-steps inside its grid and time range.

    `member` restricts the count to one ensemble member's particles (traj.member == member).
    """
    from driftline.trajectory import ACTIVE, STRANDED

    present = ((traj.state == ACTIVE) | (traj.state == STRANDED)) & np.isfinite(traj.lon) & np.isfinite(traj.lat)
    if member is not None:
        present &= (np.asarray(traj.member) == member)[:, None]
    total = int(present.sum())
    return {d["uri"]: (_inside(d["reader"], traj, present) / total if total else 0.0) for d in plan.datasets}


def _inside(reader, traj, present: np.ndarray) -> int:
    """Particle-steps inside the reader's grid at times inside its time range."""
    times = np.asarray(traj.times, dtype="datetime64[s]")
    in_time = np.ones(times.shape, bool)
    if reader.start_time is not None:
        start = np.datetime64(reader.start_time.replace(tzinfo=None), "s")
        end = np.datetime64((reader.end_time or reader.start_time).replace(tzinfo=None), "s")
        in_time = (times >= start) & (times <= end)
    count = 0
    for t in np.flatnonzero(in_time):
        rows = present[:, t]
        if rows.any():
            count += len(reader.covers_positions(traj.lon[rows, t].astype(float), traj.lat[rows, t].astype(float))[0])
    return count


# ---------------------------------------------------------------- CLI helpers (`worker.py forcing add|list`)


def _upload_key(path: Path) -> str:
    key = re.sub(r"[^A-Za-z0-9._-]", "_", path.name).lstrip(".") or "forcing.nc"
    return key if key.endswith((".nc", ".nc4")) else key + ".nc"


def forcing_add(settings: Settings, path: Path | str, name: str | None = None, *, s3_client=None) -> dict:
    """Inspect a local file, upload it to the forcing bucket, register it in the catalog, print one line."""
    import psycopg2

    settings.require_services()
    path = Path(path)
    info = inspect_forcing_file(path)
    key = _upload_key(path)
    uri = check_forcing_uri(f"s3://{settings.forcing_bucket}/{key}", settings)
    client = s3_client or make_s3_client(settings)
    ensure_buckets(client, [settings.forcing_bucket])
    try:
        client.upload_file(str(path), settings.forcing_bucket, key, ExtraArgs={"ContentType": "application/x-netcdf"})
        etag = client.head_object(Bucket=settings.forcing_bucket, Key=key)["ETag"].strip('"')
    except Exception as e:
        raise _s3_error(e, uri, "upload") from e
    with _db("connection"), closing(psycopg2.connect(settings.database_url)) as conn:
        row = register_dataset(conn, info, key, uri, etag, name or path.stem)
    print(f"Added forcing dataset {_summary(row)}")
    return row


def forcing_list(settings: Settings) -> list[dict]:
    """All catalog rows (print them with format_catalog)."""
    import psycopg2

    settings.require_services()
    with _db("connection"), closing(psycopg2.connect(settings.database_url)) as conn:
        return list_datasets(conn)


def _quantities(row: dict) -> str:
    return "+".join(q for q in QUANTITIES if row.get(f"provides_{q}")) or "-"


def _summary(row: dict) -> str:
    res = f"{row['resolution_m'] / 1000:.1f} km" if row.get("resolution_m") else "? km"
    return (
        f"{row['name']} ({row['uri']}): {_quantities(row)}, lat {row['lat_min']:.2f}..{row['lat_max']:.2f}, "
        f"lon {row['lon_min']:.2f}..{row['lon_max']:.2f}, {_iso(row['time_start'])}..{_iso(row['time_end'])}, {res}"
    )


def format_catalog(rows: list[dict]) -> str:
    """The catalog as a plain-text table."""
    header = ("NAME", "PROVIDES", "LAT", "LON", "TIME", "RES_KM", "MB", "URI")
    table = [header] + [
        (
            r["name"],
            _quantities(r),
            f"{r['lat_min']:.2f}..{r['lat_max']:.2f}",
            f"{r['lon_min']:.2f}..{r['lon_max']:.2f}",
            f"{_iso(r['time_start'])}..{_iso(r['time_end'])}",
            f"{r['resolution_m'] / 1000:.1f}" if r.get("resolution_m") else "?",
            f"{(r.get('size_bytes') or 0) / 1e6:.1f}",
            r["uri"],
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines) if rows else "\n".join(lines) + "\n(no forcing datasets registered)"
