"""Job key `params.tasking`: what the worker cannot know for the Search Action Message (pure, no services).

Optional; every field optional. Rejections are one line naming the field (`tasking.units.Rescue 51.altitude_ft`).
"""

from __future__ import annotations

import math
from typing import Any

from driftline.errors import InvalidJob

MAX_TEXT = 200
MAX_LIST = 10
TEXT_KEYS = {
    "originator", "action", "info", "smc", "osc", "situation", "weather", "datum_marker_buoys",
    "control_channel", "on_scene_channel", "monitor_channel", "reports", "remarks",
    "survival_equipment", "airspace", "press_channel",
}  # fmt: skip
UNIT_KEYS = {"type", "call_sign", "altitude_ft", "parent_agency"}
UNIT_TYPES = ("vessel", "aircraft", "helicopter")
MAX_ALTITUDE_FT = 20_000.0  # visual searches are flown far below this


def parse_tasking(value: Any) -> dict | None:
    """Validated copy of `params.tasking`, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidJob("tasking must be an object (see docs/job-contract.md#tasking)")
    unknown = sorted(set(value) - TEXT_KEYS - {"persons_on_board", "units"})
    if unknown:
        raise InvalidJob(f"unknown tasking keys: {', '.join(unknown)}")
    out: dict = {k: _text(value[k], f"tasking.{k}") for k in sorted(TEXT_KEYS & value.keys())}
    if "persons_on_board" in value:
        pob = value["persons_on_board"]
        if isinstance(pob, bool) or not isinstance(pob, int) or not 0 <= pob <= 10_000:
            raise InvalidJob("tasking.persons_on_board must be an integer from 0 to 10000")
        out["persons_on_board"] = pob
    if "units" in value:
        out["units"] = _units(value["units"])
    return out


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_TEXT:
        raise InvalidJob(f"{key} must be a string of 1 to {MAX_TEXT} characters")
    return " ".join(value.split())


def _units(value: Any) -> dict:
    if not isinstance(value, dict) or len(value) > MAX_LIST:
        raise InvalidJob(f"tasking.units must be an object of at most {MAX_LIST} units keyed by search unit name")
    out = {}
    for name, unit in value.items():
        key = f"tasking.units.{name[:64]}"
        if not isinstance(unit, dict):
            raise InvalidJob(f"{key} must be an object with type, call_sign, altitude_ft, parent_agency")
        unknown = sorted(set(unit) - UNIT_KEYS)
        if unknown:
            raise InvalidJob(f"unknown {key} keys: {', '.join(unknown)}")
        rec: dict = {}
        if "type" in unit:
            if unit["type"] not in UNIT_TYPES:
                raise InvalidJob(f"{key}.type must be one of {', '.join(UNIT_TYPES)}")
            rec["type"] = unit["type"]
        for k in ("call_sign", "parent_agency"):
            if k in unit:
                rec[k] = _text(unit[k], f"{key}.{k}")
        if "altitude_ft" in unit:
            alt = unit["altitude_ft"]
            if isinstance(alt, bool) or not isinstance(alt, (int, float)) or not math.isfinite(alt):
                raise InvalidJob(f"{key}.altitude_ft must be a number")
            if not 0 < alt <= MAX_ALTITUDE_FT:
                raise InvalidJob(f"{key}.altitude_ft must be above 0 and at most {MAX_ALTITUDE_FT:g}")
            rec["altitude_ft"] = float(alt)
        out[name] = rec
    return out


def check_tasking_units(tasking: dict | None, unit_names: list[str]) -> None:
    """Every unit named in tasking.units must be a search unit of the job."""
    for name in (tasking or {}).get("units", {}):
        if name not in unit_names:
            raise InvalidJob(f"tasking.units.{name[:64]} is not a search.units name")
