"""The speed-ups (output buffering, previous-state stores, element counts) give exactly OpenDrift's own output."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest


@pytest.mark.parametrize("backward,model", [(False, "leeway"), (True, "leeway"), (False, "oceandrift")])
def test_fast_buffer_output_equals_opendrifts_own(backward, model):
    from opendrift.models.leeway import Leeway
    from opendrift.models.oceandrift import OceanDrift

    from driftline.speedups import SPEEDUPS, fast_length_elements

    base = {"leeway": Leeway, "oceandrift": OceanDrift}[model]

    class Fast(*SPEEDUPS, base):
        ElementType = fast_length_elements(base.ElementType)

    def run(cls):
        o = cls(loglevel=50, seed=3)
        # Towards the Norwegian coast: some particles strand mid-run (deactivation between output steps).
        for var, value in {
            "x_wind": 12.0,
            "y_wind": 0.0,
            "x_sea_water_velocity": 0.4,
            "y_sea_water_velocity": 0.1,
        }.items():
            o.set_config(f"environment:fallback:{var}", value)
        o.seed_elements(
            lon=4.6,
            lat=60.3,
            radius=3000,
            number=300,
            time=[datetime(2024, 1, 1), datetime(2024, 1, 1, 3)],
            **({"object_type": [1, 26][backward]} if model == "leeway" else {"wind_drift_factor": 0.03}),
        )
        sign = -1 if backward else 1
        o.run(duration=timedelta(hours=12), time_step=sign * 600, time_step_output=sign * 1800)
        return o

    ours, theirs = run(Fast), run(base)
    assert ours._elements_previous is not None  # the previous-state stores were exercised
    assert set(ours.result.data_vars) == set(theirs.result.data_vars)
    assert ours.result.sizes == theirs.result.sizes
    if not backward:
        assert "stranded" in theirs.status_categories  # the case with deactivations was exercised
    for name in theirs.result.data_vars:
        np.testing.assert_array_equal(ours.result[name].values, theirs.result[name].values, err_msg=name)
        assert str(ours.result[name].attrs) == str(theirs.result[name].attrs), name


def test_fast_element_length_equals_opendrifts_own():
    from opendrift.models.leeway import LeewayObj
    from opendrift.models.oceandrift import Lagrangian3DArray
    from opendrift.models.shipdrift import ShipObject

    from driftline.speedups import fast_length_elements

    for base in (LeewayObj, Lagrangian3DArray, ShipObject):
        fast = fast_length_elements(base)
        assert fast.__name__ == base.__name__ and issubclass(fast, base)
        for kwargs in ({}, {"lon": 3.0, "lat": 60.0}, {"lon": np.arange(7.0), "lat": np.full(7, 60.0)},
                       {"lon": np.zeros(0), "lat": np.zeros(0)}, {"lon": [1.0, 2.0], "lat": [60.0, 61.0]}):  # fmt: skip
            ours, theirs = fast(**kwargs), base(**kwargs)
            assert len(ours) == len(theirs), (base.__name__, kwargs)
