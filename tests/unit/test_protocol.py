"""driftline/protocol.py: status updates and job reports give exactly the JSON the worker wrote before them.

The literal JSON strings below are what the previous worker.py/jobproc.py put into the Redis status outbox
(`json.dumps(update, default=str)`) and sent through the report pipe; entries queued before a deploy must
still read and apply.
"""

from __future__ import annotations

import importlib
import json
import pkgutil

import pytest

import driftline
from driftline.errors import (
    DiskFull,
    DriftError,
    ForcingError,
    InvalidJob,
    JobCrashed,
    JobTimeout,
    RetryableError,
    StorageUnavailable,
)
from driftline.protocol import (
    Completed,
    Failed,
    InternalError,
    JobReport,
    Processing,
    Progress,
    Refund,
    Requeued,
    StatusUpdate,
    error_class,
    is_outage,
    should_retry,
)

MID = "550e8400-e29b-41d4-a716-446655440000"
LEASE = "1717000000.123456-w1-3"
OUTBOX = {
    "processing": (
        '{"op": "processing", "mission_id": "550e8400-e29b-41d4-a716-446655440000", "params": {"latitude": 60.0}, '
        '"worker_id": "w1", "lease": "1717000000.123456-w1-3", "attempt": 3, "queue": "drift_jobs"}'
    ),
    "completed": (
        '{"op": "completed", "mission_id": "550e8400-e29b-41d4-a716-446655440000", "stored": [{"kind": "raw", '
        '"key": "550e8400-e29b-41d4-a716-446655440000/raw/particles.nc", "uri": "s3://driftline-results/x", '
        '"content_type": "application/x-netcdf", "size_bytes": 10, "sha256": "ab"}], "location": '
        '"s3://driftline-results/550e8400/", "params": {"latitude": 60.0}, "lease": "1717000000.123456-w1-3", '
        '"attempt": 3, "staged": [["s/k", "k"]]}'
    ),
    "failed": (
        '{"op": "failed", "mission_id": "550e8400-e29b-41d4-a716-446655440000", "error": "latitude is required", '
        '"worker_id": "w1", "lease": null}'
    ),
    "requeued": (
        '{"op": "requeued", "mission_id": "550e8400-e29b-41d4-a716-446655440000", "error": "waiting to retry: S3 '
        'down", "lease": "1717000000.123456-w1-3", "attempts": 2}'
    ),
    "refund": '{"op": "refund", "mission_id": "550e8400-e29b-41d4-a716-446655440000"}',
    "progress": (
        '{"op": "progress", "mission_id": "550e8400-e29b-41d4-a716-446655440000", "progress": 0.4, "lease": null}'
    ),
}
BUILT = {
    "processing": Processing(MID, {"latitude": 60.0}, "w1", LEASE, 3, "drift_jobs"),
    "completed": Completed(
        MID,
        [
            {
                "kind": "raw",
                "key": f"{MID}/raw/particles.nc",
                "uri": "s3://driftline-results/x",
                "content_type": "application/x-netcdf",
                "size_bytes": 10,
                "sha256": "ab",
            }
        ],
        "s3://driftline-results/550e8400/",
        {"latitude": 60.0},
        LEASE,
        3,
        [["s/k", "k"]],
    ),  # fmt: skip
    "failed": Failed(MID, "latitude is required", "w1", None),
    "requeued": Requeued(MID, "waiting to retry: S3 down", LEASE, 2),
    "refund": Refund(MID),
    "progress": Progress(MID, 0.4, None),
}


@pytest.mark.parametrize("op", sorted(OUTBOX))
def test_each_update_gives_the_outbox_json_of_before_byte_for_byte(op):
    assert json.dumps(BUILT[op].to_dict(), default=str) == OUTBOX[op]


@pytest.mark.parametrize("op", sorted(OUTBOX))
def test_an_outbox_entry_of_before_reads_back_and_writes_the_same_bytes(op):
    update = StatusUpdate.from_dict(json.loads(OUTBOX[op]))
    assert type(update) is type(BUILT[op]) and update == BUILT[op]
    assert json.dumps(update.to_dict(), default=str) == OUTBOX[op]


