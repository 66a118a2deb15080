"""Object storage: S3-compatible buckets (MinIO, AWS) or a local directory, behind one interface.

Keys are built only from validated mission UUIDs, so they are deterministic and a
re-delivered job overwrites rather than duplicates.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from config import Settings
from driftline.errors import PermanentError, StorageUnavailable

log = logging.getLogger("driftline.storage")  # the logger name log readers know (module was storage.py)

CONTENT_TYPES = {
    ".nc": "application/x-netcdf",
    ".geojson": "application/geo+json",
    ".kml": "application/vnd.google-earth.kml+xml",
    ".mp4": "video/mp4",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain; charset=us-ascii",
    ".html": "text/html; charset=utf-8",
    ".gpx": "application/gpx+xml",
    ".csv": "text/csv; charset=us-ascii",
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
}


# Answers that mean the worker's keys, permissions or clock are wrong (fixed by an operator, not by the job).
CREDENTIAL_ERRORS = (
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "RequestTimeTooSkewed",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
)


@dataclass(frozen=True)
class StoredObject:
    kind: str  # e.g. "particles", "density", "summary"
    key: str  # relative to the results bucket / output directory
    uri: str
    content_type: str
    size_bytes: int
    sha256: str


class ObjectStore(Protocol):
    def put(self, kind: str, key: str, path: Path) -> StoredObject: ...

    def location(self, mission_id: str) -> str: ...


def describe_file(path: Path) -> tuple[int, str, str]:
    """(size, sha256, content type) of a product file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest(), CONTENT_TYPES.get(path.suffix, "application/octet-stream")


def make_s3_client(settings: Settings, *, connect_timeout_s: float = 5, read_timeout_s: float = 60, attempts: int = 3):
    """A boto3 S3 client for MinIO (path-style, custom endpoint) or AWS (endpoint unset); every call bounded.

    Clients are cached per configuration: the forkserver preload makes the job's client once (no socket
    is opened until the first request), so each job process starts with it instead of spending ~20 ms.
    """
    return _s3_client(
        settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_region,
        connect_timeout_s, read_timeout_s, attempts,
    )  # fmt: skip


@functools.lru_cache(maxsize=4)
def _s3_client(endpoint, access_key, secret_key, region, connect_timeout_s, read_timeout_s, attempts):
    import boto3
    from botocore.config import Config

    cfg = Config(
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        retries={"max_attempts": attempts, "mode": "standard"},
        tcp_keepalive=True,
        s3={"addressing_style": "path"},
        signature_version="s3v4",
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=cfg,
    )


def translate_s3_error(e: Exception, what: str) -> Exception:
    """Map botocore exceptions to retryable (network, 5xx, throttling) or permanent errors."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(e, Boto3Error):  # upload_file/download_file wrap the botocore error
        cause = e.__cause__ or e.__context__
        if isinstance(cause, (ClientError, BotoCoreError)):
            return translate_s3_error(cause, what)
        if any(code in str(e) for code in CREDENTIAL_ERRORS):
            return StorageUnavailable(f"S3 refused the worker's credentials or clock during {what}")
        if "NoSuchBucket" in str(e):
            return PermanentError(f"S3 refused {what}: {' '.join(str(e).split())[:200]}")
        return StorageUnavailable(f"S3 transfer failed during {what}: {' '.join(str(e).split())[:200]}")
    if isinstance(e, ClientError):
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = e.response.get("Error", {}).get("Code", "")
        if status >= 500 or code in ("SlowDown", "RequestTimeout", "Throttling", "ServiceUnavailable"):
            return StorageUnavailable(f"S3 error during {what}: {code or status}")
        if code in CREDENTIAL_ERRORS or (status == 403 and code in ("", "403", "Forbidden")):
            # The worker's keys or clock, not the mission: an outage to wait out (and fix), never a dead letter.
            return StorageUnavailable(f"S3 refused the worker's credentials or clock during {what}: {code or status}")
        return PermanentError(f"S3 refused {what}: {code or status}")
    if isinstance(e, BotoCoreError):
        return StorageUnavailable(f"S3 unreachable during {what}: {type(e).__name__}")
    return e


MULTIPART_THRESHOLD_BYTES = 8 * 2**20  # s3transfer's default threshold: below it upload_file sends one PUT too


class S3Store:
    """Results bucket on an S3-compatible server."""

    def __init__(self, settings: Settings, client=None):
        self.bucket = settings.results_bucket
        self.client = client or make_s3_client(settings)

    def put(self, kind: str, key: str, path: Path) -> StoredObject:
        size, sha256, content_type = describe_file(path)
        extra = {"ContentType": content_type, "Metadata": {"sha256": sha256}}
        try:
            try:
                self._upload(path, key, size, extra)
            except Exception as e:
                if "NoSuchBucket" not in str(e):
                    raise
                ensure_buckets(self.client, [self.bucket])  # e.g. a fresh MinIO volume
                self._upload(path, key, size, extra)
        except Exception as e:
            raise translate_s3_error(e, f"upload of {key}") from e
        return StoredObject(kind, key, f"s3://{self.bucket}/{key}", content_type, size, sha256)

    def _upload(self, path: Path, key: str, size: int, extra: dict) -> None:
        """One PutObject below the multipart threshold (upload_file's transfer manager, with its threads, costs
        ~2 ms more per file); upload_file's multipart upload above it."""
        if size < MULTIPART_THRESHOLD_BYTES:
            with path.open("rb") as body:  # seekable: botocore rewinds it to retry
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        else:
            self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra)

    def location(self, mission_id: str) -> str:
        return f"s3://{self.bucket}/{mission_id}/"


class LocalStore:
    """A directory laid out like the bucket: used by `worker.py run` with no services."""

    def __init__(self, root: Path):
        self.root = root

    def put(self, kind: str, key: str, path: Path) -> StoredObject:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        shutil.copyfile(path, tmp)
        tmp.replace(target)
        size, sha256, content_type = describe_file(target)
        return StoredObject(kind, key, target.resolve().as_uri(), content_type, size, sha256)

    def location(self, mission_id: str) -> str:
        return (self.root / mission_id).resolve().as_uri() + "/"


def ensure_buckets(client, buckets: list[str]) -> None:
    """Create the buckets the worker needs if they do not exist yet."""
    from botocore.exceptions import ClientError

    for bucket in buckets:
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise translate_s3_error(e, f"check of bucket {bucket}") from e
            try:
                client.create_bucket(Bucket=bucket)
                log.info("Created bucket %s", bucket)
            except ClientError as e2:
                if e2.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise translate_s3_error(e2, f"creation of bucket {bucket}") from e2
        except Exception as e:
            raise translate_s3_error(e, f"check of bucket {bucket}") from e
