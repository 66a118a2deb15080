"""Download cache: local copies of forcing files from S3, safe across processes, LRU-bounded."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from config import Settings
from driftline.errors import StorageUnavailable
from driftline.forcing.common import check_forcing_uri, s3_error, s3_key

log = logging.getLogger("driftline.forcing")  # the logger name from before the split into modules


@contextmanager
def locked_file(path: Path, mode: int) -> Iterator[int]:
    """flock a lock file; retry if it was unlinked (evicted) between open and lock. LOCK_NB raises BlockingIOError."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield fd
    finally:
        os.close(fd)


class ForcingCache:
    """Local copies of forcing files keyed by (S3 key, ETag); safe across processes, LRU-bounded."""

    def __init__(self, settings: Settings, s3_client):
        self.settings = settings
        self.client = s3_client
        self.dir = Path(settings.forcing_cache_dir)
        self.max_bytes = int(settings.forcing_cache_max_gb * 1e9)
        self.downloads = 0
        self.hits = 0
        self.dir.mkdir(parents=True, exist_ok=True)

    def fetch(self, uri: str) -> Path:
        """Local path of the current version of `uri`, downloading it once if not cached."""
        key = s3_key(check_forcing_uri(uri, self.settings))
        etag = self._etag(uri, key)
        entry = self.dir / _entry_name(key, etag)
        with locked_file(self._lock(entry), fcntl.LOCK_SH):
            if self._hit(entry, uri):
                return entry
        with locked_file(self._lock(entry), fcntl.LOCK_EX):
            if self._hit(entry, uri):
                return entry
            try:
                self._download(uri, key, etag, entry)
            except BaseException:
                self._lock(entry).unlink(missing_ok=True)  # no entry, no lock file; waiters re-check the inode
                raise
        self.evict(keep=entry)
        return entry

    def _lock(self, entry: Path) -> Path:
        return entry.with_suffix(".lock")

    def _etag(self, uri: str, key: str) -> str:
        try:
            return self.client.head_object(Bucket=self.settings.forcing_bucket, Key=key)["ETag"].strip('"')
        except Exception as e:
            raise s3_error(e, uri, "check") from e

    def _hit(self, entry: Path, uri: str) -> bool:
        try:
            os.utime(entry)  # LRU: a hit makes the entry the newest
        except FileNotFoundError:
            return False
        self.hits += 1
        log.info("Forcing cache hit %s (%s)", uri, entry.name)
        return True

    def _download(self, uri: str, key: str, etag: str, entry: Path) -> None:
        """Stream to a temp file in the cache dir, then rename: a partial download never becomes an entry."""
        t0 = time.monotonic()
        fd, tmp = tempfile.mkstemp(prefix=f".{entry.stem}.", suffix=".part", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                self.client.download_fileobj(self.settings.forcing_bucket, key, fh)
                fh.flush()
                os.fsync(fh.fileno())
            if self._etag(uri, key) != etag:  # replaced since our HEAD: the bytes may not match the entry's name
                raise StorageUnavailable(f"forcing file {uri} changed during download")
            os.replace(tmp, entry)
        except BaseException as e:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            error = s3_error(e, uri, "download") if isinstance(e, Exception) else e
            if error is e:
                raise
            raise error from e
        self.downloads += 1
        size = entry.stat().st_size
        log.info("Downloaded forcing %s (%.1f MB) in %.1f s", uri, size / 1e6, time.monotonic() - t0)

    def entries(self) -> list[Path]:
        """Cache entries, least recently used first."""
        stats = []
        for p in self.dir.glob("*.nc"):
            with suppress(FileNotFoundError):
                stats.append((p.stat().st_mtime, p))
        return [p for _, p in sorted(stats)]

    def evict(self, keep: Path | None = None) -> None:
        """Delete least recently used entries not in use until the cache fits FORCING_CACHE_MAX_GB."""
        with locked_file(self.dir / ".evict.lock", fcntl.LOCK_EX):
            self._remove_leftovers()
            entries = self.entries()
            total = sum(_size(p) for p in entries)
            for entry in entries:
                if total <= self.max_bytes:
                    break
                if entry != keep:
                    total -= self._remove(entry)

    def _remove(self, entry: Path) -> int:
        """Remove an entry unless another process holds its lock; returns the bytes freed."""
        try:
            with locked_file(self._lock(entry), fcntl.LOCK_EX | fcntl.LOCK_NB):
                size = _size(entry)
                entry.unlink(missing_ok=True)
                self._lock(entry).unlink(missing_ok=True)
        except BlockingIOError:
            return 0
        log.info("Evicted forcing cache entry %s (%.1f MB)", entry.name, size / 1e6)
        return size

    def _remove_leftovers(self) -> None:
        """Temp files of killed downloads and lock files without an entry, when no process holds their lock."""
        locks = [p for p in self.dir.glob("*.lock") if not p.name.startswith(".")]
        for path in [*self.dir.glob(".*.part"), *locks]:
            entry = self.dir / f"{path.name.lstrip('.').split('.')[0]}.nc"
            if path.suffix == ".lock" and entry.exists():
                continue
            with suppress(BlockingIOError), locked_file(self._lock(entry), fcntl.LOCK_EX | fcntl.LOCK_NB):
                if path.suffix == ".part":
                    path.unlink(missing_ok=True)
                if not entry.exists():
                    self._lock(entry).unlink(missing_ok=True)


def _entry_name(key: str, etag: str) -> str:
    return hashlib.sha256(f"{key}\n{etag}".encode()).hexdigest()[:40] + ".nc"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
