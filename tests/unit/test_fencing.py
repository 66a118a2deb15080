"""Attempt fencing for results, against an in-memory S3 client: staging, publication, discard and the sweep."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from driftline.errors import PermanentError, StorageUnavailable
from driftline.fencing import StagedStore, discard, parked_prefixes, publish, staging_prefix, sweep
from driftline.objects import StoredObject

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeS3:
    """The few S3 client calls fencing makes; objects are {key: LastModified}, uploads [(key, id, Initiated)]."""

    def __init__(self, objects=None, uploads=(), page_size=2, fail_on=None):
        self.objects, self.uploads = dict(objects or {}), list(uploads)
        self.page_size, self.fail_on = page_size, fail_on
        self.copies, self.aborted, self.lock = [], [], threading.Lock()

    def copy_object(self, Bucket, Key, CopySource):
        if Key == self.fail_on:
            raise ClientError({"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "Copy")
        with self.lock:
            self.copies.append((CopySource["Key"], Key))

    def get_paginator(self, name):
        assert name == "list_objects_v2"
        return self

    def paginate(self, Bucket, Prefix):
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        for i in range(0, len(keys), self.page_size):
            chunk = keys[i : i + self.page_size]
            headers = {"date": format_datetime(NOW, usegmt=True)}
            yield {
                "Contents": [{"Key": k, "LastModified": self.objects[k]} for k in chunk],
                "ResponseMetadata": {"HTTPHeaders": headers},
            }

    def delete_objects(self, Bucket, Delete):
        for o in Delete["Objects"]:
            del self.objects[o["Key"]]

    def list_multipart_uploads(self, Bucket, Prefix=""):
        return {
            "Uploads": [{"Key": k, "UploadId": u, "Initiated": t} for k, u, t in self.uploads if k.startswith(Prefix)]
        }

    def abort_multipart_upload(self, Bucket, Key, UploadId):
        self.aborted.append(UploadId)


class FakeInner:
    bucket = "results"

    def put(self, kind, key, path):
        return StoredObject(kind, key, f"s3://results/{key}", "application/json", 3, "abc")


def test_a_staged_put_uploads_under_the_attempt_prefix_and_names_the_final_key():
    store = StagedStore(FakeInner(), "m-1", "L7")
    stored = store.put("summary", "m-1/summary.json", Path("unused"))
    assert staging_prefix("m-1", "L7") == ".staging/m-1/L7/"
    assert (stored.key, stored.uri) == ("m-1/summary.json", "s3://results/m-1/summary.json")
    assert store.staged == [[".staging/m-1/L7/m-1/summary.json", "m-1/summary.json"]]


def test_publish_copies_every_staged_object_and_translates_a_refusal():
    staged = [[f".staging/m/L/{i}", f"m/{i}"] for i in range(20)]
    client = FakeS3()
    publish(client, "results", staged)
    assert sorted(client.copies) == sorted(map(tuple, staged))
    with pytest.raises(PermanentError, match=r"^S3 refused publication of m/3: NoSuchKey$"):
        publish(FakeS3(fail_on="m/3"), "results", staged)


def test_discard_removes_only_the_prefix_and_aborts_its_uploads():
    old = NOW - timedelta(days=1)
    objects = {".staging/m/L1/a": old, ".staging/m/L1/b": old, ".staging/m/L1/c": old, ".staging/m/L2/a": old}
    client = FakeS3(objects, uploads=[(".staging/m/L1/big", "u1", old), (".staging/m/L2/big", "u2", old)])
    assert discard(client, "results", ".staging/m/L1/") == 4
    assert list(client.objects) == [".staging/m/L2/a"] and client.aborted == ["u1"]


def test_parked_prefixes_reads_only_completions_with_a_lease():
    outbox = [
        json.dumps({"op": "completed", "mission_id": "m-1", "lease": "L1"}),
        json.dumps({"op": "completed", "mission_id": "m-2"}).encode(),
        json.dumps({"op": "failed", "mission_id": "m-3", "lease": "L3"}),
        b"not json",
        "[1, 2]",
    ]
    assert parked_prefixes(outbox) == {".staging/m-1/L1/"}


def test_the_sweep_deletes_old_leftovers_on_the_store_clock_but_keeps_parked_ones():
    old, new = NOW - timedelta(hours=3), NOW - timedelta(minutes=10)
    objects = {".staging/a/L/x": old, ".staging/b/L/x": old, ".staging/c/L/x": new, ".staging/d/L/x": old}
    uploads = [(".staging/a/L/u", "u-old", old), (".staging/b/L/u", "u-kept", old), (".staging/c/L/u", "u-new", new)]
    client = FakeS3(objects, uploads)
    assert sweep(client, "results", 3600, keep=lambda: {".staging/b/L/"}) == (2, 1)
    assert sorted(client.objects) == [".staging/b/L/x", ".staging/c/L/x"] and client.aborted == ["u-old"]


def test_a_translated_outage_is_retryable():
    error = ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "Copy")
    client = FakeS3()
    client.copy_object = lambda **kw: (_ for _ in ()).throw(error)
    with pytest.raises(StorageUnavailable, match="S3 error during publication of m/0: SlowDown"):
        publish(client, "results", [[".staging/m/L/0", "m/0"]])
