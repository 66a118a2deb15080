"""In-memory particle trajectories: what the simulation hands to the products.

Pure data (numpy only), so products and their tests need neither OpenDrift nor services.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Per-particle, per-output-step state codes.
NOT_RELEASED = -1  # not seeded yet (release window, cone, backward) at this output time
ACTIVE = 0  # floating, moving with wind and current
STRANDED = 1  # on the coast; position held at the stranding point
OUT_OF_DOMAIN = 2  # deactivated for any other reason (left the forcing, missing data)


@dataclass
class Trajectories:
    """Positions of N particles at T output times.

    `lon`/`lat` hold a position wherever `state` is ACTIVE or STRANDED (stranded
    particles are carried forward at the point where they stranded) and NaN
    elsewhere.
    """

    times: np.ndarray  # (T,) datetime64[s], increasing for forward runs, decreasing for backward runs
    lon: np.ndarray  # (N, T) float64 degrees east (float32 from a streamed run: OpenDrift's own precision)
    lat: np.ndarray  # (N, T) float64 degrees north (ditto)
    state: np.ndarray  # (N, T) int8, one of the codes above
    member: np.ndarray  # (N,) int16 ensemble member index (0 when there is no ensemble)
    object_number: np.ndarray  # (N,) int16 Leeway object type number (1-based)
    member_names: list[str] = field(default_factory=lambda: ["main"])
    masked: bool = False  # lon/lat are known to be NaN wherever the state is not ACTIVE or STRANDED
    weight: np.ndarray | None = None  # (N,) per-particle probability weight; None = all 1
    scenario: np.ndarray | None = None  # (N,) int16 index into params.scenarios; None without scenarios

    @property
    def num_particles(self) -> int:
        return self.lon.shape[0]

    @property
    def num_times(self) -> int:
        return self.times.shape[0]

    def shares(self) -> np.ndarray:
        """(N,) float64 probability carried by each particle: its weight / total initial weight (sums to 1)."""
        n = self.num_particles
        if self.weight is None or n == 0:
            return np.full(n, 1.0 / max(n, 1))
        w = np.asarray(self.weight, np.float64)
        total = w.sum()
        return w / total if total > 0 else np.full(n, 1.0 / n)

    def present(self, t: int) -> np.ndarray:
        """Mask of particles counted in the probability at output index t (floating or stranded)."""
        s = self.state[:, t]
        return (s == ACTIVE) | (s == STRANDED)

    def counts(self, t: int = -1) -> dict[str, int]:
        s = self.state[:, t]
        return {
            "active": int((s == ACTIVE).sum()),
            "stranded": int((s == STRANDED).sum()),
            "out_of_domain": int((s == OUT_OF_DOMAIN).sum()),
            "not_released": int((s == NOT_RELEASED).sum()),
        }
