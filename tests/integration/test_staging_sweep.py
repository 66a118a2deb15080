"""The staging sweep never deletes the objects of a completion parked in the outbox."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import driftline.fencing as fencing
from config import Settings
from driftline.fencing import StagedStore
from driftline.objects import S3Store, ensure_buckets
from driftline.queue import RedisQueue
from tests.conftest import RESULTS_BUCKET, Services, mission
from worker import DriftWorker

LATER = timedelta(hours=2)  # the sweep runs "two hours later": every staged object looks old


class Later(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + LATER


def settings_for(services: Services, queue: str) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": services.database_url,
            "REDIS_URL": services.redis_url,
            "S3_ENDPOINT": services.s3_endpoint,
            "S3_ACCESS_KEY": "testing",
            "S3_SECRET_KEY": "testing",
            "QUEUE_NAME": queue,
            "WORKER_ID": "sweeper",
        }
    )


def staged(services: Services, settings: Settings, tmp_path, mid: str, token: str) -> dict:
    objects = StagedStore(S3Store(settings, services.s3()), mid, token)
    path = tmp_path / f"{token}.json"
    path.write_text(json.dumps({"mission": mid}))
    stored = objects.put("summary", f"{mid}/products/summary.json", path)
    return {
        "op": "completed",
        "mission_id": mid,
        "stored": [stored.__dict__],
        "location": f"s3://{RESULTS_BUCKET}/{mid}/",
        "lease": token,
        "attempt": 1,
        "staged": objects.staged,
    }


def test_the_sweep_keeps_a_parked_completions_objects_and_its_publication_succeeds(services, tmp_path, monkeypatch):
    ensure_buckets(services.s3(), [RESULTS_BUCKET])
    s = settings_for(services, f"s-{uuid.uuid4().hex[:8]}")
    w = DriftWorker(s)
    w.queue = RedisQueue(s)
    parked_mid, dead_mid = str(uuid.uuid4()), str(uuid.uuid4())
    parked = staged(services, s, tmp_path, parked_mid, f"{int(time.time() * 1e6):016x}-aaaa")
    leftover = staged(services, s, tmp_path, dead_mid, f"{int(time.time() * 1e6):016x}-bbbb")  # a killed job's
    w.queue.push_status(parked)  # PostgreSQL was down when the job finished
    monkeypatch.setattr(fencing, "datetime", Later)
    monkeypatch.setattr(fencing, "parsedate_to_datetime", lambda _: Later.now(UTC), raising=False)
    w.housekeeping.next_sweep = 0.0
    w.housekeeping.reconcile()
    w.housekeeping.executor.shutdown(wait=True)
    s3 = services.s3()
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=RESULTS_BUCKET, Prefix=".staging/").get("Contents", [])}
    assert parked["staged"][0][0] in left, "the parked completion's staged object was swept"
    assert leftover["staged"][0][0] not in left, "the sweep removes real leftovers"
    monkeypatch.undo()
    w.housekeeping.executor = type(w.housekeeping.executor)(1)
    w.status.drain_outbox()
    assert mission(services, parked_mid)["status"] == "completed"
    body = s3.get_object(Bucket=RESULTS_BUCKET, Key=f"{parked_mid}/products/summary.json")["Body"].read()
    assert json.loads(body) == {"mission": parked_mid}
