"""Faster equivalents of OpenDrift's per-step bookkeeping, mixed into the mission's model class.

A small mission spends more time in OpenDrift's bookkeeping (xarray label writes, masked arrays, element
counts) than in its physics. Each override here makes the same writes or returns the same values by a
shorter path and falls back to OpenDrift's own code where a case is not covered; the output is identical
(tests/integration/test_simulation_buffer.py). The physics is untouched.
"""

from __future__ import annotations

import functools

import numpy as np


class FastBufferMixin:
    """OpenDrift's `state_to_buffer` with positional instead of label-based writes at ordinary output steps.

    OpenDrift writes each of ~23 variables per output step through xarray's `.loc`, about 50 ms per step
    whatever the particle count (half of a 100-particle run). The same values are written here by position;
    deactivation steps, the last buffer step and the final call still go through OpenDrift's own code.
    The output is identical (tests/integration/test_simulation_buffer.py); the physics is untouched.
    """

    def state_to_buffer(self, final: bool = False):
        import pandas as pd
        from xarray.core.variable import as_compatible_data

        times = self.result.indexes["time"]
        now = pd.Timestamp(self.time)
        if not final and now not in times and not (self.elements.status != 0).any():
            return None  # what OpenDrift does between output steps without deactivations, minus its slow lookup
        if final or now not in times or now == times[-1]:
            return super().state_to_buffer(final)
        t = times.get_loc(now)
        rows = self.result.indexes["trajectory"].get_indexer(self.elements.ID)
        n = len(rows)
        variables = self.result.variables  # not data_vars.items(): that builds a DataArray per variable
        for name in self.result.data_vars:
            var = variables[name]
            if var.dims != ("trajectory", "time"):
                return super().state_to_buffer(final)
            for source in (self.elements, self.environment):
                values = getattr(source, name, None)
                if values is not None:
                    var.values[rows, t] = as_compatible_data(values[:n])
        return None


class FastPreviousStateMixin:
    """OpenDrift's `update_previous_state` with the per-variable stores done on the numpy arrays.

    OpenDrift stores every element property and environment variable of the last step through xarray's
    `DataArray.__setitem__` (a DataArray built, indexed and written per variable per time step: ~1.3 ms a
    step whatever the particle count, a fifth of a 100-particle run). The same positional writes are made
    here straight into the arrays behind those DataArrays; the snapshots OpenDrift takes (`isel`) are
    unchanged, and so is the output (tests/integration/test_simulation_buffer.py).
    """

    def update_previous_state(self):
        if not store_previous_state(self, lambda ds, ids: ds.isel(trajectory=ids)):
            return super().update_previous_state()
        return None


def store_previous_state(model, snapshot) -> bool:
    """OpenDrift's previous-state stores written into the numpy arrays behind them; False (nothing done) when a
    store is not numpy-backed, so that OpenDrift's own code runs.

    `snapshot(ds, ids)` gives what `elements_previous` / `environment_previous` are set to before the store is
    overwritten (OpenDrift: `ds.isel(trajectory=ids)`).
    """
    stores = [(model._environment_previous, "environment_previous", lambda v: model.environment[v])]
    stores.append((model._elements_previous, "elements_previous", lambda v: getattr(model.elements, v)))
    if any(ds is not None and not _numpy_backed(ds) for ds, _, _ in stores):
        return False
    new = None
    if model.newly_seeded_IDs is not None:  # for newly seeded elements, previous is set equal to present
        new = np.where(model.elements.age_seconds == model.time_step.total_seconds())[0]
    ids = model.elements.ID
    for ds, name, present in stores:
        if ds is None:
            continue
        if new is not None:  # OpenDrift indexes the store with positions among the active elements here
            for var in ds:
                ds.variables[var].values[new] = present(var)[new]
        setattr(model, name, snapshot(ds, ids))
        for var in ds:
            ds.variables[var].values[ids] = present(var)
    return True


def _numpy_backed(ds) -> bool:
    """Every data variable of `ds` is one-dimensional and held in a numpy array (writable in place)."""
    variables = ds.variables  # by name: iterating data_vars.values() builds a DataArray per variable
    return all(type(variables[k].data) is np.ndarray and variables[k].ndim == 1 for k in ds.data_vars)


@functools.cache
def fast_length_elements(element_type: type) -> type:
    """`element_type` with a cheaper `len()`: the same value as OpenDrift's `LagrangianArray.__len__`.

    OpenDrift takes the length of every element property through `np.atleast_1d` (~70 µs for a Leeway
    object) and asks for it ~13 times a time step, about a tenth of a 100-particle run.
    """

    def __len__(self) -> int:
        length = 0
        for var in self.variables:
            value = getattr(self, var)
            shape = getattr(value, "shape", None)
            n = len(np.atleast_1d(value)) if shape is None else (shape[0] if shape else 1)
            if n > length:
                length = n
        return length

    attrs = {"__len__": __len__, "__module__": element_type.__module__, "__qualname__": element_type.__qualname__}
    return type(element_type.__name__, (element_type,), attrs)


SPEEDUPS = (FastPreviousStateMixin, FastBufferMixin)  # mixed in before the OpenDrift model class
