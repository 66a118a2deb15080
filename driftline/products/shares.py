"""Where the probability is at each output time: floating, stranded, out of the domain, not yet released (sums to 1)."""

from __future__ import annotations

import numpy as np

from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories

SHARE_STATES = {"floating": ACTIVE, "stranded": STRANDED, "out_of_domain": OUT_OF_DOMAIN, "not_released": NOT_RELEASED}
OUT_OF_DOMAIN_WARNING = 0.05  # above this share left the forcing domain, the forecast there is blind


def time_shares(traj: Trajectories) -> dict[str, np.ndarray]:
    """(T,) share of the total initial weight in each state, one weighted bincount per output time."""
    w = traj.shares()
    codes = np.array(list(SHARE_STATES.values()))
    lowest = int(codes.min())
    out = {name: np.zeros(traj.num_times) for name in SHARE_STATES}
    for t in range(traj.num_times):
        by_code = np.bincount(traj.state[:, t].astype(np.int64) - lowest, w, minlength=int(codes.max()) - lowest + 1)
        for name, code in SHARE_STATES.items():
            out[name][t] = by_code[code - lowest]
    return out


def shares_at(shares: dict[str, np.ndarray], t: int) -> dict[str, float]:
    return {name: round(float(v[t]), 6) for name, v in shares.items()}


def domain_warnings(
    shares: dict[str, np.ndarray], times: np.ndarray, outside_forcing: np.ndarray | None = None
) -> list[str]:
    """Warnings when more than OUT_OF_DOMAIN_WARNING of the probability left the model or the forcing domain."""
    out = []
    for what, series in (
        ("left the model domain", shares["out_of_domain"]),
        ("drifted outside the forcing files (fallback forcing there)", outside_forcing),
    ):
        if series is None:
            continue
        over = np.flatnonzero(series > OUT_OF_DOMAIN_WARNING + 1e-9)
        if over.size:
            first = np.datetime_as_string(times[over[0]], unit="s")
            out.append(
                f"{series.max():.1%} of the probability {what}, more than {OUT_OF_DOMAIN_WARNING:.0%} from "
                f"{first}Z: the forecast is blind there"
            )
    return out
