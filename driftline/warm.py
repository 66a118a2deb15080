"""Forkserver preload: importing this module makes a process warm for drift jobs.

Import-time work is the point here: the forkserver imports it once, then every
job process forked from it starts with OpenDrift imported, the landmask built
(shared copy-on-write) and every first-use cost already paid, instead of paying
~5 s + ~6 s + ~0.5 s per job.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

WARM_JOB = {
    "mission_id": "00000000-0000-4000-8000-000000000000",
    "params": {"latitude": 60.0, "longitude": -3.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 2,
               "num_particles": 20, "random_seed": 1, "wind": {"speed_ms": 5, "from_deg": 270},
               "current": {"speed_ms": 0.2, "to_deg": 90}},
}  # fmt: skip


def _preload() -> None:
    import importlib

    import boto3

    from driftline.jobproc import PRELOAD_MODULES

    for name in PRELOAD_MODULES:
        importlib.import_module(name)
    from config import ConfigError, Settings
    from driftline.contract.parse import parse_job
    from driftline.forcing import ForcingContext
    from driftline.objects import LocalStore, make_s3_client
    from driftline.pipeline import MissionContext, run_mission
    from driftline.simulation import warm_up

    warm_up()
    # Loading botocore's S3 service model takes ~0.1 s; do it once here, not in every job. With the
    # daemon's settings the job's own client is made here too (cached; it opens no socket until used).
    boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    try:
        daemon = Settings.from_env()
        if daemon.s3_access_key:  # else botocore would look for credentials (possibly over the network) now
            make_s3_client(daemon)
    except ConfigError:
        pass  # the daemon refuses to start with bad settings anyway
    # One tiny mission through the real pipeline pays the lazy first-use costs (xarray's dask import,
    # OpenDrift's inspect/metadata look-ups, fonts, NetCDF writers) once, here, instead of in every job.
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="drift-warm-") as tmp:
        job = parse_job(json.dumps(WARM_JOB), settings)
        ctx = MissionContext(settings, LocalStore(Path(tmp)), ForcingContext(settings=settings))
        run_mission(job, ctx)
    # Children must not inherit threads (a lock held by one at fork time would deadlock them).
    assert threading.active_count() == 1, f"forkserver preload left threads: {threading.enumerate()}"


_preload()
