"""Expected survival time of a person in the water from the water temperature (hypothermia only).

Model: Hayward, J.S., Eckerson, J.D. & Collis, M.L. (1975), "Thermal balance and survival time prediction
of man in cold water", Canadian Journal of Physiology and Pharmacology 53(1): 21–32. Predicted time to a
core temperature of 30 °C for an adult in light clothing, holding still:
    t = 15 + 7.2 / (0.0785 − 0.0034 · Tw)   minutes, Tw in °C.
The curve is singular at 23 °C; it is used up to 20 °C, and warmer water reports the 20 °C value (about
12 h) as a lower bound. It ignores cold shock, swim failure, protective clothing and body build.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

MODEL = (
    "Hayward, Eckerson & Collis (1975), Thermal balance and survival time prediction of man in cold water, "
    "Can. J. Physiol. Pharmacol. 53:21-32"
)
MAX_MODEL_TEMPERATURE_C = 20.0


def expected_survival_hours(water_temperature_c: float) -> float:
    """Hayward et al. (1975) survival time in hours; water above 20 °C gets the 20 °C value (a lower bound)."""
    t = min(water_temperature_c, MAX_MODEL_TEMPERATURE_C)
    return (15.0 + 7.2 / (0.0785 - 0.0034 * t)) / 60.0


def is_person_in_water(object_key: str) -> bool:
    """Leeway's person-in-water categories (PIW-*); rafts, boats and debris have no survival time here."""
    return object_key.startswith("PIW")


def survival_summary(object_keys: list[str], water_temperature_c: float | None, source: str, start: datetime) -> dict:
    """The `survival` block of summary.json; `start` is when the person entered the water (start_time)."""
    persons = [k for k in object_keys if is_person_in_water(k)]
    if not persons:
        return {"applies": False, "reason": "no person-in-water object type (survival applies to PIW-* only)"}
    if water_temperature_c is None:
        return {"applies": True, "expected_survival_hours": None, "reason": "no water temperature (job or forcing)"}
    hours = expected_survival_hours(water_temperature_c)
    return {
        "applies": True,
        "object_types": persons,
        "model": MODEL,
        "water_temperature_c": round(water_temperature_c, 2),
        "water_temperature_source": source,
        "expected_survival_hours": round(hours, 2),
        "lower_bound": water_temperature_c > MAX_MODEL_TEMPERATURE_C,
        "expected_survival_until": _iso(start + timedelta(seconds=round(hours * 3600))),
    }


def beyond_survival(survival: dict, end: datetime) -> bool:
    """True when a search ending at `end` ends after the expected survival time (and the bound is not a lower one)."""
    until = survival.get("expected_survival_until")
    return bool(until) and not survival.get("lower_bound") and _iso(end) > until


def forcing_water_temperature(plans: list, lat: float, lon: float, when: datetime) -> float | None:
    """sea_water_temperature (°C) at the last known position from the first forcing reader that has it."""
    for plan in plans:
        for reader in plan.readers:
            if "sea_water_temperature" not in getattr(reader, "variables", ()):
                continue
            try:
                env, _ = reader.get_variables_interpolated(
                    ["sea_water_temperature"], time=when.replace(tzinfo=None), lon=np.array([lon]),
                    lat=np.array([lat]), z=np.array([0.0]),
                )  # fmt: skip
            except Exception:  # noqa: BLE001 - a reader that cannot answer just gives no temperature
                continue
            value = float(np.ma.filled(np.ma.asarray(env["sea_water_temperature"], float), np.nan).ravel()[0])
            if np.isfinite(value):
                return value - 273.15 if value > 200 else value  # some models store kelvin
    return None


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
