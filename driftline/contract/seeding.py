"""Job sections for where and when to look: a seeding area polygon and extra search-area times."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from driftline.contract.fields import iso, timestamp
from driftline.errors import InvalidJob

if TYPE_CHECKING:
    from config import Settings


MAX_SEARCH_AREA_TIMES = 50


def parse_search_area_times(p: dict, start: datetime, duration_h: float, backward: bool) -> tuple[datetime, ...]:
    """Extra search-area times: a list of up to MAX_SEARCH_AREA_TIMES ISO times within the run, sorted."""
    value = p.get("search_area_times")
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_SEARCH_AREA_TIMES:
        raise InvalidJob(f"search_area_times must be a list of at most {MAX_SEARCH_AREA_TIMES} ISO 8601 times")
    end = start + (-1 if backward else 1) * timedelta(hours=duration_h)
    lo, hi = min(start, end), max(start, end)
    times = set()
    for i, item in enumerate(value):
        t = timestamp({f"search_area_times[{i}]": item}, f"search_area_times[{i}]", required=True)
        if not lo <= t <= hi:
            raise InvalidJob(f"search_area_times[{i}] {iso(t)} is outside the run ({iso(lo)} to {iso(hi)})")
        times.add(t)
    return tuple(sorted(times))


def parse_area(value: Any, settings: Settings) -> dict | None:
    if value is None:
        return None
    from driftline.geodesy import validate_area

    return validate_area(value, settings.max_area_km2)
