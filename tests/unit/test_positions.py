"""The one degrees-and-decimal-minutes format: IAMSAR style in products and plan alike."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from driftline.geodesy import dm, position
from driftline.positions import deg_min, lat_dm, lon_dm, position_dm
from driftline.search.geo import position_dm as plan_position_dm

FORMAT = re.compile(r"(\d{2})°(\d{2}\.\d{3})'([NS]) (\d{3})°(\d{2}\.\d{3})'([EW])")


def parse(text: str) -> tuple[float, float]:
    d1, m1, h1, d2, m2, h2 = FORMAT.fullmatch(text).groups()
    lat = (int(d1) + float(m1) / 60) * (1 if h1 == "N" else -1)
    lon = (int(d2) + float(m2) / 60) * (1 if h2 == "E" else -1)
    return lat, lon


def test_iamsar_examples_and_products_and_plan_agree():
    assert position_dm(60.08538, -3.0409333) == "60°05.123'N 003°02.456'W"
    assert lon_dm(4.2) == "004°12.000'E" == dm(4.2, "E", "W")  # products used to write 4°12.000'E
    assert lat_dm(59.9999999) == "60°00.000'N" and deg_min(-0.5, "N", "S", 2) == "00°30.000'S"
    p = position(60.08538, -3.0409333)
    assert f"{p['lat_dm']} {p['lon_dm']}" == plan_position_dm(-3.0409333, 60.08538) == "60°05.123'N 003°02.456'W"


@given(st.floats(-90, 90), st.floats(-180, 180))
def test_every_position_reads_back_within_half_a_thousandth_of_a_minute(lat, lon):
    text = position_dm(lat, lon)
    back_lat, back_lon = parse(text)
    assert abs(back_lat - lat) <= 0.0005 / 60 + 1e-12 and abs(back_lon - lon) <= 0.0005 / 60 + 1e-12
    assert float(FORMAT.fullmatch(text).group(2)) < 60 and float(FORMAT.fullmatch(text).group(5)) < 60
