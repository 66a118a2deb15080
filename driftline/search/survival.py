"""Expected survival time of a person in the water by protection (hypothermia only): a planning estimate.

IAMSAR Manual Vol. II: a survival estimate helps plan, it is never a reason to end a search (people have
survived far longer than any model predicts). The figure here is worded so in every product.

NOT Tikuisis's Cold Exposure Survival Model. CESM (Tikuisis 1995, Int. J. Biometeorol. 39:94-102; Tikuisis
1997, Aviat. Space Environ. Med. 68:441-448; Tikuisis & Keefe 2005, DRDC Toronto TR-2005-097), the basis of the
US Coast Guard's Probability of Survival Decision Aid, is a heat-balance model sold as a program; its equations,
coefficients and survival-time tables are not available to this project in a form that could be checked, so
nothing of it is implemented or imitated. Implemented instead, each number from the publication named:

* Core cooling of a still adult in light clothing and a lifejacket (Hayward, Eckerson & Collis 1975, "Thermal
  balance and survival time prediction of man in cold water", Can. J. Physiol. Pharmacol. 53:21-32):
  r(Tw) = 0.0785 - 0.0034 Tw  °C/min, survival t = 15 + 7.2 / r  minutes (a core fall from 37.2 to 30 °C).
  The linear rate reaches 0 at 23.1 °C (the singularity of the formula); here it is smoothed:
  r_s = 0.0034 · s · ln(1 + exp((23.09 - Tw) / s)), s = 1.5 °C, equal to Hayward's rate within 1 % below
  15 °C (3 % at 17 °C), positive and smooth above (a numerical device, not a physiological claim).
* `lifejacket` and `light_clothing`: Hayward's curve itself (his subjects wore light clothing and a lifejacket).
  No verified published factor for the extra cooling of a person without flotation was found, so none is
  applied: without a lifejacket drowning and swim failure, not hypothermia, limit survival, and this estimate
  does not model them (never shortened by a factor we cannot cite).
* `survival_suit`: Hayward's rate scaled by the measured rectal cooling of subjects in five dry insulated
  survival suits floating in 1 °C water, 0.13 °C/h over 6 h (Hayward 1984, "Thermal protection performance of
  survival suits in ice-water", Aviat. Space Environ. Med. 55:212-215, PMID 6721808), against Hayward's
  4.51 °C/h at 1 °C: factor 0.0289 (the paper: predicted survival "exceeds 1 d").
* No wetsuit class: no published survival-time figure for wetsuits was found to cite.
* Range: `expected` is the average subject. The "upper end" halves the cooling rate: a planning allowance of
  this implementation (NOT a published spread) so that flags come late rather than early; "beyond survival"
  flags compare with the upper end only.
* Validity: the measurements span water of 0 to 20 °C (Hayward 1975; the suits at 1 °C); outside it the figures
  are extrapolations and say so (`within_validity_range`); no unit is flagged beyond survival above 20 °C.
  Figures approach 72 h smoothly (p-norm minimum, `capped`): beyond the planning horizon of the model.
Ignores cold shock, swim failure, sea state, wetting of the suit and body build (see docs/survival.md).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from driftline.errors import InvalidJob

MODEL = (
    "Hayward, Eckerson & Collis (1975) core cooling rate (Can. J. Physiol. Pharmacol. 53:21-32), smoothed; "
    "survival suit: 0.13 °C/h at 1 °C (Hayward 1984, Aviat. Space Environ. Med. 55:212-215). "
    "Not Tikuisis's CESM (not available to implement); upper end: half the cooling rate (planning allowance)"
)
MODEL_SHORT = "Hayward et al. 1975/1984, by protection"
SOURCE = {"lifejacket": "Hayward et al. 1975", "light_clothing": "Hayward et al. 1975", "survival_suit": "Hayward 1984"}
PLANNING_NOTE = (
    "Planning estimate of survival from hypothermia only; never a reason to end a search (IAMSAR Vol. II): "
    "people have survived much longer than predicted."
)
_HAYWARD_A, _HAYWARD_B = 0.0785, 0.0034  # °C/min and °C/min per °C (Hayward, Eckerson & Collis 1975)
_SUIT_RATE_C_PER_H, _SUIT_WATER_C = 0.13, 1.0  # Hayward (1984): dry insulated suits, 1 °C water, 6 h
SUIT_FACTOR = _SUIT_RATE_C_PER_H / 60.0 / (_HAYWARD_A - _HAYWARD_B * _SUIT_WATER_C)
PROTECTION_FACTORS = {"survival_suit": SUIT_FACTOR, "lifejacket": 1.0, "light_clothing": 1.0}
PROTECTIONS = tuple(PROTECTION_FACTORS)
# Leeway person-in-water types whose description states the protection; PIW-1 (unknown state) takes
# params.protection, by default a lifejacket (Hayward's own subjects: light clothing only when the job says
# so, since a shorter unknown-state estimate would only invite ending a search early); PIW-6 is deceased.
OBJECT_PROTECTION = {"PIW-2": "lifejacket", "PIW-3": "lifejacket", "PIW-4": "survival_suit", "PIW-5": "lifejacket"}
DECEASED = ("PIW-6",)
DEFAULT_PROTECTION = "lifejacket"
VALIDITY_C = (0.0, 20.0)
UPPER_RATE_FACTOR = 0.5  # the planning upper end: half the average cooling rate
MAX_HOURS = 72.0
_T0_C, _SLOPE, _SMOOTH_C = _HAYWARD_A / _HAYWARD_B, _HAYWARD_B, 1.5
_DELAY_MIN, _CORE_FALL_C = 15.0, 7.2


def parse_protection(p: dict) -> str | None:
    """params.protection: one of PROTECTIONS, or None when not given (InvalidJob naming the key)."""
    value = p.get("protection")
    if value is None:
        return None
    if value not in PROTECTIONS:
        raise InvalidJob(f"protection must be one of {', '.join(PROTECTIONS)}, got {value!r}")
    return value


def cooling_rate_c_per_min(water_temperature_c: float, protection: str = "lifejacket") -> float:
    """Smoothed Hayward (1975) core cooling rate (°C/min) scaled by the protection's factor."""
    x = (_T0_C - water_temperature_c) / _SMOOTH_C
    softplus = x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))
    return PROTECTION_FACTORS[protection] * _SLOPE * _SMOOTH_C * softplus


