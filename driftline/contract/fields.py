"""Field validators of the job contract: numbers, integers, ISO 8601 times, choices; each rejection names the key.

The bottom of the contract package: every section parser uses these, and they import nothing of the contract.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from driftline.errors import InvalidJob


def number(p: dict, key: str, default, low: float, high: float, low_open: bool = False) -> float:
    value = p.get(key, default)
    if value is None:
        if default is not None:
            return default
        raise InvalidJob(f"{key} must be a number, got null" if key in p else f"{key} is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidJob(f"{key} must be a number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:
        digits = len(str(abs(value)))
        raise InvalidJob(f"{key} must be between {low:g} and {high:g}, got an integer of {digits} digits") from None
    if not math.isfinite(value):
        raise InvalidJob(f"{key} must be a finite number")
    if value < low or value > high or (low_open and value == low):
        bound = f"greater than {low:g} and at most {high:g}" if low_open else f"between {low:g} and {high:g}"
        raise InvalidJob(f"{key} must be {bound}, got {value:g}")
    return value


def integer(p: dict, key: str, default: int, low: int, high: int) -> int:
    value = p.get(key, default)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJob(f"{key} must be an integer, got {value!r}")
    if not low <= value <= high:
        shown = value if abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"
        raise InvalidJob(f"{key} must be between {low} and {high}, got {shown}")
    return value


def timestamp(p: dict, key: str, required: bool = False) -> datetime | None:
    value = p.get(key)
    if value is None:
        if required:
            raise InvalidJob(f"{key} is required (ISO 8601, e.g. 2024-01-01T12:00:00Z)")
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidJob(f"{key} must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError as e:
        raise InvalidJob(f"{key} is not an ISO 8601 time: {value!r}") from e
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 leaves datetime's range in UTC
        parsed = datetime.min.replace(tzinfo=UTC)
    if not 1950 <= parsed.year <= 2100:
        raise InvalidJob(f"{key} is outside the years 1950-2100: {value!r}")
    return parsed


def choice(p: dict, key: str, default: str, choices: tuple[str, ...]) -> str:
    value = p.get(key, default)
    if value not in choices:
        raise InvalidJob(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
