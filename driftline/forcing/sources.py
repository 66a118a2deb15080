"""Remote sources in the catalog: `worker.py forcing add-remote | sync | presets` (operator only, never a job)."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from config import Settings
from driftline.errors import ForcingError
from driftline.forcing.catalog import list_datasets, source_summary, upsert_row
from driftline.forcing.common import QUANTITIES, db_errors
from driftline.forcing.remote import probe_source

PRESETS = Path(__file__).with_name("presets.json")
# Storage options an operator may give (`--storage-option key=value`); credentials are not among them.
STORAGE_OPTIONS = ("endpoint_url", "region_name", "anon")


def _kind(url: str) -> str:
    if url.startswith("s3://"):
        if not url.rstrip("/").endswith(".zarr"):
            raise ForcingError(f"remote forcing source {url}: an s3:// source must be a Zarr store (….zarr)")
        return "zarr"
    return "opendap"


def parse_storage_options(items: list[str] | dict | None) -> dict:
    """key=value pairs (or a dict) limited to STORAGE_OPTIONS; credentials belong in the environment."""
    pairs = items if isinstance(items, dict) else dict(i.split("=", 1) for i in (items or []) if "=" in i)
    unknown = set(pairs) - set(STORAGE_OPTIONS)
    if unknown:
        raise ForcingError(
            f"storage option(s) {', '.join(sorted(unknown))} not allowed (allowed: {', '.join(STORAGE_OPTIONS)}; "
            "credentials come from the environment)"
        )
    out = {k: v for k, v in pairs.items()}
    if "anon" in out:
        out["anon"] = str(out["anon"]).lower() in ("1", "true", "yes")
    return out


def remote_row(url: str, name: str, info: dict, kind: str, options: dict, required: bool, licence) -> dict:
    """Catalog values for a probed remote source."""
    names = info["variables"]
    return {
        "name": name,
        "s3_key": url,
        "uri": url,
        "etag": None,
        "variables": sorted(names),
        **{f"provides_{q}": all(v in names for v in vs) for q, vs in QUANTITIES.items()},
        **{k: info[k] for k in ("lon_min", "lon_max", "lat_min", "lat_max", "time_step_s", "resolution_m")},
        "time_start": info["time_start"],
        "time_end": info["time_end"],
        "size_bytes": None,
        "kind": kind,
        "variable_map": {k: v for k, v in names.items() if any(k in vs for vs in QUANTITIES.values())},
        "storage_options": options,
        "required": required,
        "licence": licence,
        "synced_at": datetime.now(UTC),
    }


def forcing_add_remote(
    settings: Settings,
    url: str,
    name: str | None = None,
    *,
    variables: list[str] | None = None,
    storage_options: list[str] | dict | None = None,
    required: bool = False,
    licence: str | None = None,
) -> dict:
    """Probe a remote source (in a fetch process) and register it; prints one line."""
    import psycopg2

    settings.require_services()
    kind, options = _kind(url), parse_storage_options(storage_options)
    info = probe_source(settings, url, kind, options, variables)
    if not any(all(v in info["variables"] for v in vs) for vs in QUANTITIES.values()):
        raise ForcingError(f"remote forcing source {url} provides neither currents nor wind (both components)")
    row = remote_row(url, name or url.rstrip("/").rsplit("/", 1)[-1], info, kind, options, required, licence)
    with db_errors("connection"), closing(psycopg2.connect(settings.database_url)) as conn:
        row = upsert_row(conn, row)
    print(f"Added remote forcing source {source_summary(row)}")
    return row


def forcing_sync(settings: Settings) -> int:
    """Re-read every remote source's coverage (moving best/latest aggregations); returns the failures."""
    import psycopg2

    settings.require_services()
    failures = 0
    with db_errors("connection"), closing(psycopg2.connect(settings.database_url)) as conn:
        for row in [r for r in list_datasets(conn) if r.get("kind", "file") != "file"]:
            try:
                only = sorted(set((row["variable_map"] or {}).values()))
                info = probe_source(settings, row["uri"], row["kind"], row["storage_options"] or {}, only)
            except ForcingError as e:
                failures += 1
                print(f"Not synced {row['name']}: {e}")
                continue
            options, licence = row["storage_options"] or {}, row.get("licence")
            new = upsert_row(conn, remote_row(row["uri"], row["name"], info, row["kind"], options, row["required"],
                                              licence))  # fmt: skip
            print(f"Synced {source_summary(new)}")
    return failures


def load_presets(settings: Settings, names: list[str] | None = None, path: Path | str | None = None) -> int:
    """Register the named presets (all by default) from presets.json; returns the failures."""
    presets = json.loads(Path(path or PRESETS).read_text())["sources"]
    unknown = set(names or []) - {p["name"] for p in presets}
    if unknown:
        raise ForcingError(f"no preset named {', '.join(sorted(unknown))} in {path or PRESETS}")
    failures = 0
    for preset in [p for p in presets if not names or p["name"] in names]:
        try:
            forcing_add_remote(
                settings,
                preset["url"],
                preset["name"],
                variables=preset.get("variables"),
                storage_options=preset.get("storage_options"),
                licence=preset.get("licence"),
            )
        except ForcingError as e:
            failures += 1
            print(f"Not added {preset['name']}: {e}")
    return failures
