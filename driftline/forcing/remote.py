"""Remote forcing sources per mission: the subset a mission needs, fetched once, kept in the forcing bucket.

A subset is the source's cells in a box around the last known position grown by the drift envelope
(MAX_DRIFT_SPEED_MS x duration + seeding extent), over the run's time window (whole UTC days, plus one
model step each side in the fetch), for the needed variables at the surface. Box and window are
snapped outward, so the key `remote/{sha256}.nc` is deterministic: a re-run finds the stored subset
and makes no remote request (byte-identical forcing); a second mission in the same sea reuses it.
Remote reads run in a short-lived fetch process (driftline.forcing.fetch) with timeouts.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config import Settings, helper_environment
from driftline.errors import ForcingError
from driftline.forcing.cache import ForcingCache, locked_file
from driftline.forcing.common import as_utc, s3_error
from driftline.forcing.fetch import RESULT_MARK
from driftline.forcing.netguard import check_url
from driftline.limits import exit_description

log = logging.getLogger("driftline.forcing")

ROOT = Path(__file__).resolve().parents[2]
MAX_DRIFT_SPEED_MS = 3.0  # fastest plausible drift: strong current plus leeway in a gale
BOX_SNAP_DEG = 0.5
WINDOW_SNAP_H = 24
MIN_VALID_FRACTION = 0.25  # a subset with less data than this (land, domain edge) does not cover
FETCH_TIMEOUT_FACTOR = 10  # a whole fetch may take this many request timeouts
METADATA_KEY = "driftline-subset"


class SourceFailed(ForcingError):
    """A remote source did not answer, answered badly, or its fetch process died."""


class SourceMalformed(SourceFailed):
    """A remote source answered, but with data that cannot be read (or its reader crashed on it)."""


class NotCovering(ForcingError):
    """The remote source has no (or mostly no) data for the mission's box and time window."""


@dataclass(frozen=True)
class Subset:
    """One mission's request to one remote source."""

    url: str
    kind: str  # "opendap" or "zarr"
    storage_options: dict
    variables: tuple[str, ...]  # source variable names
    bbox: tuple[float, float, float, float]  # lon_min, lon_max, lat_min, lat_max
    window: tuple[str, str]  # ISO UTC, snapped to whole days
    standard_names: tuple[tuple[str, str], ...] = ()  # (source variable, OpenDrift name)

    @property
    def key(self) -> str:
        ident = json.dumps(
            [self.url, self.storage_options.get("endpoint_url"), sorted(self.variables), self.bbox, self.window]
        )
        return f"remote/{hashlib.sha256(ident.encode()).hexdigest()[:32]}.nc"


def seed_reach_m(params) -> float:
    """How far from the last known position particles may be seeded (radius, line end, area vertices)."""
    reach = float(getattr(params, "radius_m", 0) or 0)
    if getattr(params, "end_latitude", None) is not None:
        end = _distance_m(params.latitude, params.longitude, params.end_latitude, params.end_longitude)
        reach = max(reach, end + float(params.end_radius_m or 0))
    if getattr(params, "area", None):
        from shapely.geometry import shape

        for lon, lat in shape(params.area).exterior.coords:
            reach = max(reach, _distance_m(params.latitude, params.longitude, lat, lon))
    return reach


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(h)))


def subset_box(lat: float, lon: float, duration_h: float, reach_m: float) -> tuple[float, float, float, float]:
    """The drift envelope around the position, snapped outward to BOX_SNAP_DEG."""
    grow_m = MAX_DRIFT_SPEED_MS * abs(duration_h) * 3600 + reach_m
    dlat = grow_m / 111_195
    lat_min, lat_max = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    widest = max(abs(lat_min), abs(lat_max))
    dlon = 180.0 if widest > 89 else min(180.0, dlat / math.cos(math.radians(widest)))

    def snap(x: float, up: bool) -> float:
        return round((math.ceil if up else math.floor)(x / BOX_SNAP_DEG) * BOX_SNAP_DEG, 6)

    return snap(lon - dlon, False), snap(lon + dlon, True), snap(lat_min, False), snap(lat_max, True)


