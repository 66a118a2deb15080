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
    elif kind == "MultiPolygon":
        multi = _sub(parent, "MultiGeometry")
        for part in coords:
            _geometry(multi, {"type": "Polygon", "coordinates": part})


def _description(props: dict) -> str:
    if props["kind"] == "search_area":
        return (
            f"Smallest region holding {round(props['probability'] * 100)} % of the probability at {props['time']}; "
            f"area {props['area_km2']:.2f} km2"
        )
    if props["kind"] == "centre_track":
        return f"Density-weighted centre from {props['times'][0]} to {props['times'][-1]}"
    return f"{props['name']} at {props['time']}"


def write_kml(path: Path, fc: dict, meta: ProductMeta) -> Path:
    """One Placemark per feature, search areas grouped in a Folder per time."""
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
    folders: dict[str, ET.Element] = {}
    for feat in fc["features"]:
        props = feat["properties"]
        parent = doc
        if props["kind"] == "search_area":
            if props["time"] not in folders:
                folders[props["time"]] = _sub(doc, "Folder")
                _sub(folders[props["time"]], "name", f"{what} {props['time']}")
            parent = folders[props["time"]]
        mark = _sub(parent, "Placemark")
        _sub(mark, "name", props["name"])
        _sub(mark, "description", _description(props))
        style = {"search_area": f"area{round(props.get('probability', 0) * 100)}", "centre_track": "track"}
        _sub(mark, "styleUrl", f"#{style.get(props['kind'], 'lkp')}")
        _geometry(mark, feat["geometry"])
    ET.ElementTree(kml).write(path, encoding="UTF-8", xml_declaration=True)
    return path
