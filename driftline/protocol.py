"""The outcome protocol: mission status updates and the job process's report, as small dataclasses.

`to_dict()` gives exactly the dicts (and so the outbox JSON) written before these classes existed, and
`from_dict()` reads them back, so outbox entries queued before a deploy still apply. A status update
applies itself to the mission store (driftline/db.py): every mission-row write goes through the store.
The supervisor decides retry, outage wait or dead letter from the error's class alone (`error_class`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from driftline.errors import (
    DatabaseUnavailable,
    DiskFull,
    DriftError,
    ForcingSourceUnavailable,
    QueueUnavailable,
    RetryableError,
    StorageUnavailable,
)

ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()  # a key the dict did not have
# Service outages (of this host too): the job waits for the service with its attempt given back, never dead-lettered.
OUTAGES = (StorageUnavailable, DatabaseUnavailable, QueueUnavailable, ForcingSourceUnavailable, DiskFull)


class InternalError(RetryableError):
    """An exception outside the hierarchy in a job process (a bug or a library's surprise): retried."""

    reason = "internal"


@dataclass(frozen=True)
class StatusUpdate:
    """One write to a mission row; the fields in the order of the dict's keys, after `op`."""

    op: ClassVar[str] = ""
    mission_id: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not ABSENT:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatusUpdate:
        """The update a dict describes (its `op` picks the class); a missing optional key stays absent."""
        kind = UPDATES.get(data.get("op"))
        if kind is None:
            raise ValueError(f"unknown status update {data.get('op')!r}")
        names = {f.name for f in dataclasses.fields(kind)}
        return kind(**{k: v for k, v in data.items() if k in names})

    def apply(self, store, publish=None) -> bool:
        raise NotImplementedError

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, default)
        return default if value is ABSENT else value


@dataclass(frozen=True)
class Processing(StatusUpdate):
    op: ClassVar[str] = "processing"
    params: dict | None = ABSENT
    worker_id: str = ""
    lease: str | None = ABSENT
    attempt: int | None = ABSENT
    queue: str | None = ABSENT

    def apply(self, store, publish=None) -> bool:
        g = self.get
        return store.mark_processing(self.mission_id, g("params"), self.worker_id, g("lease"), g("attempt"), g("queue"))


@dataclass(frozen=True)
class Completed(StatusUpdate):
    op: ClassVar[str] = "completed"
    stored: list = field(default_factory=list)
    location: str = ""
    params: dict | None = ABSENT
    lease: str | None = ABSENT
    attempt: int | None = ABSENT
    staged: list | None = ABSENT

    def apply(self, store, publish=None) -> bool:
        from driftline.objects import StoredObject

        stored = [StoredObject(**s) for s in self.stored]
        g = self.get
        return store.mark_completed(
            self.mission_id, stored, self.location, g("params"), g("lease"), publish, g("attempt")
        )


@dataclass(frozen=True)
class Failed(StatusUpdate):
    op: ClassVar[str] = "failed"
    error: str = ""
    worker_id: str | None = ABSENT
    lease: str | None = ABSENT
    params: dict | None = ABSENT

    def apply(self, store, publish=None) -> bool:
        g = self.get
        return store.mark_failed(self.mission_id, self.error, g("worker_id"), g("params"), g("lease"))


@dataclass(frozen=True)
class Requeued(StatusUpdate):
    op: ClassVar[str] = "requeued"
    error: str = ""
    lease: str | None = ABSENT
    attempts: int | None = ABSENT

    def apply(self, store, publish=None) -> bool:
        return store.mark_requeued(self.mission_id, self.error, self.get("lease"), self.get("attempts"))


@dataclass(frozen=True)
class Progress(StatusUpdate):
    op: ClassVar[str] = "progress"
    progress: float = 0.0
    lease: str | None = ABSENT

    def apply(self, store, publish=None) -> bool:
        return store.set_progress(self.mission_id, self.progress, self.get("lease"))


@dataclass(frozen=True)
class Refund(StatusUpdate):
    op: ClassVar[str] = "refund"

    def apply(self, store, publish=None) -> bool:
        return store.refund_attempt(self.mission_id)


UPDATES: dict[str, type[StatusUpdate]] = {k.op: k for k in (Processing, Completed, Failed, Requeued, Progress, Refund)}


@dataclass(frozen=True)
class JobReport:
    """What a job process sends back before it exits: success (with its result) or its failure."""

    ok: bool
    result: str | None = None  # completed, parked (in the outbox), handover (to the supervisor) or superseded
    seconds: float | None = None
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    retryable: bool = False  # kept in the dict for its readers; the supervisor decides from error_class
    reason: Any = "internal"
    error: str = ""
    completion: dict | None = None  # handover: the completion update the supervisor records in its place

    @classmethod
    def success(
        cls, result: str, seconds: float, timings: dict, warnings: list, completion: dict | None = None
    ) -> JobReport:
        return cls(True, result, seconds, timings, warnings, completion=completion)

    @classmethod
    def failure(cls, e: BaseException, error: str) -> JobReport:
        """A failure report for `e`; `error` is its one line for users."""
        retryable = not isinstance(e, DriftError) or isinstance(e, RetryableError)
        return cls(False, retryable=retryable, reason=getattr(e, "reason", "internal"), error=error)

    def to_dict(self) -> dict[str, Any]:
        if self.ok:
            keys = ("ok", "result", "seconds", "timings", "warnings") + (("completion",) if self.completion else ())
        else:
            keys = ("ok", "retryable", "reason", "error")
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobReport:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def exception(self) -> DriftError:
        """The failure as an error of its class, carrying the reported reason (the metrics label)."""
        error = error_class(self.reason)(self.error)
        error.reason = self.reason
        return error


def error_class(reason: Any) -> type[DriftError]:
    """The error class a reported reason names (each class of the hierarchy has its own reason)."""
    for cls in _hierarchy(DriftError):
        if cls.__dict__.get("reason") == reason:
            return cls
    return InternalError  # an exception outside the hierarchy (reason "internal" or a library's own)


def _hierarchy(cls: type) -> list[type]:
    out, todo = [], [cls]
    while todo:
        c = todo.pop(0)
        out.append(c)
        todo.extend(c.__subclasses__())
    return out


def should_retry(error: DriftError) -> bool:
    """Retry decision from the class alone: retryable errors are retried, the rest dead-lettered."""
    return isinstance(error, RetryableError)


def is_outage(error: DriftError) -> bool:
    """A service (or host) outage: wait for it with the attempt given back, however long."""
    return isinstance(error, OUTAGES)