def subset_window(start: datetime, end: datetime) -> tuple[str, str]:
    """The run's time span, snapped outward to whole UTC days (so nearby missions share a subset)."""
    lo, hi = sorted((as_utc(start), as_utc(end)))
    day = timedelta(hours=WINDOW_SNAP_H)
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    lo = epoch + day * math.floor((lo - epoch) / day)
    hi = epoch + day * math.ceil((hi - epoch) / day)
    return lo.strftime("%Y-%m-%dT%H:%M:%SZ"), hi.strftime("%Y-%m-%dT%H:%M:%SZ")


def source_endpoint(url: str, storage_options: dict) -> str:
    """The http(s) URL whose host is contacted: the URL itself, or a Zarr store's S3 endpoint."""
    if not url.startswith("s3://"):
        return url
    region = storage_options.get("region_name") or "us-east-1"
    return storage_options.get("endpoint_url") or f"https://s3.{region}.amazonaws.com"


def check_source(url: str, storage_options: dict, settings: Settings) -> None:
    """HostRefused unless the source's endpoint may be contacted (before any connection)."""
    check_url(source_endpoint(url, storage_options), settings.forcing_remote_hosts)


def run_fetch(request: dict, settings: Settings) -> dict:
    """Run one op in a fetch process; SourceFailed on a crash, a timeout or a failed read."""
    request = {**request, "timeout_s": settings.forcing_remote_timeout_s}
    request["allowed_hosts"] = list(settings.forcing_remote_hosts)
    limit_s = settings.forcing_remote_timeout_s * FETCH_TIMEOUT_FACTOR
    name = request["url"]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "driftline.forcing.fetch"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=limit_s,
            cwd=ROOT,
            env=helper_environment(),
        )
    except subprocess.TimeoutExpired as e:
        raise SourceFailed(f"remote forcing source {name} did not answer within {limit_s:g} s") from e
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        code = proc.returncode
        how = exit_description(code)
        log.warning("Fetch process for %s died (%s): %s", name, how, proc.stderr[-2000:])
        raise SourceMalformed(f"reading remote forcing source {name} crashed the fetch process ({how})")
    result = json.loads(lines[-1][len(RESULT_MARK) :])
    if result.get("no_coverage"):
        raise NotCovering(f"remote forcing source {name}: {result['error']}")
    if not result["ok"] and result.get("malformed"):
        raise SourceMalformed(f"remote forcing source {name} answered malformed data: {result['error']}")
    if not result["ok"]:
        raise SourceFailed(f"remote forcing source {name} failed: {result['error']}")
    return result


def probe_source(settings: Settings, url: str, kind: str, storage_options: dict, variables=None) -> dict:
    """What a remote source provides (variables, box, time coverage, step, resolution)."""
    check_source(url, storage_options, settings)
    request = {"op": "probe", "url": url, "kind": kind, "storage_options": storage_options}
    return run_fetch({**request, "variables": list(variables or [])}, settings)


