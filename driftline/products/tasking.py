"""The tasking products, built from the finished mission's summary and files: sap.txt, report.html,
search_plan.gpx, waypoints.csv, probability.tif (the pipeline calls `build_tasking` once summary.json is known).

None of them may fail the mission: an error becomes a warning in the summary (and the report, if it is
still written, shows it); the traceback goes to the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from driftline.products.geotiff import write_probability_tif
from driftline.products.gpxroute import write_gpx, write_waypoints_csv
from driftline.products.mapview import LandFn, opendrift_land
from driftline.products.mission_view import MissionView, mission_view
from driftline.products.report import write_report
from driftline.products.reportmap import render_report_map
from driftline.products.sap import sap_text

log = logging.getLogger(__name__)

FILES = ("sap.txt", "search_plan.gpx", "waypoints.csv", "probability.tif", "report.html")


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def load_view(summary: dict, out_dir: Path) -> tuple[MissionView, dict | None, dict | None, dict | None]:
    """The mission view and the GeoJSON products it was built from (plan, areas, shoreline; None if absent)."""
    plan, areas, shore = (_load(out_dir / n) for n in ("search_plan.geojson", "search_area.geojson",
                                                       "shoreline.geojson"))  # fmt: skip
    return mission_view(summary, plan, areas, shore), plan, areas, shore


def build_tasking(
    summary: dict, out_dir: Path, on_file: Callable[[str, Path], None] | None = None, *,
    land_fn: LandFn | None = None, issued: datetime | None = None,
) -> dict[str, Path]:  # fmt: skip
    """Write the five files into out_dir (next to the other products); failures are appended to summary warnings."""
    out_dir, issued = Path(out_dir), issued or datetime.now(UTC)
    files: dict[str, Path] = {}
    view, plan, areas, shore = load_view(summary, out_dir)

    def attempt(name: str, make: Callable[[], object]):
        try:
            result = make()
        except Exception as exc:  # noqa: BLE001 - a tasking product must not fail the mission
            log.exception("%s failed for mission %s", name, view.mission_id)
            summary.setdefault("warnings", []).append(f"{name} failed: {' '.join(str(exc).split())[:200]}")
            view.warnings = [str(w) for w in summary["warnings"]]
            return None
        if isinstance(result, Path):
            files[name] = result
            if on_file is not None:
                on_file(name, result)
        return result

    sap = attempt("sap.txt", lambda: sap_text(view, issued))
    if sap is not None:
        attempt("sap.txt", lambda: _write(out_dir / "sap.txt", sap))
    attempt("search_plan.gpx", lambda: write_gpx(out_dir / "search_plan.gpx", view))
    attempt("waypoints.csv", lambda: write_waypoints_csv(out_dir / "waypoints.csv", view))
    times = [a.time for a in view.areas]
    attempt("probability.tif", lambda: write_probability_tif(out_dir / "probability.tif", out_dir / "density.nc",
                                                             times, view.mission_id))  # fmt: skip
    drawn = attempt("report map", lambda: render_report_map(view, out_dir / "density.nc", areas, plan, shore,
                                                            land_fn or opendrift_land))  # fmt: skip
    png, shown = drawn if drawn else (None, view.area_near(None))
    attempt("report.html", lambda: write_report(out_dir / "report.html", view, sap or "(no SAP: see the warnings)",
                                                png, shown, issued))  # fmt: skip
    return files


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="ascii")
    return path