def test_an_older_entry_without_optional_keys_keeps_them_absent():
    old = {"op": "processing", "mission_id": MID, "params": None, "worker_id": "w1"}  # before lease and attempts
    update = StatusUpdate.from_dict(old)
    assert update.to_dict() == old and update.get("lease") is None and update.get("queue") is None


def test_an_unknown_op_is_refused_naming_it():
    with pytest.raises(ValueError, match="unknown status update 'paused'"):
        StatusUpdate.from_dict({"op": "paused", "mission_id": MID})


class RecordingStore:
    def __getattr__(self, name):
        return lambda *args: (name, args)


def test_each_update_applies_through_its_own_store_method():
    store = RecordingStore()
    assert BUILT["processing"].apply(store) == (
        "mark_processing",
        (MID, {"latitude": 60.0}, "w1", LEASE, 3, "drift_jobs"),
    )
    assert BUILT["failed"].apply(store) == ("mark_failed", (MID, "latitude is required", "w1", None, None))
    assert BUILT["requeued"].apply(store) == ("mark_requeued", (MID, "waiting to retry: S3 down", LEASE, 2))
    assert BUILT["progress"].apply(store) == ("set_progress", (MID, 0.4, None))
    assert BUILT["refund"].apply(store) == ("refund_attempt", (MID,))
    name, args = BUILT["completed"].apply(store, "publish")
    assert name == "mark_completed" and args[0] == MID and args[1][0].size_bytes == 10 and args[5] == "publish"


def test_reports_give_the_pipe_dicts_of_before():
    ok = JobReport.success("completed", 1.5, {"simulate": 1.0}, [])
    assert ok.to_dict() == {"ok": True, "result": "completed", "seconds": 1.5, "timings": {"simulate": 1.0},
                            "warnings": []}  # fmt: skip
    assert list(ok.to_dict()) == ["ok", "result", "seconds", "timings", "warnings"]
    failed = JobReport.failure(StorageUnavailable("S3 down"), "S3 down")
    assert failed.to_dict() == {"ok": False, "retryable": True, "reason": "s3_unavailable", "error": "S3 down"}
    assert list(failed.to_dict()) == ["ok", "retryable", "reason", "error"]
    assert JobReport.from_dict(failed.to_dict()) == failed
    bug = JobReport.failure(KeyError("x"), "KeyError: 'x'").to_dict()
    assert bug == {"ok": False, "retryable": True, "reason": "internal", "error": "KeyError: 'x'"}
    assert JobReport.failure(InvalidJob("bad"), "bad").to_dict()["retryable"] is False


@pytest.mark.parametrize(
    ("error", "retry", "outage"),
    [
        (StorageUnavailable("x"), True, True),
        (DiskFull("x"), True, True),
        (JobCrashed("x"), True, False),
        (InternalError("x"), True, False),
        (JobTimeout("x"), False, False),
        (InvalidJob("x"), False, False),
        (ForcingError("x"), False, False),
        (DriftError("x"), False, False),
    ],
)
def test_retry_and_outage_wait_are_decided_by_the_class(error, retry, outage):
    assert should_retry(error) is retry and is_outage(error) is outage


def test_a_reported_failure_comes_back_as_its_class_with_its_reason():
    error = JobReport.failure(DiskFull("no space"), "no space").exception()
    assert type(error) is DiskFull and error.reason == "disk_full" and str(error) == "no space"
    odd = JobReport(False, reason=OSError("a library's reason object"), error="boom").exception()
    assert type(odd) is InternalError and should_retry(odd)


def test_every_error_class_has_a_reason_no_other_class_with_another_retry_decision_uses():
    for info in pkgutil.walk_packages(driftline.__path__, "driftline."):
        if not info.name.startswith(("driftline.lean", "driftline.products", "driftline.warm")):  # warm: the preload
            importlib.import_module(info.name)
    seen: dict[str, bool] = {}
    todo = [DriftError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        retry = issubclass(cls, RetryableError)
        assert seen.setdefault(cls.reason, retry) is retry, f"{cls.__name__}: reason {cls.reason!r} is ambiguous"
        assert error_class(cls.reason).reason == cls.reason
