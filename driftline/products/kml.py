"""search_area.kml: the GeoJSON features as styled KML for Google Earth and chart plotters."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from driftline.products.meta import ProductMeta

NS = "http://www.opengis.net/kml/2.2"
# KML colours are aabbggrr: 50 % red, 90 % orange, 95 % yellow outlines with a faint fill.
AREA_STYLES = {0.5: "0000ff", 0.9: "00a5ff", 0.95: "00ffff"}


def sub_element(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _coords(ring: list) -> str:
    return " ".join(f"{x},{y}" for x, y, *_ in ring)


def _styles(doc: ET.Element) -> None:
    for level, bgr in AREA_STYLES.items():
        style = sub_element(doc, "Style", id=f"area{round(level * 100)}")
        line = sub_element(style, "LineStyle")
        sub_element(line, "color", f"ff{bgr}")
        sub_element(line, "width", "2.5")
        sub_element(sub_element(style, "PolyStyle"), "color", f"33{bgr}")
    track = sub_element(sub_element(doc, "Style", id="track"), "LineStyle")
    sub_element(track, "color", "ffff0000")
    sub_element(track, "width", "2")
    icon = sub_element(sub_element(doc, "Style", id="lkp"), "IconStyle")
    sub_element(icon, "color", "ff0000ff")
    sub_element(sub_element(icon, "Icon"), "href", "http://maps.google.com/mapfiles/kml/shapes/cross-hairs.png")
    datum = sub_element(sub_element(doc, "Style", id="datum"), "IconStyle")
    sub_element(datum, "color", "ff00ff00")
    sub_element(sub_element(datum, "Icon"), "href", "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png")
    scenario = sub_element(doc, "Style", id="scenario")  # a dashed-looking violet outline, no fill: one per hypothesis
    sub_element(sub_element(scenario, "LineStyle"), "color", "ffd670da")
    sub_element(scenario.find("LineStyle"), "width", "2")
    sub_element(sub_element(scenario, "PolyStyle"), "fill", "0")
    shore = sub_element(doc, "Style", id="shore")
    sub_element(sub_element(shore, "LineStyle"), "color", "ff8c00dc")
    sub_element(shore.find("LineStyle"), "width", "4")
    sub_element(
        sub_element(sub_element(shore, "IconStyle"), "Icon"),
        "href",
        "http://maps.google.com/mapfiles/kml/shapes/triangle.png",
    )


def kml_geometry(parent: ET.Element, geom: dict) -> None:
    kind, coords = geom["type"], geom["coordinates"]
    if kind == "Point":
        sub_element(sub_element(parent, "Point"), "coordinates", f"{coords[0]},{coords[1]}")
    elif kind == "LineString":
        line = sub_element(parent, "LineString")
        sub_element(line, "tessellate", "1")
        sub_element(line, "coordinates", _coords(coords))
    elif kind == "Polygon":
        poly = sub_element(parent, "Polygon")
        sub_element(sub_element(sub_element(poly, "outerBoundaryIs"), "LinearRing"), "coordinates", _coords(coords[0]))
        for hole in coords[1:]:
            sub_element(sub_element(sub_element(poly, "innerBoundaryIs"), "LinearRing"), "coordinates", _coords(hole))
    elif kind in ("MultiPolygon", "MultiLineString"):
        multi = sub_element(parent, "MultiGeometry")
        for part in coords:
            kml_geometry(multi, {"type": kind.removeprefix("Multi"), "coordinates": part})


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
    ext = sub_element(mark, "ExtendedData")
    flat: dict[str, object] = {}
    for key, value in props.items():
        if isinstance(value, dict):
            flat.update({f"{key}_{k}": v for k, v in value.items()})
        elif not isinstance(value, list):
            flat[key] = value
    for key, value in flat.items():
        sub_element(sub_element(ext, "Data", name=key), "value", str(value))


def _time_spans(fc: dict) -> dict[str, tuple[str, str | None]]:
    """Each search-area time shown until the next one (chronologically); the last one stays on."""
    times = sorted({f["properties"]["time"] for f in fc["features"] if f["properties"]["kind"] == "search_area"})
    return {t: (t, times[i + 1] if i + 1 < len(times) else None) for i, t in enumerate(times)}


TIMED = ("search_area", "datum", "datum_part", "scenario_area", "scenario_centre")  # in the folder of their time
STYLE = {"search_area": "area", "centre_track": "track", "datum": "datum", "datum_part": "datum", "shoreline": "shore",
         "scenario_area": "scenario", "scenario_centre": "datum"}  # fmt: skip


def _placemark(parent: ET.Element, feat: dict) -> None:
    props = feat["properties"]
    mark = sub_element(parent, "Placemark")
    sub_element(mark, "name", props["name"])
    sub_element(mark, "description", _description(props))
    style = STYLE.get(props["kind"], "lkp")
    sub_element(mark, "styleUrl", f"#{style}{round(props['probability'] * 100) if style == 'area' else ''}")
    _extended_data(mark, props)
    kml_geometry(mark, feat["geometry"])


def write_kml(path: Path, fc: dict, meta: ProductMeta, shoreline: dict | None = None) -> Path:
    """One Placemark per feature; search areas and datums in a Folder per time with its TimeSpan; shoreline folder."""
    kml = ET.Element("kml", xmlns=NS)
    doc = sub_element(kml, "Document")
    what = "Origin probability (backward run)" if meta.direction == "backward" else "Search areas"
    sub_element(doc, "name", f"{what} - mission {meta.mission_id}")
    sub_element(
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
                folder = folders[props["time"]] = sub_element(doc, "Folder")
                sub_element(folder, "name", f"{what} {props['time']}")
                begin, end = spans[props["time"]]
                span = sub_element(folder, "TimeSpan")
                sub_element(span, "begin", begin)
                if end:
                    sub_element(span, "end", end)
            parent = folders[props["time"]]
        _placemark(parent, feat)
    if shoreline and shoreline["features"]:
        folder = sub_element(doc, "Folder")
        sub_element(folder, "name", f"Shoreline: stranding probability {shoreline['properties']['stranded_share']:.1%}")
        for feat in shoreline["features"]:
            _placemark(folder, feat)
    ET.ElementTree(kml).write(path, encoding="UTF-8", xml_declaration=True)
    return path
