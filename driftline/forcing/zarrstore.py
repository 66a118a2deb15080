"""A read-only Zarr store over boto3: Zarr in an S3-compatible object store, with our timeouts and no redirects.

(s3fs would need an aiobotocore that the pinned botocore excludes; boto3 is already here, and its
connections go through the fetch process's socket guard.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from urllib.parse import urlsplit

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype


def s3_client(storage_options: dict, timeout_s: float):
    """A boto3 S3 client for a remote Zarr: credentials from the environment (or anonymous), bounded retries."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    config = Config(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"max_attempts": 2, "mode": "standard"},
        signature_version=UNSIGNED if storage_options.get("anon") else None,
    )
    return boto3.client(
        "s3",
        endpoint_url=storage_options.get("endpoint_url") or None,
        region_name=storage_options.get("region_name") or "us-east-1",
        config=config,
    )


def _range_header(byte_range: ByteRequest | None) -> str | None:
    if byte_range is None:
        return None
    if isinstance(byte_range, RangeByteRequest):
        return f"bytes={byte_range.start}-{byte_range.end - 1}"
    if isinstance(byte_range, OffsetByteRequest):
        return f"bytes={byte_range.offset}-"
    if isinstance(byte_range, SuffixByteRequest):
        return f"bytes=-{byte_range.suffix}"
    raise TypeError(f"unexpected byte range {byte_range!r}")


class S3ZarrStore(Store):
    """Read-only access to s3://bucket/prefix.zarr through a boto3 client."""

    supports_writes = False
    supports_deletes = False
    supports_partial_writes = False
    supports_listing = True

    def __init__(self, url: str, client) -> None:
        super().__init__(read_only=True)
        parts = urlsplit(url)
        self.bucket, self.prefix, self.client = parts.netloc, parts.path.strip("/"), client

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3ZarrStore) and (self.bucket, self.prefix) == (other.bucket, other.prefix)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _get(self, key: str, byte_range: ByteRequest | None) -> bytes | None:
        kwargs = {"Bucket": self.bucket, "Key": self._key(key)}
        if header := _range_header(byte_range):
            kwargs["Range"] = header
        try:
            return self.client.get_object(**kwargs)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        data = await asyncio.to_thread(self._get, key, byte_range)
        return None if data is None else prototype.buffer.from_bytes(data)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def exists(self, key: str) -> bool:
        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError:
            return False
        return True

    async def set(self, key: str, value: Buffer) -> None:
        raise NotImplementedError("remote Zarr stores are read-only")

    async def delete(self, key: str) -> None:
        raise NotImplementedError("remote Zarr stores are read-only")

    def _keys(self, prefix: str) -> list[str]:
        base = self._key("")
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base + prefix):
            out += [o["Key"][len(base) :] for o in page.get("Contents", [])]
        return out

    async def list(self) -> AsyncIterator[str]:
        for key in await asyncio.to_thread(self._keys, ""):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in await asyncio.to_thread(self._keys, prefix):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        seen = set()
        for key in await asyncio.to_thread(self._keys, prefix):
            child = key[len(prefix) :].split("/", 1)[0]
            if child not in seen:
                seen.add(child)
                yield child
