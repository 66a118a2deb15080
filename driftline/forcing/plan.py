"""Resolving a mission's forcing: readers from job, local or catalog files plus on-scene/zero fallbacks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from config import Settings
from driftline.errors import ForcingError, ForcingSourceMalformed, ForcingSourceUnavailable, InvalidJob
from driftline.forcing.cache import ForcingCache
from driftline.forcing.catalog import select_datasets
from driftline.forcing.common import QUANTITIES, as_utc, check_forcing_uri, covers_time, db_errors, iso, s3_key
from driftline.forcing.readers import check_usable, open_reader
from driftline.forcing.remote import NotCovering, RemoteSubsets, SourceFailed, SourceMalformed, describe_subset

log = logging.getLogger("driftline.forcing")  # the logger name from before the split into modules


NOUNS = {"currents": "current", "wind": "wind"}
DATASETS_PER_QUANTITY = 2  # catalog picks per quantity: the best, and one lower-priority reader behind it


@dataclass
class ForcingPlan:
    """What the simulation adds to OpenDrift: readers (highest priority first) and constant fallbacks."""

    readers: list[Any] = field(default_factory=list)  # OpenDrift reader objects
    constants: dict[str, float] = field(default_factory=dict)  # OpenDrift variable -> constant value
    sources: list[dict] = field(default_factory=list)  # provenance, one entry per quantity ("currents", "wind")
    warnings: list[str] = field(default_factory=list)
    datasets: list[dict] = field(default_factory=list)  # files used: uri, name, reader, variables, quantities
    drifter_tracks: tuple = ()  # on-scene drifters blended into the currents (driftline/forcing/drifter_currents.py)

    def describe(self) -> str:
        return "; ".join(f"{s['quantity']}: {s['description']}" for s in self.sources)


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


def _where(lat: float, lon: float, t: datetime) -> str:
    return f"{abs(lat):.3f}{'N' if lat >= 0 else 'S'} {abs(lon):.3f}{'E' if lon >= 0 else 'W'} at {iso(t)}"


@dataclass
class ForcingContext:
    """What resolve_forcing may use: S3 (None in local mode), the catalog database (None in local mode), local files."""

    settings: Settings
    s3: Any = None  # boto3 S3 client
    db: Callable[[], Any] | None = None  # returns a psycopg2 connection (e.g. MissionStore.connect); not closed here
    local_files: list[Path] = field(default_factory=list)  # `worker.py run --forcing FILE.nc`
    cache: ForcingCache | None = None  # built on first use; shared by the calls (e.g. ensemble members)
    remote: RemoteSubsets | None = None  # subsets of remote sources, built on first use

    def get_cache(self, uri: str) -> ForcingCache:
        if self.s3 is None:
            raise ForcingError(
                f"forcing file {uri} cannot be fetched: S3 is not configured (local mode: use --forcing)"
            )
        if self.cache is None:
            self.cache = ForcingCache(self.settings, self.s3)
        return self.cache

    def get_remote(self, uri: str) -> RemoteSubsets:
        if self.remote is None:
            self.remote = RemoteSubsets(self.settings, self.s3, self.get_cache(uri))
        return self.remote


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
    reach_m: float = 0.0,
) -> ForcingPlan:
    """Readers (job files, local files, or catalog picks) plus on-scene/zero fallback constants for one mission.

    `reach_m`: how far from the position particles are seeded (sizes the subsets of remote sources).
    """
    warnings: list[str] = []
    if forcing_uris or ctx.local_files:
        uris = [check_forcing_uri(uri, ctx.settings) for uri in forcing_uris]  # all refused before any fetch
        files = [(ctx.get_cache(uri).fetch(uri), uri, s3_key(uri)) for uri in uris]
        files += [(Path(p), Path(p).resolve().as_uri(), Path(p).name) for p in ctx.local_files]
        used = [_open_dataset(path, uri, name, start_time) for path, uri, name in files]
        for d in used:
            warnings += _position_warning(d, lat, lon, start_time) + _time_warning(d, end_time)
        chosen = {q: [d for d in used if d["quantities"][q]] for q in QUANTITIES}
        missing = "no {noun} in the forcing files"
    elif ctx.db is not None:
        chosen = _catalog_choice(ctx, (lat, lon, start_time, end_time, reach_m), warnings)
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
    start, end = as_utc(reader.start_time), as_utc(reader.end_time)
    if not covers_time(start, end, start_time):
        raise ForcingError(
            f"forcing file {uri} covers {iso(start)} to {iso(end)}, but the mission starts at {iso(start_time)}"
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
    start, end = as_utc(d["reader"].start_time), as_utc(d["reader"].end_time)
    if covers_time(start, end, end_time):
        return []
    end_of_run = iso(end_time)
    return [f"forcing file {d['uri']} covers {iso(start)} to {iso(end)}, not the end of the run at {end_of_run}"]


def _catalog_choice(ctx: ForcingContext, mission: tuple, warnings: list[str]) -> dict[str, list]:
    """Per quantity, up to DATASETS_PER_QUANTITY catalog files that really cover the position, best first."""
    lat, lon, start_time, end_time, _ = mission
    with db_errors("connection"):
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
                opened[row["uri"]] = _open_catalogued(ctx, row, mission, warnings)
            if opened[row["uri"]]:
                chosen[quantity].append(opened[row["uri"]])
        if chosen[quantity]:
            warnings += [w for w in _time_warning(chosen[quantity][0], end_time) if w not in warnings]
    return chosen


def _open_catalogued(ctx: ForcingContext, row: dict, mission: tuple, warnings: list[str]) -> dict | None:
    """A catalog pick opened, or None when its file is broken or its grid misses the position."""
    lat, lon, start_time, _, _ = mission
    remote = row.get("kind", "file") != "file"
    try:
        if remote:
            path, provenance = _remote_subset(ctx, row, mission)
        else:
            path, provenance = ctx.get_cache(row["uri"]).fetch(row["uri"]), None
        d = _open_dataset(path, row["uri"], row["name"], start_time) | {"remote": provenance}
    except NotCovering as e:
        log.info("Catalog dataset %s does not cover the mission: %s", row["name"], e)
        return None
    except SourceFailed as e:
        if row.get("required"):  # unreachable: wait for it; malformed: retried within MAX_ATTEMPTS, then failed
            error = ForcingSourceMalformed if isinstance(e, SourceMalformed) else ForcingSourceUnavailable
            raise error(f"required {e}") from e
        warnings.append(f"remote forcing source {row['name']} skipped: {e}")
        return None
    except (ForcingError, InvalidJob) as e:
        warnings.append(f"catalog dataset {row['name']} skipped: {e}")
        return None
    if not _covers_position(d["reader"], lat, lon):
        log.debug("Catalog dataset %s: box holds the position but the grid does not", row["uri"])
        return None
    return {**d, "covers_run": row["covers_run"]}


def _remote_subset(ctx: ForcingContext, row: dict, mission: tuple) -> tuple[Path, dict]:
    remote = ctx.get_remote(row["uri"])
    return remote.get(remote.request(row, *mission))


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
        for f, d in zip(files, used, strict=True):
            if d.get("remote"):
                f["remote"] = {k: v for k, v in d["remote"].items() if k != "url"}
        label = "datasets" if len(files) > 1 else "dataset"
        names = ", ".join(f"{f['name']} ({f['uri']}{_subset_text(f)})" for f in files)
        description = f"{label} {names}; outside it {desc}"
        source = {"quantity": quantity, "kind": "dataset", "description": description}
        plan.sources.append(source | files[0] | {"datasets": files, "fallback": desc})
    for d in {d["uri"]: d for q in QUANTITIES for d in chosen.get(q, [])}.values():
        plan.readers.append(d["reader"])
        quantities = [q for q in QUANTITIES if d["quantities"][q]]
        plan.datasets.append({k: d[k] for k in ("uri", "name", "reader", "variables")} | {"quantities": quantities})
    return plan


def _subset_text(f: dict) -> str:
    return f"; {describe_subset(f['remote'])}" if f.get("remote") else ""


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
