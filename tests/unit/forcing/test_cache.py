"""Unit tests of driftline/forcing/cache.py against an in-memory S3 client: hits, versions, failures, LRU eviction."""

from __future__ import annotations

import fcntl
import os
import time
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from driftline.errors import ForcingError, InvalidJob, StorageUnavailable
from driftline.forcing.cache import ForcingCache, locked_file

BUCKET = "forcing"


class FakeS3:
    """head_object / download_fileobj over a dict key -> (etag, bytes); `on_download` runs mid-download."""

    def __init__(self, objects):
        self.objects = dict(objects)
        self.heads = self.gets = 0
        self.on_download = None

    def head_object(self, Bucket, Key):  # noqa: N803 - boto3's names
        self.heads += 1
        if Bucket != BUCKET or Key not in self.objects:
            raise ClientError({"Error": {"Code": "404"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "HeadObject")
        return {"ETag": f'"{self.objects[Key][0]}"'}

    def download_fileobj(self, bucket, key, fh):
        self.gets += 1
        fh.write(self.objects[key][1])
        if self.on_download:
            self.on_download()


def _cache(tmp_path, s3, max_gb=1.0):
    settings = SimpleNamespace(forcing_cache_dir=str(tmp_path / "cache"), forcing_cache_max_gb=max_gb,
                               forcing_bucket=BUCKET)  # fmt: skip
    return ForcingCache(settings, s3)


def test_fetch_downloads_once_per_version(tmp_path):
    """The first fetch downloads, the next hits; a new ETag is a new entry with the new bytes."""
    s3 = FakeS3({"a.nc": ("e1", b"one")})
    cache = _cache(tmp_path, s3)
    first = cache.fetch(f"s3://{BUCKET}/a.nc")
    assert first.read_bytes() == b"one" and cache.fetch(f"s3://{BUCKET}/a.nc") == first
    assert (cache.downloads, cache.hits, s3.gets) == (1, 1, 1)
    s3.objects["a.nc"] = ("e2", b"two")
    second = cache.fetch(f"s3://{BUCKET}/a.nc")
    assert second != first and second.read_bytes() == b"two" and cache.downloads == 2
    assert not list(cache.dir.glob(".*.part"))


def test_refused_uri_missing_object_and_changed_object(tmp_path):
    """A URI outside the bucket is refused before S3; a missing key is a ForcingError; an object replaced during
    the download is StorageUnavailable and leaves neither an entry nor a temp file."""
    s3 = FakeS3({"a.nc": ("e1", b"one")})
    cache = _cache(tmp_path, s3)
    with pytest.raises(InvalidJob):
        cache.fetch("s3://other/a.nc")
    assert s3.heads == 0
    with pytest.raises(ForcingError, match=rf"^forcing file s3://{BUCKET}/b.nc does not exist in S3$"):
        cache.fetch(f"s3://{BUCKET}/b.nc")

    def replace():
        s3.objects["a.nc"] = ("e9", b"new")

    s3.on_download = replace
    with pytest.raises(StorageUnavailable, match=rf"^forcing file s3://{BUCKET}/a.nc changed during download$"):
        cache.fetch(f"s3://{BUCKET}/a.nc")
    assert os.listdir(cache.dir) == [] and cache.downloads == 0


def test_evict_least_recently_used_but_not_the_kept_or_locked(tmp_path):
    """Over the limit, entries go oldest first; a hit refreshes an entry; one locked by a reader stays."""
    s3 = FakeS3({f"{k}.nc": ("e", bytes(100)) for k in "abcd"})
    cache = _cache(tmp_path, s3, max_gb=1.0)
    paths = {}
    for i, k in enumerate("abc"):
        paths[k] = cache.fetch(f"s3://{BUCKET}/{k}.nc")
        os.utime(paths[k], (time.time() - 100 + i, time.time() - 100 + i))
    cache.fetch(f"s3://{BUCKET}/a.nc")  # a hit: a becomes the newest
    assert cache.entries() == [paths["b"], paths["c"], paths["a"]]
    cache.max_bytes = 250
    with locked_file(paths["b"].with_suffix(".lock"), fcntl.LOCK_SH):  # another process reading b
        cache.evict(keep=paths["c"])
    assert sorted(p.name for p in cache.entries()) == sorted([paths["b"].name, paths["c"].name])
    cache.max_bytes = 150
    d = cache.fetch(f"s3://{BUCKET}/d.nc")  # fetch evicts, keeping the new entry
    assert cache.entries() == [d]


def test_leftovers_of_killed_downloads_are_removed(tmp_path):
    """Temp files of killed downloads and lock files without an entry go at the next eviction; real locks stay."""
    s3 = FakeS3({"a.nc": ("e", b"x")})
    cache = _cache(tmp_path, s3)
    entry = cache.fetch(f"s3://{BUCKET}/a.nc")
    (cache.dir / ".0123abcd.x1y2.part").write_bytes(b"partial")
    (cache.dir / "0123abcd.lock").touch()
    entry.with_suffix(".lock").touch()
    cache.evict()
    assert sorted(os.listdir(cache.dir)) == sorted([entry.name, entry.with_suffix(".lock").name, ".evict.lock"])
