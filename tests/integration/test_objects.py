"""Uploads to the S3 server: one PutObject for small files, a multipart upload for large ones; same object."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from config import Settings
from driftline import objects
from driftline.objects import S3Store


@pytest.fixture
def store(services):
    bucket = f"objects-{uuid.uuid4().hex[:8]}"
    return S3Store(Settings(results_bucket=bucket), services.s3()), services.s3()


@pytest.mark.parametrize(
    "size, threshold, via", [(30_000, 8 * 2**20, "put_object"), (9 * 2**20, 8 * 2**20, "upload_file")]
)
def test_a_product_is_stored_with_its_type_and_checksum_either_way(store, tmp_path, monkeypatch, size, threshold, via):
    s3store, client = store
    monkeypatch.setattr(objects, "MULTIPART_THRESHOLD_BYTES", threshold)
    calls = []
    for name in ("put_object", "upload_file"):
        real = getattr(s3store.client, name)
        monkeypatch.setattr(s3store.client, name, lambda *a, _r=real, _n=name, **k: (calls.append(_n), _r(*a, **k))[1])
    path = tmp_path / "search_area.geojson"
    path.write_bytes(os.urandom(size))
    stored = s3store.put("search_area", "m/products/search_area.geojson", path)  # the bucket is made on first use
    assert calls[0] == via and (via == "upload_file" or set(calls) == {via})  # upload_file: a multipart upload
    head = client.head_object(Bucket=s3store.bucket, Key="m/products/search_area.geojson")
    body = client.get_object(Bucket=s3store.bucket, Key="m/products/search_area.geojson")["Body"].read()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert body == path.read_bytes() and head["ContentLength"] == size == stored.size_bytes
    assert head["ContentType"] == "application/geo+json" == stored.content_type
    assert head["Metadata"]["sha256"] == digest == stored.sha256
