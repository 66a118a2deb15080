"""A worker cut off while its transaction holds a mission row does not keep that row locked.

A completion holds the mission row FOR UPDATE while its objects are published. When the job process's link to
PostgreSQL is black-holed and the process then ends (or its host is gone), the server's backend waits idle in
transaction, holding the lock, until TCP tells it the client is dead: two hours by the OS's keepalive default
(about 15 minutes of retransmissions when its last answer was still unacknowledged, as here), during which every
other worker's completion of that mission times out behind the lock. The worker's sessions set the server's
keepalives and tcp_user_timeout (driftline/db.py), so the backend is dropped and the lock released within
idle + interval x count seconds. The client runs in a network namespace of its own (tests/netns.py); needs
root, like the partition test.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import apply_schema
from tests.netns import NetPostgres, TestNet
from tests.services import ROOT

CLIENT = """
import sys, time
import driftline.db as db
db.KEEPALIVE_IDLE_S, db.KEEPALIVE_INTERVAL_S, db.KEEPALIVE_COUNT = 2, 1, 2  # the production values are 30, 10, 3
store = db.MissionStore(sys.argv[1], connect_timeout_s=5, io_timeout_s=2)
with store.transaction() as cur:
    cur.execute("SELECT status FROM missions WHERE id = %s FOR UPDATE", (sys.argv[2],))
    print("locked", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def net_pg():
    net = TestNet().open()
    pg = None
    try:
        pg = NetPostgres(net.host_ip, net.ns_ip).init().start()
        apply_schema(pg.url)
        yield net, pg
    finally:
        if pg is not None:
            pg.cleanup()
        net.close()


def lock_free(conn, mid: str) -> bool:
    import psycopg2

    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT status FROM missions WHERE id = %s FOR UPDATE NOWAIT", (mid,))
        return True
    except psycopg2.errors.LockNotAvailable:
        return False


def test_a_black_holed_client_killed_inside_its_transaction_releases_the_row_within_its_keepalives(net_pg):
    import psycopg2

    net, pg = net_pg
    mid = str(uuid.uuid4())
    host = psycopg2.connect(pg.url)
    with host, host.cursor() as cur:
        cur.execute("INSERT INTO missions (id, status, params) VALUES (%s, 'queued', '{}')", (mid,))
    client = subprocess.Popen(
        [*net.prefix(), sys.executable, "-c", CLIENT, pg.url, mid], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert client.stdout.readline().strip() == "locked"
        assert not lock_free(host, mid)
        net.cut("postgres", pg.port)
        client.send_signal(signal.SIGKILL)  # its FIN goes into the black hole: the server never hears of it
        client.wait(10)
        cut = time.monotonic()
        while not lock_free(host, mid):
            # old code: the backend waits for the OS's two-hour keepalive, holding the row
            assert time.monotonic() - cut < 20, "the row is still locked by the dead client's backend"
            time.sleep(0.5)
        released_s = time.monotonic() - cut
        print(f"row lock released {released_s:.1f} s after the client was cut off and killed (bound: 2 + 1 x 2 s)")
        assert net.dropped() > 0  # the server's probes met the cut
    finally:
        if client.poll() is None:
            client.kill()
        host.close()