class RemoteSubsets:
    """Subsets of remote sources for missions: stored in the forcing bucket, read through the cache."""

    def __init__(self, settings: Settings, s3_client, cache: ForcingCache):
        self.settings, self.client, self.cache = settings, s3_client, cache
        self.fetches = 0

    def request(self, row: dict, lat: float, lon: float, start: datetime, end: datetime, reach_m: float) -> Subset:
        duration_h = abs((as_utc(end) - as_utc(start)).total_seconds()) / 3600
        mapping = row.get("variable_map") or {}
        names = tuple(sorted(set(mapping.values())))
        return Subset(
            url=row["uri"],
            kind=row["kind"],
            storage_options=row.get("storage_options") or {},
            variables=names,
            bbox=subset_box(lat, lon, duration_h, reach_m),
            window=subset_window(start, end),
            standard_names=tuple(sorted((src, target) for target, src in mapping.items())),
        )

    def get(self, subset: Subset) -> tuple[Path, dict]:
        """Local path of the subset and its provenance; fetched and stored first if not in the bucket."""
        uri = f"s3://{self.settings.forcing_bucket}/{subset.key}"
        with locked_file(self.cache.dir / f".{subset.key.split('/')[-1]}.subset.lock", fcntl.LOCK_EX):
            meta = self._stored(subset.key, uri)
            reused = meta is not None
            if meta is None:
                meta = self._fetch_and_store(subset, uri)
        path = self.cache.fetch(uri)
        return path, {**meta, "stored_uri": uri, "reused": reused}

    def _stored(self, key: str, uri: str) -> dict | None:
        try:
            head = self.client.head_object(Bucket=self.settings.forcing_bucket, Key=key)
        except Exception as e:
            error = s3_error(e, uri, "check")
            if isinstance(error, ForcingError):  # not stored yet
                return None
            raise error from e
        return json.loads(head.get("Metadata", {}).get(METADATA_KEY, "{}")) or None

    def _fetch_and_store(self, subset: Subset, uri: str) -> dict:
        check_source(subset.url, subset.storage_options, self.settings)
        tmp = self.cache.dir / f".{subset.key.split('/')[-1]}.subset.part"
        started = datetime.now(UTC)
        try:
            result = run_fetch(
                {
                    "op": "subset",
                    "url": subset.url,
                    "kind": subset.kind,
                    "storage_options": subset.storage_options,
                    "variables": list(subset.variables),
                    "bbox": list(subset.bbox),
                    "window": list(subset.window),
                    "standard_names": dict(subset.standard_names),
                    "out": str(tmp),
                },
                self.settings,
            )
            self.fetches += 1
            if result["valid_fraction"] < MIN_VALID_FRACTION:
                share = f"{result['valid_fraction']:.0%}"
                raise NotCovering(f"remote forcing source {subset.url}: only {share} of the subset holds data")
            meta = self._provenance(subset, result, tmp, started)
            self._upload(tmp, subset.key, uri, meta)
        finally:
            tmp.unlink(missing_ok=True)
        log.info("Fetched forcing subset of %s (%d bytes in %.1f s) as %s", subset.url, meta["size_bytes"],
                 meta["fetch_s"], uri)  # fmt: skip
        return meta

    def _provenance(self, subset: Subset, result: dict, path: Path, started: datetime) -> dict:
        return {
            "url": subset.url,
            "bbox": list(subset.bbox),
            "time_window": list(subset.window),
            "variables": list(subset.variables),
            "time_start": result["time_start"],
            "time_end": result["time_end"],
            "dims": result["dims"],
            "size_bytes": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "fetched_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "fetch_s": round((datetime.now(UTC) - started).total_seconds(), 3),
        }

    def _upload(self, path: Path, key: str, uri: str, meta: dict) -> None:
        """Store once: if another worker stored the key first, theirs stays (If-None-Match)."""
        try:
            with path.open("rb") as fh:
                self.client.put_object(
                    Bucket=self.settings.forcing_bucket,
                    Key=key,
                    Body=fh,
                    ContentType="application/x-netcdf",
                    Metadata={METADATA_KEY: json.dumps(meta, separators=(",", ":"))},
                    IfNoneMatch="*",
                )
        except Exception as e:
            code = str((getattr(e, "response", None) or {}).get("Error", {}).get("Code", ""))
            if code in ("412", "PreconditionFailed"):  # stored meanwhile by another worker: theirs stays
                return
            raise s3_error(e, uri, "upload") from e


def describe_subset(meta: dict) -> str:
    """One line of provenance for the driftline_forcing attribute and the log."""
    lon_min, lon_max, lat_min, lat_max = meta["bbox"]
    return (
        f"subset lon {lon_min:g}..{lon_max:g} lat {lat_min:g}..{lat_max:g}, {meta['time_window'][0]}.."
        f"{meta['time_window'][1]}, variables {','.join(meta['variables'])}, {meta['size_bytes']} bytes, "
        f"sha256 {meta['sha256']}, fetched {meta['fetched_at']}"
    )
