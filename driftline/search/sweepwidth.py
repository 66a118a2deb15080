"""Sweep widths from published tables: uncorrected visual sweep width for the search object, the platform and the
visibility, × IAMSAR's weather correction × (when fatigued) 0.9, × the aircraft speed correction.

Data: data/sweep_widths.json, the US Coast Guard Addendum to the US National SAR Supplement (COMDTINST
M16130.2F; public domain), with IAMSAR Vol. II App. N's weather and fatigue factors (see the file's `source`).
Conservative reading: the tabulated visibility, raft capacity and boat length at or below the one given (no
interpolation). Combinations the tables do not hold are refused, naming them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from driftline.errors import InvalidJob

DATA = Path(__file__).with_name("data") / "sweep_widths.json"
PLATFORM_KEYS = {"type", "size", "altitude_ft", "fatigue"}
OBJECT_KEYS = {"type", "persons", "length_ft"}
RAFT_PERSONS = (1, 4, 6, 8, 10, 15, 20, 25)
LENGTHS_FT = {
    "power_boat": (15, 20, 33, 53, 78),
    "sail_boat": (15, 20, 25, 30, 40, 50, 70, 83),
    "ship": (120, 225, 300),
}
ROW_NAMES = {"power_boat": "Power Boat {}ft", "sail_boat": "Sail Boat {}ft", "ship": "Ship {}ft"}


@lru_cache(maxsize=1)
def tables() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def sweep_width_from_tables(platform: Any, params: dict, conditions: dict) -> tuple[float, str]:
    """(corrected sweep width nm, one line saying which rows and factors) for `platform` (raises InvalidJob)."""
    if not isinstance(platform, dict) or set(platform) - PLATFORM_KEYS or "type" not in platform:
        raise InvalidJob("platform must be an object with type (vessel, fixed_wing, helicopter), size or altitude_ft")
    data = tables()
    row = _object_row(params, conditions)
    kind = platform["type"]
    if kind == "vessel":
        size = platform.get("size")
        if size not in data["tables"]["vessel"]:
            raise InvalidJob(
                f"platform.size must be small (eye height 8 ft) or medium (14 ft) for a vessel, got {size!r}"[:160]
            )
        table, columns, what = data["tables"]["vessel"][size]["rows"], data["visibility_nm"]["vessel"], f"vessel {size}"
    elif kind in ("fixed_wing", "helicopter"):
        alt = platform.get("altitude_ft")
        key = str(int(alt)) if isinstance(alt, (int, float)) and not isinstance(alt, bool) and alt == int(alt) else None
        if key not in data["tables"][kind]:
            raise InvalidJob(f"platform.altitude_ft {alt!r} is not in the {kind} tables (300, 500 or 1000 ft)"[:160])
        table, columns, what = data["tables"][kind][key], data["visibility_nm"]["aircraft"], f"{kind} {key} ft"
    else:
        raise InvalidJob(f"platform.type must be vessel, fixed_wing or helicopter, got {str(kind)[:40]!r}")
    vis = conditions.get("visibility_nm")
    if vis is None:
        raise InvalidJob("platform needs search.visibility_nm (meteorological visibility) for the sweep-width tables")
    if vis < columns[0]:
        raise InvalidJob(f"search.visibility_nm {vis:g} is below the tables' {columns[0]} nm: give sweep_width_nm")
    col = max(i for i, c in enumerate(columns) if c <= vis)
    uncorrected = table[row][col]
    weather, why = _weather(row, conditions, data)
    fatigue = data["fatigue_factor"] if platform.get("fatigue") is True else 1.0
    w = uncorrected * weather * fatigue
    source = f"{what}, {row}, visibility {columns[col]} nm: {uncorrected:g} nm x weather {weather:g} ({why})"
    source += f" x fatigue {fatigue:g}" if fatigue != 1.0 else ""
    if w <= 0:
        raise InvalidJob(
            f"the sweep-width tables give 0 nm for {row} from a {what} at {columns[col]} nm: give sweep_width_nm"
        )
    return w, source


def speed_corrected(width: float, source: str, platform: dict | None, speed_kn: float) -> tuple[float, str]:
    """× the aircraft speed correction of the tables (fixed wing 150/180/210 kn, helicopter 60/90/120/140 kn)."""
    if not platform or platform.get("type") not in ("fixed_wing", "helicopter"):
        return width, source
    corr = tables()["speed_correction"][platform["type"]]
    speeds = corr["speeds_kn"]
    if speed_kn > speeds[-1]:
        raise InvalidJob(
            f"speed_kn {speed_kn:g} is above the {platform['type']} speed-correction table ({speeds[-1]} kn)"
        )
    row = source.split(", ")[1]
    k = min(i for i, s in enumerate(speeds) if s >= speed_kn)  # the next tabulated speed up: conservative
    f = corr["rows"][row][k]
    return width * f, f"{source} x speed {f:g} ({speeds[k]} kn)"


def _object_row(params: dict, conditions: dict) -> str:
    """The table row of the search object: search.object, or a person in the water for PIW object types."""
    obj = conditions.get("object")
    if obj is None:
        if _all_piw(params.get("object_type", 1)):
            return "Person in Water"
        raise InvalidJob("platform needs search.object (type raft with persons, power_boat, sail_boat or ship with "
                         "length_ft) for this object_type: the sweep-width tables list those")  # fmt: skip
    kind = obj.get("type")
    if kind == "person_in_water":
        return "Person in Water"
    if kind == "raft":
        n = obj.get("persons")
        ok = [p for p in RAFT_PERSONS if isinstance(n, (int, float)) and p <= n]
        if not ok:
            raise InvalidJob(
                f"search.object raft persons {n!r} is not in the tables ({', '.join(map(str, RAFT_PERSONS))})"
            )
        return f"Raft {ok[-1]} person"
    if kind in LENGTHS_FT:
        length = obj.get("length_ft")
        lengths = LENGTHS_FT[kind]
        ok = [x for x in lengths if isinstance(length, (int, float)) and x <= length]
        if kind == "power_boat" and isinstance(length, (int, float)) and 0 < length < 15:
            ok = [15]  # the table's row is "15 ft or less"
        if not ok:
            raise InvalidJob(f"search.object {kind} length_ft {length!r} is not in the tables (from {lengths[0]} ft)")
        return ROW_NAMES[kind].format(ok[-1])
    raise InvalidJob("search.object.type must be person_in_water, raft, power_boat, sail_boat or ship")


def _all_piw(ref: Any) -> bool:
    from config import leeway_object

    refs = [r.get("type") for r in ref if isinstance(r, dict)] if isinstance(ref, list) else [ref]
    try:
        return bool(refs) and all(leeway_object(r).key.upper().startswith("PIW") for r in refs)
    except Exception:  # noqa: BLE001 - an unknown object type is reported by its own validator
        return False


def _weather(row: str, conditions: dict, data: dict) -> tuple[float, str]:
    """IAMSAR weather correction from the on-scene wind (kn) and sea (m), the worse of the two."""
    wind, sea = conditions.get("wind_kn"), conditions.get("wave_height_m")
    if wind is None and sea is None:
        raise InvalidJob("platform needs search.wind_kn or search.wave_height_m (or a constant params.wind) "
                         "for the weather correction")  # fmt: skip
    wc = data["weather_correction"]
    band = 0
    if wind is not None:
        band = max(band, sum(wind > limit for limit in wc["wind_kn"]))
    if sea is not None:
        band = max(band, sum(sea > limit for limit in wc["wave_height_m"]))
    size = "small" if row in data["small_objects"] else "large"
    parts = [f"wind {wind:.0f} kn" if wind is not None else "", f"sea {sea:g} m" if sea is not None else ""]
    return wc[size][band], f"{size} object, {' '.join(p for p in parts if p)}"
