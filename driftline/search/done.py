"""What a fruitless search tells us: Bayes' update of the particle weights (Stone, Theory of Optimal Search).

Every particle inside a searched area at the search's mid time keeps (1 − POD) of its weight. The same
rule (positions at mid-search time, the polygon as given) defines a plan's POC, so flying a plan and
reporting it back as `searches_done` removes exactly the planned POD from exactly the planned particles.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import shape

from driftline.search.contract import SearchDone
from driftline.search.geo import positions_at
from driftline.search.theory import not_detected
from driftline.trajectory import Trajectories


def apply_searches_done(traj: Trajectories, searches: tuple[SearchDone, ...]) -> dict:
    """Set traj.weight after the searches (in time order); return their POC, POD, POS and the weight left."""
    weights = np.ones(traj.num_particles) if traj.weight is None else np.asarray(traj.weight, np.float64).copy()
    initial = float(weights.sum())
    rows = []
    for i in sorted(range(len(searches)), key=lambda k: (searches[k].mid_time, k)):
        done = searches[i]
        lon, lat, ok = positions_at(traj, done.mid_time)
        inside = shapely.contains_xy(shape(done.area), lon, lat) & ok
        before, inside_before = float(weights.sum()), float(weights[inside].sum())
        weights = not_detected(weights, inside, done.pod)
        poc = inside_before / before if before > 0 else 0.0
        rows.append(
            {
                "index": i,
                "pod": round(done.pod, 6),
                "poc": round(poc, 6),
                "pos": round(poc * done.pod, 6),
                "particles_inside": int(inside.sum()),
                "weight_inside_before": round(inside_before / initial, 6),
                "weight_inside_after": round(float(weights[inside].sum()) / initial, 6),
            }
        )
    traj.weight = weights
    left = float(weights.sum()) / initial if initial > 0 else 0.0
    return {"searches": rows, "cumulative_pos": round(1.0 - left, 6), "weight_left": round(left, 6)}


def write_weights(path, weights: np.ndarray) -> None:
    """Add the per-particle weight after the searches done to particles.nc (variable `weight(trajectory)`)."""
    import netCDF4

    with netCDF4.Dataset(path, "a") as nc:
        var = nc.createVariable("weight", "f8", ("trajectory",), zlib=True)
        var.long_name = "probability weight of the particle after the searches done (1 = not searched)"
        var.units = "1"
        var.comment = "each search multiplies the weight of the particles inside its area at mid-search time by 1 - POD"
        var[:] = weights
