"""The history of a lean step: OpenDrift's output buffer and previous-state stores written as numpy arrays."""

from __future__ import annotations

import numpy as np


class LeanBufferMixin:
    """OpenDrift's `state_to_buffer` with the history staged time-major in numpy, copied to its buffer when full.

    OpenDrift's buffer is (trajectory, time): writing one output time touches one value per cache line, ~23
    variables a step. Here each output step (and each deactivation between output steps, into the next output
    time as OpenDrift's backfill does) is written as contiguous rows of a (time, trajectory) array; when the
    buffer is full or the run ends the staged values are copied into OpenDrift's buffer and OpenDrift's own
    `state_to_buffer` runs (min/max attributes, final metadata, the file writer, the buffer reset).
    """

    _stage = None

    def state_to_buffer(self, final: bool = False):
        stage = self._stage
        if stage is None or stage.result is not self.result:
            stage = self._stage = _Stage.of(self.result)
        if stage is None:
            return super().state_to_buffer(final)
        t = stage.column.get(self.time)
        if final or (t is not None and t == stage.nt - 1):
            stage.flush()
            out = super().state_to_buffer(final)
            self._stage = None  # OpenDrift reset (or truncated) its buffer: staged again from that
            return out
        if t is None:
            deactivated = np.flatnonzero(self.elements.status != 0)
            if deactivated.size == 0:
                return None
            t = stage.column[_backfill(self.result, self.time)]
            rows, index = self.elements.ID[deactivated], deactivated
        else:
            rows, index = self.elements.ID, slice(0, len(self.elements.ID))  # OpenDrift: range(len(ID))
        for name, values in stage.sources(self.elements, self.environment):
            stage.data[name][t, rows] = values[index]
        return None


def _backfill(result, time):
    """The output time OpenDrift writes a deactivation between output steps into (its own lookup)."""
    import pandas as pd

    return pd.Timestamp(result.time.sel(time=time, method="backfill").values).to_pydatetime()


class _Stage:
    """Time-major copies of OpenDrift's (trajectory, time) float32 buffer variables."""

    def __init__(self, result) -> None:
        self.result = result
        times = result.indexes["time"]
        self.nt = len(times)
        self.column = {t.to_pydatetime(): i for i, t in enumerate(times)}
        n = result.sizes["trajectory"]
        self.data = {name: np.full((self.nt, n), np.nan, dtype=np.float32) for name in result.data_vars}
        self._names = list(result.data_vars)

    @classmethod
    def of(cls, result):
        variables = result.variables
        for name in result.data_vars:
            var = variables[name]
            if var.dims != ("trajectory", "time") or type(var.data) is not np.ndarray or var.dtype != np.float32:
                return None
        return cls(result)

    def sources(self, elements, environment):
        """(name, values) in OpenDrift's order: an environment variable wins over an element property."""
        for name in self._names:
            values = getattr(environment, name, None)
            if values is None:
                values = getattr(elements, name, None)
            if values is not None:
                yield name, values

    def flush(self) -> None:
        variables = self.result.variables
        for name, staged in self.data.items():
            variables[name].values[...] = staged.T


class LeanPreviousStateMixin:
    """OpenDrift's `update_previous_state` with the snapshots of the last step taken as numpy copies.

    OpenDrift keeps each stored property's last value in `_elements_previous` (read by its coastline and
    seafloor actions, unchanged here) and also builds `elements_previous` / `environment_previous`, an xarray
    `isel` of the active particles every step (~1.3 ms a step for 5000 particles). None of the worker's models
    reads the element snapshot, and OceanDrift reads the environment one only with vertical advection: here the
    values are copied and the same `isel` Dataset is built only when someone asks for it.
    """

    def update_previous_state(self):
        stores = [(self._environment_previous, "environment_previous", lambda v: self.environment[v])]
        stores.append((self._elements_previous, "elements_previous", lambda v: getattr(self.elements, v)))
        if any(ds is not None and not _numpy_backed(ds) for ds, _, _ in stores):
            return super().update_previous_state()
        new = None
        if self.newly_seeded_IDs is not None:  # for newly seeded elements, previous is set equal to present
            new = np.where(self.elements.age_seconds == self.time_step.total_seconds())[0]
        ids = self.elements.ID
        for ds, name, present in stores:
            if ds is None:
                continue
            if new is not None:  # OpenDrift indexes the store with positions among the active elements here
                for var in ds:
                    ds.variables[var].values[new] = present(var)[new]
            self.__dict__["_lean_" + name] = _Snapshot(ds, ids)
            for var in ds:
                ds.variables[var].values[ids] = present(var)
        return None

    @property
    def elements_previous(self):
        return _resolved(self, "_lean_elements_previous")

    @elements_previous.setter
    def elements_previous(self, value) -> None:
        self.__dict__["_lean_elements_previous"] = value

    @property
    def environment_previous(self):
        return _resolved(self, "_lean_environment_previous")

    @environment_previous.setter
    def environment_previous(self, value) -> None:
        self.__dict__["_lean_environment_previous"] = value


class _Snapshot:
    """`ds.isel(trajectory=ids)` as it is now, built on first use (the values are copied now)."""

    def __init__(self, ds, ids: np.ndarray) -> None:
        self.ds, self.ids = ds, np.array(ids)
        self.values = {var: ds.variables[var].values[self.ids] for var in ds}  # fancy indexing copies

    def build(self):
        out = self.ds.isel(trajectory=self.ids)
        for var, values in self.values.items():
            out.variables[var].values[...] = values
        return out


def _resolved(model, key: str):
    value = model.__dict__.get(key)
    if isinstance(value, _Snapshot):
        value = model.__dict__[key] = value.build()
    return value


def _numpy_backed(ds) -> bool:
    """Every data variable of `ds` is one-dimensional and held in a numpy array (writable in place)."""
    return all(type(v.data) is np.ndarray and v.ndim == 1 for v in ds.data_vars.values())
