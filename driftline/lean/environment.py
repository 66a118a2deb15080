"""The environment of a lean step: OpenDrift's `get_environment` without its masked-array bookkeeping.

Constant forcing (every variable an `environment:fallback:*` value, the land mask from OpenDrift's global
landmask reader): the fallback values and one landmask query, nothing else. Gridded forcing: OpenDrift's own
readers (`get_variables_interpolated`: their blocks, interpolation and rotation) in OpenDrift's reader-group
order, the results kept in plain numpy arrays with the same fallback and missing-data rules. The forcing
uncertainty options (`drift:current_uncertainty`, `drift:current_uncertainty_uniform`, `drift:wind_uncertainty`)
are applied as OpenDrift applies them (same draws, same order). Anything else (profiles, lazy readers, readers
keyed by element ID, tabularised Stokes drift, sea water temperature) goes through OpenDrift's own code.
"""

from __future__ import annotations

import numpy as np

LANDMASK_READER = "global_landmask"
_UNCERTAINTY = (  # (config key, variables, draw): the order in which OpenDrift's get_environment draws them
    ("drift:current_uncertainty", ("x_sea_water_velocity", "y_sea_water_velocity"), "normal"),
    ("drift:current_uncertainty_uniform", ("x_sea_water_velocity", "y_sea_water_velocity"), "uniform"),
    ("drift:wind_uncertainty", ("x_wind", "y_wind"), "normal"),
)


class LeanEnvironmentMixin:
    """The environment of each step without OpenDrift's masked-array bookkeeping (same values, same draws)."""

    def prepare_run(self):
        super().prepare_run()
        lookup = lean_environment(self)
        if lookup is not None:
            self.env.get_environment = lookup  # an instance attribute: this model's environment only
        return None

    def report_missing_variables(self, missing):
        if not np.any(missing):  # OpenDrift tests `any(missing)`: a Python loop over every particle
            return None
        return super().report_missing_variables(missing)


def lean_environment(model):
    """A `get_environment` replacement for this run, or None where OpenDrift's own code must run."""
    env = model.env
    variables = list(model.required_variables)
    readers = list(env.readers.values())
    if env._lazy_readers() or model.required_profiles or "sea_water_temperature" in variables:
        return None
    if "drift:use_tabularised_stokes_drift" in env._config and env.get_config("drift:use_tabularised_stokes_drift"):
        return None
    if any(getattr(r, "_element_ID", None) is not None or getattr(r, "is_lazy", False) for r in readers):
        return None
    uncertainty = [(key, names, draw) for key, names, draw in _UNCERTAINTY if set(names) <= set(variables)]
    if all(getattr(r, "name", None) == LANDMASK_READER for r in readers):
        return constant_environment(env, variables, uncertainty)
    return ReaderEnvironment(env, variables, uncertainty)


def constant_environment(env, variables: list[str], uncertainty):
    """Every variable a fallback value or the global landmask's; None when one has neither (OpenDrift reports it)."""
    fallbacks, land = {}, None
    for var in variables:
        served = env.priority_list.get(var, [])
        if served:
            if var != "land_binary_mask" or len(served) != 1:
                return None
            land = env.readers[served[0]]
        else:
            value = env.get_config(f"environment:fallback:{var}")
            if value is None:
                return None
            fallbacks[var] = value
    return _ConstantEnvironment(env, variables, fallbacks, land, uncertainty)


def _on_land(reader, lon, lat) -> np.ndarray:
    """OpenDrift's global landmask reader's answer (its modulate_longitude, then the mask)."""
    lon64 = np.mod(np.asarray(lon, dtype=np.float64) + 180, 360) - 180
    return reader.mask.contains_many(lon64, np.asarray(lat, dtype=np.float64))


def _add_uncertainty(env, uncertainty, data: dict, masked: dict, n: int) -> None:
    """OpenDrift's forcing perturbations, in its order; like its masked `+=`, nothing is added where masked."""
    for key, names, draw in uncertainty:
        std = env.get_config(key)
        if std > 0:
            for var in names:
                noise = np.random.normal(0, std, n) if draw == "normal" else np.random.uniform(-std, std, n)
                data[var] += noise if masked is None else np.where(masked[var], np.float32(0), noise)


def _record(variables: list[str], data: dict, masked: dict | None, n: int):
    """(recarray, None, missing) as OpenDrift returns them: missing where any variable is masked or not finite."""
    out = np.empty(n, dtype=[(var, np.float32) for var in variables])
    missing = np.zeros(n, dtype=bool)
    for var in variables:
        out[var] = data[var]
        missing |= ~np.isfinite(data[var])
        if masked is not None:
            missing |= masked[var]
    return out.view(np.recarray), None, missing


