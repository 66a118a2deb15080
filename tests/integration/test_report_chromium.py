"""report.html in a real headless Chromium: no network request, no console error, the map, the SAP and every unit
shown, a screenshot, and an A4 PDF of one or two pages (pypdf and pdfinfo agree); readable on a phone."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from driftline.products.tasking import build_tasking
from tests.integration.chromium import chromium, render
from tests.unit.products.tasking_missions import build_mission, fake_land, two_units

ISSUED = datetime(2024, 2, 29, 22, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module", params=["two units", "no plan"])
def mission(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param.replace(" ", "-"))
    summary = two_units(out) if request.param == "two units" else build_mission(out)
    build_tasking(summary, out, land_fn=fake_land, issued=ISSUED)
    return out, summary


def test_report_renders_offline_with_map_sap_units_and_prints_on_two_pages(browser, mission, tmp_path):
    out, summary = mission
    page = render(browser, out / "report.html")
    assert page.requests[0] == page.url  # the log saw the page load itself
    assert page.network_requests == [], page.network_requests  # chrome:// included: nothing came in late
    assert page.console_errors == [], page.console_errors
    facts = page.facts
    assert facts["img_loaded"] == 960 and "north arrow" in facts["img_alt"]
    assert facts["sap"] == (out / "sap.txt").read_text()
    for unit in (summary.get("search_plan") or {}).get("units", []):
        assert unit["unit"] in facts["text"]
    assert facts["headings"] >= 8 and facts["min_contrast"] >= 7.0
    shot = Image.open(io.BytesIO(page.screenshot)).convert("RGB")
    assert shot.size[0] >= 1000 and np.asarray(shot).std() > 20  # a drawn page, not a blank one
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(page.pdf)
    pages = len(PdfReader(pdf).pages)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert 1 <= pages <= 2 and int(re.search(r"Pages:\s+(\d+)", info)[1]) == pages
    assert page.phone_overflow_px <= 0  # nothing wider than a 390 px phone (tables and the SAP scroll inside)
    print(f"{out.name}: {pages} PDF page(s), {len(page.network_requests)} network requests, "
          f"{len(page.requests)} requests logged (page + data: URIs), "
          f"min contrast {facts['min_contrast']:.1f}")  # fmt: skip


def test_the_request_and_console_log_does_catch_a_network_request(browser, tmp_path):
    """The counter is not blind: a page with one external image shows one network request and a console error."""
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><html lang="en"><title>t</title><img src="http://127.0.0.1:9/x.png" alt="x">')
    rendered = render(browser, page)
    assert rendered.network_requests == ["http://127.0.0.1:9/x.png"]
    assert rendered.console_errors
