"""Small missions for the tasking products, built without services: a synthetic drifting plume, the real
products and search planner on it, and a summary.json shaped like the pipeline's (fake land east of 4.5 E)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from config import Settings
from driftline.contract.parse import parse_job
from driftline.products import ProductMeta, build_products
from driftline.search.mission import prepare_search, search_summary, write_search_files
from driftline.trajectory import ACTIVE, STRANDED, Trajectories

MID = "5d3f8c9e-1b2a-4c3d-8e4f-0123456789ab"
START = "2024-03-01T00:00:00Z"
M_PER_DEG = 111_195.0
UNITS = [
    {"name": "Rescue 51", "speed_kn": 60, "sweep_width_nm": 0.5, "endurance_hours": 1.5,
     "commence_time": "2024-03-01T06:00:00Z"},
    {"name": "MRB Bergen", "speed_kn": 12, "sweep_width_nm": 0.3, "endurance_hours": 2,
     "commence_time": "2024-03-01T07:00:00Z"},
]  # fmt: skip
TASKING = {
    "originator": "JRCC SOUTHERN NORWAY", "smc": "JRCC Southern Norway", "osc": "Rescue 51", "persons_on_board": 1,
    "control_channel": "VHF 16", "on_scene_channel": "VHF 67", "monitor_channel": "121.5 MHz",
    "units": {"Rescue 51": {"type": "helicopter", "altitude_ft": 500}, "MRB Bergen": {"type": "vessel"}},
}  # fmt: skip


def fake_land(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Land from 4.5 E to 10 E (a cheap stand-in for OpenDrift's landmask)."""
    lon = (np.asarray(lon) + 180) % 360 - 180
    return (lon > 4.5) & (lon < 10.0)


def plume(lon0: float, lat0: float = 60.0, n: int = 1500, t: int = 13, east_ms: float = 0.3, seed: int = 3):
    """Hourly Trajectories of a plume drifting east and spreading; a few strand on the fake coast."""
    rng = np.random.default_rng(seed)
    hours = np.arange(t)
    walk = rng.normal(0, 1, (2, n, t)) * (1000 + 1500 * np.sqrt(hours))
    lon = lon0 + (east_ms * 3600 * hours + walk[0]) / M_PER_DEG / np.cos(np.radians(lat0))
    lat = lat0 + walk[1] / M_PER_DEG
    lon = (lon + 180) % 360 - 180
    state = np.full((n, t), ACTIVE, np.int8)
    stranded = fake_land(lon, lat)
    state[stranded] = STRANDED
    times = np.datetime64(START.rstrip("Z"), "s") + (hours * 3600).astype("timedelta64[s]")
    return Trajectories(times, lon, lat, state, np.zeros(n, np.int16), np.ones(n, np.int16), ["main"])


def build_mission(out: Path, *, lon0: float = 4.0, lat0: float = 60.0, extra: dict | None = None, **plume_kw):
    """Products of a synthetic mission in `out` and its summary dict (as the pipeline writes it)."""
    params = {"latitude": lat0, "longitude": lon0, "start_time": START, "duration_hours": 12, "object_type": "PIW-1",
              "water_temperature_c": 8, "search_area_interval_hours": 3, **(extra or {})}  # fmt: skip
    p = parse_job(json.dumps({"mission_id": MID, "params": params}), Settings.from_env({})).params
    traj = plume(lon0, lat0, **plume_kw)
    stage = prepare_search(MID, p, traj, [])
    meta = ProductMeta(MID, "forward", "PIW-1: Person-in-water", datetime(2024, 3, 1, tzinfo=UTC), lat0, lon0,
                       "on-scene constant", "point release", search_area_interval_hours=3,
                       search_plan=stage.fc)  # fmt: skip
    report = build_products(traj, meta, out, land_fn=fake_land)
    write_search_files(stage, out, lambda name, path: None)
    summary = {
        "mission_id": MID, "title": "Drift forecast", "direction": "forward", "params": p.as_record(),
        "model": {"name": "leeway", "opendrift_class": "Leeway"}, "random_seed": p.random_seed,
        "object_types": [{"key": "PIW-1", "description": "Person-in-water (PIW), unknown state"}],
        "forcing": [{"member": "main", "sources": [{"quantity": "wind", "description": "on-scene 10 m/s from 270°"}]}],
        "time_start": START, "time_end": "2024-03-01T12:00:00Z", "shares": report.shares,
        "search_areas": report.search_areas, "shoreline": report.shoreline, "products": [], "timings_s": {},
        "software": {"driftline": "test"}, "warnings": report.warnings + stage.warnings,
        **search_summary(stage),
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary))
    return summary


def two_units(out: Path, **kw) -> dict:
    return build_mission(out, extra={"search": {"units": UNITS}, "tasking": TASKING}, **kw)