class _ConstantEnvironment:
    """OpenDrift's Environment.get_environment for fallback values and the landmask."""

    def __init__(self, env, variables, fallbacks, land, uncertainty) -> None:
        self.env, self.variables, self.fallbacks, self.land = env, variables, fallbacks, land
        self.uncertainty = uncertainty

    def __call__(self, variables, time, lon, lat, z, profiles=None, profiles_depth=None, element_ID=None):
        if list(variables) != self.variables or profiles:
            return type(self.env).get_environment(self.env, variables, time, lon, lat, z, profiles, profiles_depth,
                                                  element_ID)  # fmt: skip
        n = len(lon)
        data = {var: np.full(n, np.float32(np.float64(value))) for var, value in self.fallbacks.items()}
        if self.land is not None:
            data["land_binary_mask"] = _on_land(self.land, lon, lat).astype(np.float32)
        _add_uncertainty(self.env, self.uncertainty, data, None, n)
        return _record(self.variables, data, None, n)


class ReaderEnvironment:
    """OpenDrift's Environment.get_environment with readers: the same reader calls in the same order, the
    results in numpy arrays with a mask each instead of one structured masked array."""

    def __init__(self, env, variables, uncertainty) -> None:
        self.env, self.variables, self.uncertainty = env, variables, uncertainty

    def __call__(self, variables, time, lon, lat, z, profiles=None, profiles_depth=None, element_ID=None):
        env = self.env
        if list(variables) != self.variables or profiles or env._lazy_readers():
            return type(env).get_environment(env, variables, time, lon, lat, z, profiles, profiles_depth, element_ID)
        for reader in list(env.readers.values()):
            env.discard_reader_if_not_relevant(reader, time)
        z, profiles_depth = _truncated(env, z, np.abs(z).max() if profiles_depth is None else profiles_depth)
        n = len(lon)
        data = {var: np.full(n, np.nan, dtype=np.float32) for var in variables}
        masked = {var: np.zeros(n, dtype=bool) for var in variables}
        fallbacks = {var: env.get_config(f"environment:fallback:{var}") for var in variables}
        for var, value in fallbacks.items():
            if value is not None:
                data[var][:] = np.float32(np.float64(value))
        groups, reader_groups, _ = env.get_reader_groups(variables)
        for group, names in zip(groups, reader_groups, strict=True):
            todo = np.arange(n)
            for name in names:
                done = self._read(env.readers[name], group, time, lon, lat, z, profiles_depth, todo, data, masked)
                if done is None:
                    continue
                todo = todo[done]
                if len(todo) == 0:
                    break
        for var, value in fallbacks.items():
            if value is not None:
                data[var][masked[var]] = value
                masked[var][:] = False
        _add_uncertainty(env, self.uncertainty, data, masked, n)
        return _record(variables, data, masked, n)

    def _read(self, reader, group, time, lon, lat, z, profiles_depth, todo, data, masked):
        """One reader's values for `todo` (written into data/masked); the mask of those still missing, or None."""
        from opendrift.errors import NotCoveredError

        if not reader.covers_time(time):
            return None
        if getattr(reader, "name", None) == LANDMASK_READER and list(group) == ["land_binary_mask"]:
            values = {"land_binary_mask": _on_land(reader, lon[todo], lat[todo])}
        else:
            try:
                values, _ = reader.get_variables_interpolated(
                    group, profiles=None, profiles_depth=profiles_depth, time=time, lon=lon[todo], lat=lat[todo],
                    z=z[todo], rotate_to_proj=self.env.proj_latlon,
                )  # fmt: skip
            except NotCoveredError:
                return None
            except Exception:  # noqa: BLE001 - OpenDrift's own rule: count the failure, discard past the limit
                _count_failure(self.env, reader)
                return None
        still = np.zeros(len(todo), dtype=bool)
        for var in group:
            invalid = invalid_mask(values[var])
            if var in data and var in self.env.required_variables:
                data[var][todo] = np.ma.getdata(values[var])[: len(todo)].astype(np.float32)
                masked[var][todo] = invalid[: len(todo)]
            still |= invalid
        return still


def invalid_mask(values) -> np.ndarray:
    """`np.ma.getmaskarray(np.ma.masked_invalid(values))` without building the masked array: masked or not finite."""
    return ~np.isfinite(np.ma.getdata(values)) | np.ma.getmaskarray(values)


def _truncated(env, z, profiles_depth):
    """OpenDrift's drift:truncate_ocean_model_below_m applied to the depths asked of the readers."""
    if "drift:truncate_ocean_model_below_m" in env._config:
        depth = env.get_config("drift:truncate_ocean_model_below_m")
        if depth is not None:
            z = z.copy()
            z[z < -depth] = -depth
            profiles_depth = np.minimum(profiles_depth, depth)
    return z, profiles_depth


def _count_failure(env, reader) -> None:
    import logging

    logging.getLogger("opendrift.models.basemodel.environment").exception("reader %s failed", reader.name)
    reader.number_of_fails = reader.number_of_fails + 1
    max_fails = env.get_config("readers:max_number_of_fails")
    if reader.number_of_fails > max_fails:
        env.discard_reader(reader, reason=f"failed more than {max_fails} times")
