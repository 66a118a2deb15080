"""Plain-ASCII formats of maritime messages: day-time groups, degrees and decimal minutes, wrapped 69-column text.

Day-time groups follow ACP 121 / IAMSAR Vol. II usage, ``DDHHMMZ MON YY`` in UTC (``021830Z JAN 24``).
Positions are degrees and decimal minutes to a thousandth of a minute (about 2 m) with the hemisphere letter
last, degrees zero-padded (``60 05.123N 004 12.350E``): no degree sign, so telex and radio survive them.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from datetime import UTC, datetime

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
LINE_CHARS = 69  # telex / ACP 126 message line
DTG_RE = re.compile(r"^(\d{2})(\d{2})(\d{2})Z (JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC) (\d{2})$")
DDM_RE = re.compile(r"(\d{2}) (\d{2}\.\d{3})([NS]) (\d{3}) (\d{2}\.\d{3})([EW])")
UNICODE_DM_RE = re.compile(r"(\d+)°(\d+(?:\.\d+)?)'([NSEW])")


def dtg(t: datetime) -> str:
    """UTC day-time group ``DDHHMMZ MON YY`` (seconds dropped, as messages give minutes)."""
    t = t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
    return f"{t:%d%H%M}Z {MONTHS[t.month - 1]} {t:%y}"


def parse_dtg(text: str, century: int = 2000) -> datetime:
    """Inverse of dtg() (tests and readers): ``021830Z JAN 24`` -> 2024-01-02 18:30 UTC."""
    m = DTG_RE.match(text)
    if not m:
        raise ValueError(f"not a day-time group: {text!r}")
    day, hour, minute, mon, yy = m.groups()
    return datetime(century + int(yy), MONTHS.index(mon) + 1, int(day), int(hour), int(minute), tzinfo=UTC)


def _ddm(value: float, width: int, pos: str, neg: str) -> str:
    thousandths = round(abs(value) * 60000)
    deg, rest = divmod(thousandths, 60000)
    return f"{deg:0{width}d} {rest / 1000:06.3f}{pos if value >= 0 else neg}"


def ddm(lat: float, lon: float) -> str:
    """``60 05.123N 004 12.350E`` (longitude normalised to ±180)."""
    lon = (float(lon) + 180.0) % 360.0 - 180.0
    return f"{_ddm(lat, 2, 'N', 'S')} {_ddm(lon, 3, 'E', 'W')}"


def parse_ddm(text: str) -> tuple[float, float]:
    """(lat, lon) of the first ddm() position in text."""
    m = DDM_RE.search(text)
    if not m:
        raise ValueError(f"no position in {text!r}")
    lat = (int(m[1]) + float(m[2]) / 60) * (1 if m[3] == "N" else -1)
    lon = (int(m[4]) + float(m[5]) / 60) * (1 if m[6] == "E" else -1)
    return lat, lon


def parse_unicode_dm(text: str) -> tuple[float, float]:
    """(lat, lon) of a ``60°05.123'N 003°02.456'W`` position (the GeoJSON's `position_dm`)."""
    found = {h: (int(d) + float(m) / 60) * (1 if h in "NE" else -1) for d, m, h in UNICODE_DM_RE.findall(text)}
    lat = next(v for h, v in found.items() if h in "NS")
    lon = next(v for h, v in found.items() if h in "EW")
    return lat, lon


def ascii_text(text: object) -> str:
    """Free text as printable ASCII: accents dropped (Bodø -> Bodo), other characters replaced by '?'."""
    folded = unicodedata.normalize("NFKD", str(text).replace("ø", "o").replace("Ø", "O").replace("æ", "ae"))
    out = "".join(c for c in folded if not unicodedata.combining(c))
    out = out.replace("°", " DEG ").replace("²", "2").replace("×", "x").replace("–", "-").replace("—", "-")
    out = " ".join(out.split()).replace(" ;", ";").replace(" ,", ",").replace(" )", ")")
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in out)


def wrap(text: str, indent: str = "", first: str | None = None, width: int = LINE_CHARS) -> list[str]:
    """ASCII lines of at most `width` characters (long words are broken)."""
    first = indent if first is None else first
    return textwrap.wrap(
        ascii_text(text),
        width,
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    ) or [first.rstrip()]
