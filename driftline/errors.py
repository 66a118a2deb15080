"""Error hierarchy: the worker decides retry vs dead-letter from the class alone."""

from __future__ import annotations


class DriftError(Exception):
    """Base of all errors the worker handles. `str(e)` is one readable line for users."""

    reason = "error"  # short label for metrics and the dead-letter record

    def __str__(self) -> str:
        return " ".join(super().__str__().split())  # always one line


class PermanentError(DriftError):
    """Retrying cannot help (bad job, bad forcing file): dead-letter at once."""

    reason = "permanent"


class InvalidJob(PermanentError):
    """The job body or its parameters break the contract."""

    reason = "invalid_job"


class ForcingError(PermanentError):
    """A forcing file is forbidden, unreadable, or does not cover the mission."""

    reason = "forcing"


class SimulationError(PermanentError):
    """OpenDrift refused the inputs (e.g. every particle seeded on land)."""

    reason = "simulation"


class RetryableError(DriftError):
    """A service was unreachable or answered with a transient error."""

    reason = "transient"


class StorageUnavailable(RetryableError):
    reason = "s3_unavailable"


class DatabaseUnavailable(RetryableError):
    reason = "db_unavailable"


class QueueUnavailable(RetryableError):
    reason = "redis_unavailable"


class DiskFull(RetryableError):
    """The worker's disk (temporary or cache directory) is full: an outage of this host, not the mission's fault."""

    reason = "disk_full"


class ForcingSourceUnavailable(RetryableError):
    """A remote forcing source the operator marked as required is unreachable: wait for it like an outage."""

    reason = "forcing_unavailable"


class ForcingSourceMalformed(RetryableError):
    """A required remote forcing source answers data that cannot be read: retried (it may be mid-update) within
    MAX_ATTEMPTS like any transient error, then the mission fails naming the source; not an outage."""

    reason = "forcing_malformed"


class JobCrashed(RetryableError):
    """The job child died without reporting (signal, OOM kill, os._exit)."""

    reason = "crashed"


class JobTimeout(PermanentError):
    """The job ran past its time limit; re-running would take as long again."""

    reason = "timeout"
