"""search_area.kml: the GeoJSON features as styled KML for Google Earth and chart plotters."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from driftline.products import ProductMeta

NS = "http://www.opengis.net/kml/2.2"
# KML colours are aabbggrr: 50 % red, 90 % orange, 95 % yellow outlines with a faint fill.
AREA_STYLES = {0.5: "0000ff", 0.9: "00a5ff", 0.95: "00ffff"}


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _coords(ring: list) -> str:
    return " ".join(f"{x},{y}" for x, y, *_ in ring)


def _styles(doc: ET.Element) -> None:
    for level, bgr in AREA_STYLES.items():
        style = _sub(doc, "Style", id=f"area{round(level * 100)}")
        line = _sub(style, "LineStyle")
        _sub(line, "color", f"ff{bgr}")
        _sub(line, "width", "2.5")
        _sub(_sub(style, "PolyStyle"), "color", f"33{bgr}")
    track = _sub(_sub(doc, "Style", id="track"), "LineStyle")
    _sub(track, "color", "ffff0000")
    _sub(track, "width", "2")
    icon = _sub(_sub(doc, "Style", id="lkp"), "IconStyle")
    _sub(icon, "color", "ff0000ff")
    _sub(_sub(icon, "Icon"), "href", "http://maps.google.com/mapfiles/kml/shapes/cross-hairs.png")
    datum = _sub(_sub(doc, "Style", id="datum"), "IconStyle")
    _sub(datum, "color", "ff00ff00")
    _sub(_sub(datum, "Icon"), "href", "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png")
    scenario = _sub(doc, "Style", id="scenario")  # a dashed-looking violet outline, no fill: one per hypothesis
    _sub(_sub(scenario, "LineStyle"), "color", "ffd670da")
    _sub(scenario.find("LineStyle"), "width", "2")
    _sub(_sub(scenario, "PolyStyle"), "fill", "0")
    shore = _sub(doc, "Style", id="shore")
    _sub(_sub(shore, "LineStyle"), "color", "ff8c00dc")
    _sub(shore.find("LineStyle"), "width", "4")
    _sub(_sub(_sub(shore, "IconStyle"), "Icon"), "href", "http://maps.google.com/mapfiles/kml/shapes/triangle.png")


def _geometry(parent: ET.Element, geom: dict) -> None:
    kind, coords = geom["type"], geom["coordinates"]
    if kind == "Point":
        _sub(_sub(parent, "Point"), "coordinates", f"{coords[0]},{coords[1]}")
    elif kind == "LineString":
        line = _sub(parent, "LineString")
        _sub(line, "tessellate", "1")
        _sub(line, "coordinates", _coords(coords))
    elif kind == "Polygon":
        poly = _sub(parent, "Polygon")
        _sub(_sub(_sub(poly, "outerBoundaryIs"), "LinearRing"), "coordinates", _coords(coords[0]))
        for hole in coords[1:]:
            _sub(_sub(_sub(poly, "innerBoundaryIs"), "LinearRing"), "coordinates", _coords(hole))
    elif kind in ("MultiPolygon", "MultiLineString"):
        multi = _sub(parent, "MultiGeometry")
        for part in coords:
            _geometry(multi, {"type": kind.removeprefix("Multi"), "coordinates": part})


def _description(props: dict) -> str:
    kind = props["kind"]
    if kind == "search_area":
        return (
            f"Smallest sea region holding {round(props['probability'] * 100)} % of the floating probability "
            f"({props['probability_of_total']:.1%} of the total) at {props['time']}; "
            f"area {props['area_km2']:.2f} km2 ({props['area_nm2']:.2f} NM2)"
        )
    if kind == "centre_track":
        return f"Probability-weighted centre from {props['times'][0]} to {props['times'][-1]}"
    if kind in ("datum", "datum_part"):
        return f"{props['lat_dm']} {props['lon_dm']}, {props['share']:.1%} of the probability, at {props['time']}"
    if kind in ("scenario_area", "scenario_centre"):
        what = f"90 % area {props['area_km2']:.2f} km2 ({props['area_nm2']:.2f} NM2)" if "area_km2" in props else (
            f"centre {props['lat_dm']} {props['lon_dm']}"
        )  # fmt: skip
        return (
            f"Scenario {props['scenario']}: weight {props['weight']:.0%}, after the searches done "
            f"{props['posterior_weight']:.0%}; {what} at {props['time']}"
        )
    if kind == "shoreline":
        return (
            f"Stranding probability {props['probability']:.1%} ({props['particles']} particles) along "
            f"{props['length_km']:.1f} km; earliest arrival {props['earliest_arrival']}, "
            f"median {props['median_arrival']}"
        )
    return f"{props['name']} at {props['time']}, {props['lat_dm']} {props['lon_dm']}"


def _extended_data(mark: ET.Element, props: dict) -> None:
    """Every plain property as a KML Data element (nested positions flattened as datum_lat, centre_lon_dm...)."""
    ext = _sub(mark, "ExtendedData")
    flat: dict[str, object] = {}
    for key, value in props.items():
        if isinstance(value, dict):
            flat.update({f"{key}_{k}": v for k, v in value.items()})
        elif not isinstance(value, list):
            flat[key] = value
    for key, value in flat.items():
        _sub(_sub(ext, "Data", name=key), "value", str(value))


def _time_spans(fc: dict) -> dict[str, tuple[str, str | None]]:
    """Each search-area time shown until the next one (chronologically); the last one stays on."""
    times = sorted({f["properties"]["time"] for f in fc["features"] if f["properties"]["kind"] == "search_area"})
    return {t: (t, times[i + 1] if i + 1 < len(times) else None) for i, t in enumerate(times)}


TIMED = ("search_area", "datum", "datum_part", "scenario_area", "scenario_centre")  # in the folder of their time
STYLE = {"search_area": "area", "centre_track": "track", "datum": "datum", "datum_part": "datum", "shoreline": "shore",
         "scenario_area": "scenario", "scenario_centre": "datum"}  # fmt: skip


def _placemark(parent: ET.Element, feat: dict) -> None:
    props = feat["properties"]
    mark = _sub(parent, "Placemark")
    _sub(mark, "name", props["name"])
    _sub(mark, "description", _description(props))
    style = STYLE.get(props["kind"], "lkp")
    _sub(mark, "styleUrl", f"#{style}{round(props['probability'] * 100) if style == 'area' else ''}")
    _extended_data(mark, props)
    _geometry(mark, feat["geometry"])


def write_kml(path: Path, fc: dict, meta: ProductMeta, shoreline: dict | None = None) -> Path:
    """One Placemark per feature; search areas and datums in a Folder per time with its TimeSpan; shoreline folder."""
    kml = ET.Element("kml", xmlns=NS)
    doc = _sub(kml, "Document")
    what = "Origin probability (backward run)" if meta.direction == "backward" else "Search areas"
    _sub(doc, "name", f"{what} - mission {meta.mission_id}")
    _sub(
        doc,
        "description",
        f"{meta.object_description}. {meta.scenario_description}. Forcing: {meta.forcing_description}",
    )
    _styles(doc)
    spans = _time_spans(fc)
    folders: dict[str, ET.Element] = {}
    for feat in fc["features"]:
        props = feat["properties"]
        parent = doc
        if props["kind"] in TIMED and props["time"] in spans:
            if props["time"] not in folders:
                folder = folders[props["time"]] = _sub(doc, "Folder")
                _sub(folder, "name", f"{what} {props['time']}")
                begin, end = spans[props["time"]]
                span = _sub(folder, "TimeSpan")
                _sub(span, "begin", begin)
                if end:
                    _sub(span, "end", end)
            parent = folders[props["time"]]
        _placemark(parent, feat)
    if shoreline and shoreline["features"]:
        folder = _sub(doc, "Folder")
        _sub(folder, "name", f"Shoreline: stranding probability {shoreline['properties']['stranded_share']:.1%}")
        for feat in shoreline["features"]:
            _placemark(folder, feat)
    ET.ElementTree(kml).write(path, encoding="UTF-8", xml_declaration=True)
    return path
