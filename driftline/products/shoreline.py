"""Shoreline: the coast segments where the object may have come ashore, ranked by stranding probability."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from driftline.geodesy import position
from driftline.products.areas import iso
from driftline.products.grid import M_PER_DEG, unwrap_lon
from driftline.products.hdr import weighted_quantile
from driftline.trajectory import STRANDED, Trajectories

LINK_M = 1000.0  # stranding points closer than this are on the same stretch of coast
MAX_SEGMENT_KM = 5.0  # longer stretches are cut into segments a shore party can cover
MAX_VERTICES = 20
GEOD = Geod(ellps="WGS84")


@dataclass
class Segment:
    """One stretch of coast with its stranded particles."""

    rank: int
    probability: float  # share of the total probability stranded here
    particles: int
    earliest: str
    median: str
    length_km: float
    centre: tuple[float, float]  # (lat, lon)
    geometry: shapely.Geometry  # LineString along the stranding points (Point for one spot), unwrapped lon

    def properties(self) -> dict:
        return {
            "kind": "shoreline",
            "name": f"Shoreline segment {self.rank}",
            "rank": self.rank,
            "probability": round(self.probability, 6),
            "particles": self.particles,
            "earliest_arrival": self.earliest,
            "median_arrival": self.median,
            "length_km": round(self.length_km, 3),
            "centre": position(*self.centre),
        }


def stranding_index(traj: Trajectories) -> np.ndarray:
    """(N,) first output index at which each particle is stranded, -1 if never (one time slice at a time)."""
    first = np.full(traj.num_particles, -1, np.int64)
    for t in range(traj.num_times):
        new = (first < 0) & (traj.state[:, t] == STRANDED)
        first[new] = t
    return first


def shoreline_segments(traj: Trajectories) -> list[Segment]:
    """Segments of the particles stranded at the final time, most probable first; probabilities sum to that share."""
    sel = traj.state[:, -1] == STRANDED
    if not sel.any():
        return []
    first = stranding_index(traj)[sel]
    lon, lat, w = traj.lon[sel, -1], traj.lat[sel, -1], traj.shares()[sel]
    lon = unwrap_lon(lon, float(lon[0]))
    lat_c = float(lat.mean())
    xy = np.column_stack([(lon - lon[0]) * M_PER_DEG * math.cos(math.radians(lat_c)), (lat - lat_c) * M_PER_DEG])
    segments = []
    for members in _stretches(xy):
        for idx in _cut(xy, members):
            segments.append(_segment(traj.times, idx, xy, lon, lat, w, first))
    segments.sort(key=lambda s: -s.probability)
    for rank, s in enumerate(segments, 1):
        s.rank = rank
    return segments


PAIR_BUDGET = 250_000  # linked pairs listed at once (~10 MB with the graph); beyond, stretches are found by cell


def _stretches(xy: np.ndarray, link_m: float = LINK_M) -> list[np.ndarray]:
    """Groups of points linked by steps of at most link_m (single-linkage clusters).

    Listing every linked pair costs memory with the square of the points per km of coast (20000 stranding
    points within a few km: 5.5 million pairs, ~250 MB with the graph): past PAIR_BUDGET the same clusters are
    found from cells of side link_m / sqrt(2), whose points are all linked to each other.
    """
    tree = cKDTree(xy)
    n = len(xy)
    if (tree.count_neighbors(tree, link_m) - n) // 2 <= PAIR_BUDGET:
        pairs = tree.query_pairs(link_m, output_type="ndarray")
        labels = _components(n, pairs[:, 0], pairs[:, 1])
    else:
        labels = _cell_components(xy, link_m)
    return [np.flatnonzero(labels == k) for k in np.unique(labels)]


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _cell_components(xy: np.ndarray, link_m: float) -> np.ndarray:
    """Single-linkage labels through cells: two points in one cell are at most link_m apart (its diagonal), and
    two cells are linked when their nearest points are; a link spans at most two cells in x and in y."""
    side = link_m / math.sqrt(2)
    ij = np.floor((xy - xy.min(axis=0)) / side).astype(np.int64)
    cells, point_cell = np.unique(ij, axis=0, return_inverse=True)
    point_cell = point_cell.ravel()
    index = {tuple(c): k for k, c in enumerate(cells.tolist())}
    members = np.split(np.argsort(point_cell, kind="stable"), np.cumsum(np.bincount(point_cell))[:-1])
    trees: dict[int, cKDTree] = {}
    a, b = [], []
    forward = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3) if (dx, dy) > (0, 0)]
    for k, (ci, cj) in enumerate(cells.tolist()):
        for dx, dy in forward:
            other = index.get((ci + dx, cj + dy))
            if other is None:
                continue
            if other not in trees:
                trees[other] = cKDTree(xy[members[other]])
            d, _ = trees[other].query(xy[members[k]], k=1, distance_upper_bound=link_m * (1 + 1e-9))
            if (d <= link_m).any():
                a.append(k)
                b.append(other)
    return _components(len(cells), np.array(a, np.int64), np.array(b, np.int64))[point_cell]


def _axis(xy: np.ndarray) -> np.ndarray:
    """Coordinate of each point along the principal axis of the points (metres)."""
    centred = xy - xy.mean(axis=0)
    if len(xy) < 2 or not centred.any():
        return np.zeros(len(xy))
    return centred @ np.linalg.svd(centred, full_matrices=False)[2][0]


def _cut(xy: np.ndarray, members: np.ndarray) -> list[np.ndarray]:
    """A stretch cut into equal pieces of at most MAX_SEGMENT_KM along its principal axis."""
    s = _axis(xy[members])
    span = float(s.max() - s.min()) if s.size else 0.0
    pieces = max(1, math.ceil(span / (MAX_SEGMENT_KM * 1000)))
    if pieces == 1:
        return [members]
    which = np.minimum(((s - s.min()) / span * pieces).astype(int), pieces - 1)
    return [members[which == k] for k in range(pieces) if (which == k).any()]


def polyline_km(pts: np.ndarray) -> float:
    """Geodesic length (WGS84) of the segment's line along the coast, through its vertices in order; 0 for a spot.

    The straight span along the principal axis under-reports a curving coast (a bay, a headland)."""
    if len(pts) < 2:
        return 0.0
    return float(GEOD.line_length(pts[:, 0], pts[:, 1])) / 1000


def _segment(times, idx, xy, lon, lat, w, first) -> Segment:
    s = _axis(xy[idx])
    order = idx[np.argsort(s, kind="stable")]
    groups = np.array_split(order, min(MAX_VERTICES, len(order)))
    pts = np.array([[lon[g].mean(), lat[g].mean()] for g in groups])
    if len(order) > 1:  # the line runs from the first stranding point along the coast to the last
        pts = np.vstack([[lon[order[0]], lat[order[0]]], pts[1:-1], [lon[order[-1]], lat[order[-1]]]])
    geom = shapely.remove_repeated_points(shapely.LineString(pts)) if len(pts) > 1 else shapely.Point(pts[0])
    if isinstance(geom, shapely.LineString) and len(geom.coords) < 2:
        geom = shapely.Point(pts[0])
    ww = w[idx] if w[idx].sum() > 0 else np.ones(idx.size)
    arrive = times[first[idx]].astype("datetime64[s]").astype(np.int64).astype(float)
    median = np.datetime64(int(round(float(weighted_quantile(arrive, ww, [0.5])[0]))), "s")
    centre = (float(np.average(lat[idx], weights=ww)), float(np.average(lon[idx], weights=ww)))
    length = polyline_km(pts)
    return Segment(
        0, float(w[idx].sum()), int(idx.size), iso(times[first[idx]].min()), iso(median), length, centre, geom
    )
