"""Headless Chromium (Debian's chromium + chromium-driver) driven by Selenium, with the DevTools protocol
logging every request and console message: what a browser makes of a report page."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--disable-default-apps",
         "--window-size=1280,1800")  # fmt: skip
A4 = {"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": True, "preferCSSPageSize": True}


@dataclass
class Rendered:
    url: str
    requests: list[str] = field(default_factory=list)  # every URL the page asked for (document included)
    console: list[dict] = field(default_factory=list)
    screenshot: bytes = b""
    pdf: bytes = b""
    phone_overflow_px: int = 0
    facts: dict = field(default_factory=dict)

    @property
    def network_requests(self) -> list[str]:
        """Requests other than the page itself and its data: URIs (which never leave the browser)."""
        return [u for u in self.requests if u != self.url and not u.startswith("data:")]

    @property
    def console_errors(self) -> list[dict]:
        return [m for m in self.console if m.get("level") == "SEVERE"]


@contextmanager
def chromium():
    """A Selenium Chrome session on a fresh profile; no download: both binaries are Debian's."""
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver_path:
        raise RuntimeError("chromium and chromium-driver are missing: ./dev.sh test installs them (apt)")
    with tempfile.TemporaryDirectory(prefix="driftline-chromium-") as profile:
        opts = webdriver.ChromeOptions()
        opts.binary_location = binary
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        driver = webdriver.Chrome(service=Service(driver_path), options=opts)
        try:
            driver.set_page_load_timeout(60)
            driver.get("about:blank")  # leave the new-tab page before any page is measured
            _drain(driver)
            yield driver
        finally:
            driver.quit()


FACTS_JS = """
const img = document.querySelector('figure img');
function rgb(s) { const m = s.match(/[\\d.]+/g).map(Number); return m.length > 3 && m[3] === 0 ? null : m.slice(0, 3); }
function lum(c) { const v = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; }
function bg(el) { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
  if (c) return c; } return [255, 255, 255]; }
let worst = 99;
for (const el of document.querySelectorAll('h1, h2, h3, p, li, th, td, dt, dd, figcaption, caption, pre')) {
  const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
  worst = Math.min(worst, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)); }
return {img_loaded: !!img && img.complete && img.naturalWidth, img_alt: img ? img.alt : null,
  sap: (document.querySelector('pre.sap') || {}).textContent || '', text: document.body.innerText,
  headings: document.querySelectorAll('h1, h2').length, min_contrast: worst};
"""


def _drain(driver, quiet_s: float = 0.5, limit_s: float = 10.0) -> None:
    """Read the performance log until it has been empty for quiet_s (the start page's loads are over)."""
    start = last = time.monotonic()
    while time.monotonic() - last < quiet_s and time.monotonic() - start < limit_s:
        if driver.get_log("performance"):
            last = time.monotonic()
        time.sleep(0.1)


def render(driver, page: Path) -> Rendered:
    """Load a page, then gather its requests, console, facts, a screenshot, an A4 PDF and the phone overflow."""
    url = page.resolve().as_uri()
    _drain(driver)
    driver.get(url)
    out = Rendered(url)
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            out.requests.append(msg["params"]["request"]["url"])
        elif msg["method"] == "Network.webSocketCreated":
            out.requests.append(msg["params"]["url"])
    out.console = driver.get_log("browser")
    out.facts = driver.execute_script(FACTS_JS)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
    out.screenshot = base64.b64decode(shot["data"])
    out.pdf = base64.b64decode(driver.execute_cdp_cmd("Page.printToPDF", A4)["data"])
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})  # fmt: skip
    out.phone_overflow_px = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return out
