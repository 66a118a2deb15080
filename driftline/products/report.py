"""report.html: the mission on one self-contained page for the coordinator's briefing.

No network request of any kind: the map is an inline PNG (data: URI), the styles are inline, no script,
no web font, no link. Plain semantic HTML (headings, tables with th, alt text, dark-on-light colours with
a contrast above 7:1); a print stylesheet fits it on one or two A4 pages (the SAP in two columns).
"""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape
from pathlib import Path

from driftline.products.marine import ddm, dtg
from driftline.products.mission_view import AreaTime, MissionView, UnitTask

CSS = """
:root { color: #161616; background: #fff; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
body { margin: 0 auto; max-width: 62rem; padding: 0.75rem; }
h1 { font-size: 1.4rem; margin: 0.2rem 0; } h2 { font-size: 1.1rem; margin: 1rem 0 0.4rem;
  border-bottom: 2px solid #1f3a5f; color: #1f3a5f; } h3 { font-size: 1rem; margin: 0.6rem 0 0.2rem; }
p.meta { color: #3a3a3a; margin: 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 0.8rem; margin: 0; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
figure { margin: 0; } figure img { width: 100%; height: auto; border: 1px solid #555; }
figcaption { font-size: 0.85rem; color: #333; }
.warn { border-left: 5px solid #8a4b00; background: #fff6e5; padding: 0.3rem 0.6rem; }
.warn li { margin: 0.15rem 0; }
.units { display: grid; grid-template-columns: repeat(auto-fit, minmax(17rem, 1fr)); gap: 0.6rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
caption { text-align: left; font-weight: 700; padding: 0.2rem 0; }
th, td { border: 1px solid #8a8a8a; padding: 0.15rem 0.35rem; text-align: left; vertical-align: top; }
th { background: #e8edf3; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre.sap { font: 12px/1.3 ui-monospace, "DejaVu Sans Mono", monospace; background: #f4f4f4; border: 1px solid #999;
  padding: 0.4rem; overflow-x: auto; white-space: pre; }
@media (max-width: 40rem) { :root { font-size: 14px; } pre.sap { font-size: 10.5px; } }
@media print {
  @page { size: A4; margin: 9mm; }
  :root { font-size: 8pt; line-height: 1.25; } body { max-width: none; padding: 0; }
  h1 { font-size: 12pt; } h2 { font-size: 9.5pt; margin: 2.5mm 0 1mm; } h3 { font-size: 8.5pt; }
  figure img { max-height: 100mm; width: auto; max-width: 100%; display: block; margin: 0 auto; }
  .units { grid-template-columns: repeat(3, 1fr); gap: 2mm; } table { font-size: 7pt; }
  section, table, .warn { break-inside: avoid; }
  section.sap { break-inside: auto; }
  pre.sap { font-size: 6.4pt; line-height: 1.18; column-count: 2; column-gap: 4mm; white-space: pre;
    overflow: visible; background: none; border: none; padding: 0; }
}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def _t(t: datetime | None) -> str:
    return "–" if t is None else f"{t:%Y-%m-%d %H:%M} UTC ({dtg(t)})"


def _facts(view: MissionView, area: AreaTime | None) -> str:
    s = view.survival
    survival = "not applicable (no person in the water)"
    if s.get("applies") and s.get("expected_survival_hours"):
        bound = "at least " if s.get("lower_bound") else ""
        survival = (
            f"{bound}{s['expected_survival_hours']:.1f} h in {s['water_temperature_c']:g} °C water, until "
            f"{s['expected_survival_until']} ({s.get('water_temperature_source', '')}; "
            f"{s.get('source', 'Hayward et al. 1975')}, hypothermia only; a planning estimate)"
        )
    elif s.get("applies"):
        survival = f"not estimated: {s.get('reason', 'no water temperature')}"
    rows = [
        ("Found position" if view.backward else "Last known position", f"{ddm(*view.lkp)} at {_t(view.start)}"),
        ("Object", "; ".join(view.objects)),
        ("Persons on board", view.persons if view.persons is not None else "not given"),
        ("Forecast", f"{_t(view.start)} to {_t(view.end)}"),
        ("Survival estimate", survival),
    ]
    if area is not None and area.datum:
        rows.append((f"Datum at {area.time:%H:%M} UTC", ddm(*area.datum)))
    if view.plan_pos is not None:
        rows.append(("Plan POS (cumulative)", _pct(view.plan_pos)))
    body = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f'<section aria-labelledby="facts"><h2 id="facts">Situation</h2><dl class="facts">{body}</dl></section>'


def _map(png: bytes | None, view: MissionView, area: AreaTime | None) -> str:
    if png is None:
        return '<section aria-labelledby="map"><h2 id="map">Map</h2><p>No map (see the warnings).</p></section>'
    when = f"{area.time:%Y-%m-%d %H:%M} UTC" if area else "the end of the forecast"
    units = ", ".join(f"{u.label} {u.name} (area {u.area_name})" for u in view.units) or "no units planned"
    alt = (
        f"Map of the {'origin' if view.backward else 'search'} areas at {when}: coast, floating probability "
        f"shading, 50, 90 and 95 % areas, datums, {units}, shoreline segments, scale bar and north arrow."
    )
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (
        f'<section aria-labelledby="map"><h2 id="map">Map</h2><figure><img src="{src}" alt="{_e(alt)}" '
        f'width="960" height="720"><figcaption>Areas and shading at {_e(when)}; each unit\'s rectangle and '
        "pattern are placed on the drift at its own mid-search time"
        + ("; the areas already searched are grey" if view.searches_done else "")
        + ". Land from the GSHHG shoreline (OpenDrift's landmask).</figcaption></figure></section>"
    )


def _warnings(view: MissionView) -> str:
    if not view.warnings:
        return '<section aria-labelledby="warnings"><h2 id="warnings">Warnings</h2><p>None.</p></section>'
    items = "".join(f"<li>{_e(w)}</li>" for w in view.warnings)
    return f'<section aria-labelledby="warnings"><h2 id="warnings">Warnings ({len(view.warnings)})</h2>' + (
        f'<ul class="warn">{items}</ul></section>'
    )


def _unit_table(u: UnitTask) -> str:
    pat = u.pattern
    rows = [
        ("Area", f"{u.area_name}, {u.area_nm2:.1f} NM²" if u.area_nm2 is not None else u.area_name),
        ("Type", u.kind or "not given"),
        ("Pattern", pat.name if pat else "–"),
        ("Commence search point", ddm(*pat.csp) if pat and pat.csp else "–"),
        ("Creep", f"{pat.creep_deg:03.0f}° T" if pat and pat.creep_deg is not None else "–"),
        ("Track spacing", f"{pat.track_spacing_nm:.2f} NM" if pat and pat.track_spacing_nm else "–"),
        ("Coverage", f"{u.coverage:.2f}" if u.coverage is not None else "–"),
        ("Speed", f"{u.speed_kn:g} kn" if u.speed_kn is not None else "–"),
        ("Altitude", f"{u.altitude_ft:.0f} ft" if u.altitude_ft else ("–" if u.is_aircraft else "n/a")),
        ("On scene", f"{_t(u.commence)} to {u.end:%H:%M} UTC" if u.commence and u.end else "–"),
        ("POC / POD / POS", f"{_pct(u.poc)} / {_pct(u.pod)} / {_pct(u.pos)}"),
    ]
    if u.beyond_survival:
        rows.append(("Note", "ends after the expected survival time"))
    body = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in rows)
    return f"<table><caption>{_e(u.label)} {_e(u.name)}</caption><tbody>{body}</tbody></table>"


def _units(view: MissionView) -> str:
    if not view.units:
        return (
            '<section aria-labelledby="units"><h2 id="units">Search units</h2><p>No search was planned for this '
            "mission (no <code>search</code> in the job): the search areas below are the probability areas.</p>"
            "</section>"
        )
    tables = "".join(_unit_table(u) for u in view.units)
    return (
        f'<section aria-labelledby="units"><h2 id="units">Search units</h2><div class="units">{tables}</div></section>'
    )


def _area_table(view: MissionView) -> str:
    head = "<tr><th scope='col'>Time (UTC)</th><th scope='col'>Datum</th><th scope='col'>Floating</th>" + "".join(
        f"<th scope='col'>{lv} % area NM²</th>" for lv in ("50", "90", "95")
    )
    rows = ""
    for a in view.areas:
        cells = "".join(f"<td class='num'>{a.area_nm2.get(lv, 0):.1f}</td>" for lv in ("50", "90", "95"))
        datum = ddm(*a.datum) if a.datum else "nothing floating"
        rows += f"<tr><td>{_e(dtg(a.time))}</td><td>{_e(datum)}</td><td class='num'>{a.floating:.1%}</td>{cells}</tr>"
    return (
        '<section aria-labelledby="areas"><h2 id="areas">Probability areas by time</h2><div class="scroll"><table>'
        f"<thead>{head}</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _since(view: MissionView) -> str:
    done = view.searches_done
    if not done:
        return ""
    rows = ""
    for r in done.get("searches", []):
        params = view.searches_done_params[r["index"]] if r["index"] < len(view.searches_done_params) else {}
        when = f"{params.get('start_time', '?')} to {params.get('end_time', '?')}"
        rows += (
            f"<tr><td>{r['index'] + 1}</td><td>{_e(when)}</td><td class='num'>{_pct(r.get('pod'))}</td>"
            f"<td class='num'>{_pct(r.get('poc'))}</td><td class='num'>{_pct(r.get('pos'))}</td></tr>"
        )
    return (
        '<section aria-labelledby="since"><h2 id="since">What changed since the previous run</h2>'
        f"<p>{len(done.get('searches', []))} search(es) done without finding the object. Probability left "
        f"unsearched: <strong>{_pct(done.get('weight_left'))}</strong> (cumulative POS of the searches done "
        f"{_pct(done.get('cumulative_pos'))}); the areas and the plan above use the weights after them.</p>"
        "<div class='scroll'><table><thead><tr><th scope='col'>Search</th><th scope='col'>Time</th>"
        "<th scope='col'>POD</th>"
        f"<th scope='col'>POC</th><th scope='col'>POS</th></tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _shoreline(view: MissionView) -> str:
    segs = view.shoreline[:5]
    if not segs:
        return ""
    rows = "".join(
        f"<tr><td>S{s.get('rank')}</td><td class='num'>{_pct(s.get('probability'))}</td>"
        f"<td>{_e(ddm(s['centre']['lat'], s['centre']['lon']) if s.get('centre') else '–')}</td>"
        f"<td>{_e(s.get('earliest_arrival', '–'))}</td><td class='num'>{s.get('length_km', 0):.1f}</td></tr>"
        for s in segs
    )
    return (
        '<section aria-labelledby="shore"><h2 id="shore">Shoreline (most probable segments)</h2>'
        '<div class="scroll"><table><thead><tr>'
        "<th scope='col'>Segment</th><th scope='col'>Probability</th><th scope='col'>Centre</th>"
        f"<th scope='col'>Earliest arrival</th><th scope='col'>Length km</th></tr></thead><tbody>{rows}</tbody>"
        "</table></div></section>"
    )


def _provenance(view: MissionView) -> str:
    forcing = "".join(f"<li>{_e(f)}</li>" for f in view.forcing) or "<li>none</li>"
    software = ", ".join(f"{k} {v}" for k, v in view.software.items())
    return (
        '<section aria-labelledby="prov"><h2 id="prov">Forcing and model</h2>'
        f"<p>Model: OpenDrift {_e(view.model)}; random seed {_e(view.seed)}; {_e(software)}.</p>"
        f"<ul>{forcing}</ul></section>"
    )


def report_html(view: MissionView, sap: str, png: bytes | None, area: AreaTime | None, issued: datetime) -> str:
    """The page as one string."""
    title = f"{view.title} - mission {view.mission_id}"
    parts = [  # print: page 1 situation, map, warnings, units; page 2 the SAP and the tables
        _facts(view, area), _map(png, view, area), _warnings(view), _units(view),
        f'<section class="sap" aria-labelledby="sap"><h2 id="sap">Search Action Message</h2>'
        f'<pre class="sap">{_e(sap)}</pre></section>',
        _since(view), _area_table(view), _shoreline(view), _provenance(view),
    ]  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><header><h1>{_e(view.title)}</h1>"
        f'<p class="meta">Mission {_e(view.mission_id)} · issued {_e(_t(issued))}</p></header>'
        f"<main>{''.join(parts)}</main></body></html>\n"
    )


def write_report(path: Path, view: MissionView, sap: str, png: bytes | None, area: AreaTime | None, issued) -> Path:
    path.write_text(report_html(view, sap, png, area, issued), encoding="utf-8")
    return path
