"""Forkserver preload: importing this module makes a process warm for drift jobs.

Import-time work is the point here: the forkserver imports it once, then every
job process forked from it starts with OpenDrift imported and the landmask
built (shared copy-on-write), instead of paying ~5 s + ~6 s per job.
"""

from __future__ import annotations


def _preload() -> None:
    import boto3

    import driftline.jobproc  # noqa: F401 - job code and its imports (pipeline, storage, store, queue)
    import driftline.products  # noqa: F401
    from driftline.simulation import warm_up

    warm_up()
    # Loading botocore's S3 service model takes ~0.1 s; do it once here, not in every job.
    boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


_preload()