def expected_survival_hours(water_temperature_c: float, protection: str = "lifejacket", upper: bool = False) -> float:
    """Survival time (h) at the water temperature with the protection; `upper` gives the planning upper end."""
    return _smooth_cap(_raw_hours(water_temperature_c, protection, upper))


def _raw_hours(water_temperature_c: float, protection: str, upper: bool) -> float:
    rate = cooling_rate_c_per_min(water_temperature_c, protection) * (UPPER_RATE_FACTOR if upper else 1.0)
    return (_DELAY_MIN + _CORE_FALL_C / rate) / 60.0


def _smooth_cap(hours: float) -> float:
    """A smooth minimum of `hours` and MAX_HOURS (p-norm, p = 6): no kink, < 0.1 % change below 24 h."""
    return (hours**-6 + MAX_HOURS**-6) ** (-1 / 6)


def is_person_in_water(object_key: str) -> bool:
    """Leeway's person-in-water categories (PIW-*); rafts, boats and debris have no survival time here."""
    return object_key.startswith("PIW")


def protection_of(object_key: str, requested: str | None) -> str:
    """The protection an object type states (PIW-4 survival suit...), else params.protection, else a lifejacket."""
    return OBJECT_PROTECTION.get(object_key) or requested or DEFAULT_PROTECTION


def survival_summary(
    object_keys: list[str],
    water_temperature_c: float | None,
    source: str,
    start: datetime,
    *,
    entry_latest: datetime | None = None,
    protection: str | None = None,
) -> dict:
    """The `survival` block of summary.json, timed from the latest plausible entry (`entry_latest`, else `start`)."""
    persons = [k for k in object_keys if is_person_in_water(k)]
    living = [k for k in persons if k not in DECEASED]
    if not persons:
        return {"applies": False, "reason": "no person-in-water object type (survival applies to PIW-* only)"}
    if not living:
        return {"applies": False, "reason": "PIW-6 is a deceased person: no survival figure", "object_types": persons}
    if water_temperature_c is None:
        return {"applies": True, "expected_survival_hours": None, "reason": "no water temperature (job or forcing)"}
    entry = entry_latest or start
    rows = [_row(k, protection_of(k, protection), water_temperature_c, entry) for k in living]
    best = max(rows, key=lambda r: r["upper_survival_hours"])
    low, high = VALIDITY_C
    return {
        "applies": True,
        "object_types": living,
        "model": MODEL,
        "validity_range_c": [low, high],
        "within_validity_range": low <= water_temperature_c <= high,
        "note": PLANNING_NOTE,
        "water_temperature_c": round(water_temperature_c, 2),
        "water_temperature_source": source,
        "counted_from": _iso(entry),
        "counted_from_reason": "latest plausible entry into the water (end of the release window)"
        if entry_latest and entry_latest != start
        else "start_time",
        "protection": best["protection"],
        "source": SOURCE[best["protection"]],
        "expected_survival_hours": best["expected_survival_hours"],
        "upper_survival_hours": best["upper_survival_hours"],
        "expected_survival_until": best["expected_survival_until"],
        "upper_survival_until": best["upper_survival_until"],
        "lower_bound": water_temperature_c > high,
        "by_object_type": rows,
    }


def _row(key: str, protection: str, temperature_c: float, entry: datetime) -> dict:
    hours = expected_survival_hours(temperature_c, protection)
    upper = expected_survival_hours(temperature_c, protection, upper=True)
    return {
        "object_type": key,
        "protection": protection,
        "expected_survival_hours": round(hours, 2),
        "upper_survival_hours": round(upper, 2),
        "capped": _raw_hours(temperature_c, protection, True) > MAX_HOURS,
        "expected_survival_until": _iso(entry + timedelta(seconds=round(hours * 3600))),
        "upper_survival_until": _iso(entry + timedelta(seconds=round(upper * 3600))),
    }


def beyond_survival(survival: dict, end: datetime) -> bool:
    """True when a search ending at `end` ends after the UPPER end of the survival range (never in warm water)."""
    until = survival.get("upper_survival_until") or survival.get("expected_survival_until")
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
