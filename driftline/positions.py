"""The one degrees-and-decimal-minutes format of every product and plan: IAMSAR / radio style, 60°05.123'N 003°02.456'W.

Latitude degrees take two digits and longitude degrees three (zero-padded, as read over the radio and written in
IAMSAR SITREPs and search action plans), minutes two digits with a fixed number of decimals, then the hemisphere.
"""

from __future__ import annotations


def deg_min(value: float, positive: str, negative: str, degree_digits: int, decimals: int = 3) -> str:
    """One coordinate, e.g. deg_min(-3.0411, "E", "W", 3) == "003°02.466'W" (rounded, 59.9999999 N -> 60°00.000'N)."""
    hemi = positive if value >= 0 else negative
    scale = 10**decimals
    units = round(abs(float(value)) * 60 * scale)
    deg, rest = divmod(units, 60 * scale)
    width = 3 + decimals if decimals else 2
    return f"{deg:0{degree_digits}d}°{rest / scale:0{width}.{decimals}f}'{hemi}"


def lat_dm(lat: float, decimals: int = 3) -> str:
    return deg_min(lat, "N", "S", 2, decimals)


def lon_dm(lon: float, decimals: int = 3) -> str:
    return deg_min(lon, "E", "W", 3, decimals)


def position_dm(lat: float, lon: float, decimals: int = 3) -> str:
    """'60°05.123'N 003°02.456'W' (latitude first, as positions are spoken)."""
    return f"{lat_dm(lat, decimals)} {lon_dm(lon, decimals)}"
