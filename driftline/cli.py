"""The command line of `python worker.py`: daemon (the default), run, health, forcing.

Imported only inside worker.main(), so job processes (which re-import worker.py) never load it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from config import ConfigError, Settings
from driftline.contract.parse import parse_job
from driftline.errors import DriftError
from driftline.logs import setup_logging

log = logging.getLogger("driftline.worker")


def main(argv: list[str] | None, run_daemon: Callable[[Settings], int]) -> int:
    """`python worker.py …`: parse the command line and run the subcommand; the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    command = args.command or "daemon"
    try:
        if command == "daemon":
            settings.require_services()
            return run_daemon(settings)
        return COMMANDS[command](args, settings)
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    except DriftError as e:
        log.error("%s", e)
        return 1


def cmd_run(args, settings: Settings) -> int:
    """One mission locally: no Redis, PostgreSQL or S3; files land in OUT/{mission_id}/."""
    from driftline.forcing import ForcingContext
    from driftline.objects import LocalStore
    from driftline.pipeline import MissionContext, run_mission

    params = {
        k: v
        for k, v in {
            "latitude": args.latitude,
            "longitude": args.longitude,
            "start_time": args.start_time,
            "duration_hours": args.duration_hours,
            "num_particles": args.num_particles,
            "object_type": _int_or_key(args.object_type),
            "radius_m": args.radius_m,
            "random_seed": args.seed,
            "wind": _vector(args.wind, "from_deg"),
            "current": _vector(args.current, "to_deg"),
        }.items()
        if v is not None
    }
    if args.params:
        params.update(_params_arg(args.params))
    if args.drifters:
        from driftline.track_files import read_track_file

        params["drifters"] = [t for path in args.drifters for t in read_track_file(path)]
    params.setdefault("start_time", time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime()))
    body = json.dumps({"mission_id": args.mission_id or str(uuid.uuid4()), "params": params})
    job = parse_job(body, settings)
    from driftline.simulation import warm_up

    warm_up()
    out = Path(args.out)
    ctx = MissionContext(
        settings=settings,
        objects=LocalStore(out),
        forcing=ForcingContext(settings=settings, s3=None, db=None, local_files=[Path(f) for f in args.forcing]),
        progress=_print_progress,
    )
    started = time.monotonic()
    outcome = run_mission(job, ctx)
    print(f"\nMission {job.mission_id} completed in {time.monotonic() - started:.1f} s: {out / job.mission_id}")
    for item in outcome.stored:
        print(f"  {item.key:60s} {item.size_bytes:>10,d} bytes")
    for warning in outcome.warnings:
        print(f"  warning: {warning}")
    return 0


def cmd_health(args, settings: Settings) -> int:
    from driftline.health import check_health

    problem = check_health(settings, max_heartbeat_age_s=args.max_age, liveness=args.liveness)
    print(problem or "ok")
    return 1 if problem else 0


def cmd_forcing(args, settings: Settings) -> int:
    from driftline import forcing

    if args.forcing_command == "add":
        row = forcing.forcing_add(settings, Path(args.file), args.name)
        print(json.dumps(row, indent=2, default=str))
    elif args.forcing_command == "add-remote":
        options = {"variables": args.variables, "storage_options": args.storage_option, "required": args.required}
        row = forcing.forcing_add_remote(settings, args.url, args.name, licence=args.licence, **options)
        print(json.dumps(row, indent=2, default=str))
    elif args.forcing_command == "sync":
        return 1 if forcing.forcing_sync(settings) else 0
    elif args.forcing_command == "presets":
        return 1 if forcing.load_presets(settings, args.names, args.file) else 0
    else:
        print(forcing.format_catalog(forcing.forcing_list(settings)))
    return 0


COMMANDS = {"run": cmd_run, "health": cmd_health, "forcing": cmd_forcing}  # and "daemon" (main runs it)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="worker.py", description="Driftline drift worker (OpenDrift Leeway)")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("daemon", help="run the queue worker (the default)")
    run = sub.add_parser("run", help="run one mission locally, without Redis, PostgreSQL or S3")
    run.add_argument("--latitude", type=float, required=True)
    run.add_argument("--longitude", type=float, required=True)
    run.add_argument("--start-time", default=None, help="ISO 8601, default now (UTC)")
    run.add_argument("--duration-hours", type=float)
    run.add_argument("--num-particles", type=int)
    run.add_argument("--object-type", help="Leeway number 1..85 or key, e.g. PIW-1 or LIFE-RAFT-NB-1")
    run.add_argument("--radius-m", type=float)
    run.add_argument("--seed", type=int, help="random seed (reproducible runs)")
    run.add_argument("--wind", help="on-scene wind SPEED_MS,FROM_DEG (meteorological)")
    run.add_argument("--current", help="on-scene current SPEED_MS,TO_DEG (oceanographic)")
    run.add_argument("--forcing", action="append", default=[], help="local forcing NetCDF file (repeatable)")
    run.add_argument("--params", help="extra job params as JSON text or a JSON file (scenarios)")
    run.add_argument("--drifters", action="append", default=[], help="on-scene drifter track, CSV or GPX (repeatable)")
    run.add_argument("--mission-id", help="UUID (default: a new one)")
    run.add_argument("--out", default="out", help="output directory (default ./out)")
    health = sub.add_parser("health", help="exit 0 if the worker and its services are healthy")
    health.add_argument("--max-age", type=float, default=None, help="max heartbeat age in s (default: TTL)")
    health.add_argument(
        "--liveness",
        action="store_true",
        help="only check this worker's heartbeat (a liveness probe must not restart workers "
        "during a database or S3 outage)",
    )
    forcing = sub.add_parser("forcing", help="manage the forcing catalog")
    fsub = forcing.add_subparsers(dest="forcing_command", required=True)
    add = fsub.add_parser("add", help="upload a NetCDF file to the forcing bucket and register it")
    add.add_argument("file")
    add.add_argument("--name")
    fsub.add_parser("list", help="print the forcing catalog")
    remote = fsub.add_parser("add-remote", help="register a remote OPeNDAP dataset or s3://….zarr store")
    remote.add_argument("url")
    remote.add_argument("--name")
    remote.add_argument("--variables", nargs="+", help="source variables to use (default: found by standard name)")
    remote.add_argument("--storage-option", action="append", default=[], help="KEY=VALUE for Zarr (endpoint_url…)")
    remote.add_argument("--required", action="store_true", help="if unreachable, missions wait (no fallback)")
    remote.add_argument("--licence", help="the data licence, shown in the catalog")
    fsub.add_parser("sync", help="refresh remote sources' coverage (run on a schedule)")
    presets = fsub.add_parser("presets", help="register ready-made remote sources (driftline/forcing/presets.json)")
    presets.add_argument("names", nargs="*", help="preset names (default: all)")
    presets.add_argument("--file", help="another presets file")
    return p


def _params_arg(text: str) -> dict:
    """--params: inline JSON (an object) or the path of a JSON file."""
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return json.loads(Path(text).read_text())


def _int_or_key(value: str | None):
    if value is None:
        return None
    return int(value) if value.strip().isdigit() else value


def _vector(text: str | None, direction_key: str) -> dict | None:
    if not text:
        return None
    speed, direction = (float(x) for x in text.split(","))
    return {"speed_ms": speed, direction_key: direction}


def _print_progress(fraction: float, _last: list[int] = [-1]) -> None:  # noqa: B006 - remembers the last step
    step = int(fraction * 20)
    if step != _last[0]:
        _last[0] = step
        print(f"\r[{'#' * step:<20}] {fraction:4.0%}", end="", flush=True)
