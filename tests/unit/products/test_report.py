"""report.html as text: self-contained (no URL but data:), semantic and accessible, with the SAP, every unit,
every warning, the survival estimate, provenance and, with searches done, what changed."""

from __future__ import annotations

import base64
import io
import json
import re
from html import unescape
from html.parser import HTMLParser

from PIL import Image

from driftline.products.tasking import build_tasking
from tests.unit.products.conftest import ISSUED
from tests.unit.products.tasking_missions import build_mission, fake_land


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parsed(out) -> tuple[str, Tags]:
    html = (out / "report.html").read_text()
    tags = Tags()
    tags.feed(html)
    return html, tags


def test_nothing_refers_outside_the_page(planned, unplanned):
    for out, _ in (planned, unplanned):
        html, tags = parsed(out)
        urls = [v for _, attrs in tags.tags for k, v in attrs.items() if k in ("src", "href", "srcset", "action")]
        assert urls and all(u.startswith("data:image/png;base64,") for u in urls)
        assert not {t for t, _ in tags.tags} & {"script", "link", "iframe", "object", "embed", "base"}
        assert not re.search(r"url\(|@import|https?://", html.split("<body>")[0] + re.sub(r'src="[^"]+"', "", html))


def test_map_is_an_inline_png_with_alt_text(planned):
    out, summary = planned
    _, tags = parsed(out)
    (img,) = [a for t, a in tags.tags if t == "img"]
    png = Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1])))
    assert png.size == (960, 720) and len(img["alt"]) > 80 and "UNIT-01" in img["alt"]


def test_semantics_headings_tables_and_language(planned):
    html, tags = parsed(planned[0])
    names = [t for t, _ in tags.tags]
    assert ("html", {"lang": "en"}) in tags.tags and names.count("h1") == 1 and names.count("h2") >= 7
    assert names.count("th") >= 20 and names.count("caption") == 2  # one table per unit
    assert '<meta name="viewport"' in html and "@media print" in html and "size: A4" in html


def test_sap_units_warnings_survival_and_provenance(planned):
    out, summary = planned
    html, tags = parsed(out)
    text = unescape("".join(tags.text))
    assert (out / "sap.txt").read_text() in text  # the SAP verbatim
    for unit in summary["search_plan"]["units"]:
        assert f"{unit['unit']}" in text
    for warning in summary["warnings"]:
        assert warning in text
    assert "2.6 h in 8 °C water" in text and "Hayward" in text
    assert "OpenDrift Leeway" in text and "on-scene 10 m/s from 270°" in text


def test_searches_done_show_what_changed(tmp_path, planned):
    fc = json.loads((planned[0] / "search_plan.geojson").read_text())
    rect = next(f for f in fc["features"] if f["properties"]["kind"] == "search_rectangle")
    done = [{"area": rect["geometry"], "start_time": rect["properties"]["commence_time"],
             "end_time": rect["properties"]["end_time"], "pod": 0.6}]  # fmt: skip
    summary = build_mission(tmp_path, extra={"searches_done": done})
    build_tasking(summary, tmp_path, land_fn=fake_land, issued=ISSUED)
    text = unescape("".join(parsed(tmp_path)[1].text))
    left = summary["searches_done"]["weight_left"]
    assert "What changed since the previous run" in text and f"{left:.1%}" in text
    assert 0.5 < left < 1


def test_without_a_plan_the_page_says_so(unplanned):
    text = unescape("".join(parsed(unplanned[0])[1].text))
    assert "No search was planned" in text and "Search Action Message" in text
