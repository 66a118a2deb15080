"""What a fruitless search tells us: Bayes' update of the particle weights (Stone, Theory of Optimal Search).

Two forms. A track flown (GeoJSON LineString or GPX, with times, and the sweep width): every particle keeps
(1 − POD) of its weight, POD counted along the track against the particle where it was when passed (track.py),
exactly as a plan's POD; so flying a plan and reporting its waypoints back removes exactly the planned
detection. A polygon + POD (the frozen-time approximation): every particle inside the polygon at the search's
mid time keeps (1 − POD); a warning says when the object drifted far during the search against the area's size.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import shape

from driftline.search.contract import SearchDone
from driftline.search.geo import LocalPlane, positions_at
from driftline.search.theory import not_detected
from driftline.search.track import Kinematics, Track, near_track, pod_along
from driftline.trajectory import Trajectories

DRIFT_WARNING_SHARE = 0.25  # warn when the drift during a polygon search exceeds a quarter of the area's size


def apply_searches_done(traj: Trajectories, searches: tuple[SearchDone, ...], warnings: list | None = None) -> dict:
    """Set traj.weight after the searches (in time order); return their POC, POD, POS and the weight left."""
    weights = np.ones(traj.num_particles) if traj.weight is None else np.asarray(traj.weight, np.float64).copy()
    initial = float(weights.sum())
    rows = []
    kin_cache: dict = {}
    for i in sorted(range(len(searches)), key=lambda k: (searches[k].mid_time, k)):
        done = searches[i]
        if done.track is not None:
            pod = _track_pod(traj, done, kin_cache)
            inside = pod > 0.01
        else:
            inside = _inside_polygon(traj, done)
            pod = np.where(inside, done.pod, 0.0)
            _warn_drift(traj, done, i, inside, weights, warnings)
        before, inside_before = float(weights.sum()), float(weights[inside].sum())
        found = float(weights @ pod)
        weights = weights * (1.0 - pod) if done.track is not None else not_detected(weights, inside, done.pod)
        poc = inside_before / before if before > 0 else 0.0
        rows.append(
            {
                "index": i,
                "form": "track" if done.track is not None else "area",
                "pod": found / inside_before if inside_before > 0 else 0.0,
                "poc": poc,
                "pos": found / before if before > 0 else 0.0,
                "particles_inside": int(inside.sum()),
                "weight_inside_before": inside_before / initial,
                "weight_inside_after": float(weights[inside].sum()) / initial,
            }
        )
    traj.weight = weights
    left = float(weights.sum()) / initial if initial > 0 else 0.0
    return {"searches": rows, "cumulative_pos": 1.0 - left, "weight_left": left}


def _inside_polygon(traj: Trajectories, done: SearchDone) -> np.ndarray:
    lon, lat, ok = positions_at(traj, done.mid_time)
    return shapely.contains_xy(shape(done.area), lon, lat) & ok


def _track_pod(traj: Trajectories, done: SearchDone, cache: dict) -> np.ndarray:
    """(N,) POD along the flown track, on a plane centred on the track's first point."""
    lon0, lat0, _ = done.track[0]
    plane = LocalPlane.at(lon0, lat0)
    key = (lon0, lat0)
    if key not in cache:
        cache[key] = Kinematics.of(traj, plane)
    kin = cache[key]
    pts = np.array(done.track, float)
    x, y = plane.to_xy(pts[:, 0], pts[:, 1])
    t0 = float((np.datetime64(done.start_time.replace(tzinfo=None), "s") - traj.times[0]) / np.timedelta64(1, "s"))
    w = done.sweep_width_nm
    smear = max(w, done.track_spacing_nm or w) / 2
    track = Track(np.column_stack([x, y]), t0 + pts[:, 2], w, done.detection, smear)
    margin = 25 * w if done.detection == "inverse_cube" else 5 * smear
    return pod_along(track, kin, near_track(track, kin, margin))


def _warn_drift(traj, done: SearchDone, i: int, inside, weights, warnings: list | None) -> None:
    """The frozen-time form is fair only while the object moves little during the search against the area."""
    if warnings is None or not inside.any():
        return
    plane = LocalPlane.at(*shape(done.area).centroid.coords[0])
    la, pa, oka = positions_at(traj, done.start_time)
    lb, pb, okb = positions_at(traj, done.end_time)
    ok = inside & oka & okb
    if not ok.any():
        return
    xa, ya = plane.to_xy(la[ok], pa[ok])
    xb, yb = plane.to_xy(lb[ok], pb[ok])
    w = weights[ok]
    drift = math.hypot(w @ (xb - xa), w @ (yb - ya)) / max(w.sum(), 1e-300)
    ring = np.asarray(shape(done.area).exterior.coords)
    rx, ry = plane.to_xy(ring[:, 0], ring[:, 1])
    size = math.sqrt(shapely.Polygon(np.column_stack([rx, ry])).area)
    if drift > DRIFT_WARNING_SHARE * size:
        warnings.append(
            f"searches_done[{i}]: the object drifted {drift:.1f} nm during the search, large against the area "
            f"({size:.1f} nm across); the area + POD form counts particles where they were at mid-search, "
            "give the track flown (track or gpx) for detection where the object was when passed"
        )


def write_weights(path, weights: np.ndarray) -> None:
    """Add the per-particle weight after the searches done to particles.nc (variable `weight(trajectory)`)."""
    import netCDF4

    with netCDF4.Dataset(path, "a") as nc:
        var = nc.createVariable("weight", "f8", ("trajectory",), zlib=True)
        var.long_name = "probability weight of the particle after the searches done (1 = not searched)"
        var.units = "1"
        var.comment = (
            "each search multiplies the weight of each particle by 1 - POD: along the track flown, or inside "
            "its area at mid-search time"
        )
        var[:] = weights
