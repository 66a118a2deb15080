"""Day-time groups, degrees and decimal minutes, ASCII folding and 69-column wrapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from driftline.products.marine import DTG_RE, ascii_text, ddm, dtg, parse_ddm, parse_dtg, wrap

times = st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59), timezones=st.just(UTC))


def test_dtg_is_the_iamsar_day_time_group():
    assert dtg(datetime(2024, 1, 2, 18, 30, 59, tzinfo=UTC)) == "021830Z JAN 24"
    assert dtg(datetime(2024, 12, 31, 23, 5, tzinfo=UTC)) == "312305Z DEC 24"


def test_dtg_converts_to_utc():
    oslo = datetime(2024, 7, 1, 2, 0, tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Oslo"))
    assert dtg(oslo) == "010200Z JUL 24"


@given(times)
def test_dtg_round_trips_to_the_minute(t):
    text = dtg(t)
    assert DTG_RE.match(text) and len(text) == 14 and text.isascii()
    assert parse_dtg(text) == t.replace(second=0, microsecond=0)


def test_ddm_examples():
    assert ddm(60.0, 4.2) == "60 00.000N 004 12.000E"
    assert ddm(-33.5, -70.25) == "33 30.000S 070 15.000W"
    assert ddm(59.99999999, 190.0) == "60 00.000N 170 00.000W"  # longitude normalised, minutes carried


@given(st.floats(-89.99, 89.99), st.floats(-540, 540))
def test_ddm_round_trips_within_a_thousandth_of_a_minute(lat, lon):
    text = ddm(lat, lon)
    assert text.isascii() and len(text) == 22
    back_lat, back_lon = parse_ddm(text)
    assert abs(back_lat - lat) <= 0.0005 / 60 + 1e-12
    assert abs(((back_lon - lon) + 180) % 360 - 180) <= 0.0005 / 60 + 1e-9


@given(st.text(max_size=400), st.integers(0, 20))
def test_wrapped_free_text_is_ascii_and_at_most_69_columns(text, indent):
    lines = wrap(text, " " * indent, " " * indent)
    assert all(len(line) <= 69 and line.isascii() for line in lines)


def test_ascii_folding_keeps_readable_names():
    assert ascii_text("Bodø  Hovedredningssentral\n–  60 °C") == "Bodo Hovedredningssentral - 60 DEG C"


@given(times, st.integers(1, 10_000))
def test_later_dtg_sorts_later_within_a_month(t, minutes):
    later = t + timedelta(minutes=minutes)
    if (later.year, later.month) == (t.year, t.month):
        assert dtg(later) >= dtg(t)
