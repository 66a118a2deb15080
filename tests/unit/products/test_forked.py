"""Products built in a forked child: results, errors, kills, time bounds, no fork, and death with the parent."""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from driftline.products import build_products, forked
from driftline.products.forked import ChildFailed, fork_call
from tests.unit.products.test_products import drifting_plume, fake_land


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # reaped: no zombie left
    return False


def test_the_result_comes_back_and_the_child_is_reaped():
    data = np.arange(200_000, dtype=np.float32)
    job = fork_call(lambda: (os.getpid(), data[::-1] * 2), "sum")
    pid, value = job.result()
    assert pid == job.pid != os.getpid()
    assert np.array_equal(value, data[::-1] * 2)
    assert _gone(job.pid)


def test_an_error_in_the_child_is_one_line_and_its_traceback_is_logged(caplog):
    def broken():
        raise ValueError("no frames\nat all")

    with caplog.at_level(logging.ERROR, logger="driftline.products.forked"):
        with pytest.raises(ChildFailed, match=r"^no frames at all$"):
            fork_call(broken, "animation").result()
    assert "Traceback" in caplog.text and "ValueError" in caplog.text


def test_a_killed_child_is_reported():
    job = fork_call(lambda: os.kill(os.getpid(), signal.SIGKILL), "animation")
    with pytest.raises(ChildFailed, match="animation process ended without a result \\(killed by SIGKILL\\)"):
        job.result()
    assert _gone(job.pid)


def test_the_child_never_returns_into_the_callers_code(tmp_path: Path):
    marker = tmp_path / "after-fork"
    job = fork_call(lambda: sys.exit(3), "animation")
    with marker.open("a") as f:
        f.write(f"{os.getpid()}\n")  # a child that returned here would add its own line
    with pytest.raises(ChildFailed, match="SystemExit"):
        job.result()
    assert marker.read_text().split() == [str(os.getpid())]


def test_a_child_over_its_time_bound_is_killed():
    job = fork_call(lambda: time.sleep(60), "animation")
    started = time.monotonic()
    with pytest.raises(ChildFailed, match="took longer than 0.3 s"):
        job.result(timeout_s=0.3)
    assert time.monotonic() - started < 5
    assert _gone(job.pid)


def test_cancel_kills_a_running_child():
    job = fork_call(lambda: time.sleep(60), "animation")
    job.cancel()
    assert _gone(job.pid)
    job.cancel()  # twice is harmless


def test_the_child_dies_with_its_parent(tmp_path: Path):
    script = textwrap.dedent(
        """
        import sys, time
        sys.path.insert(0, sys.argv[1])
        from driftline.products.forked import fork_call
        job = fork_call(lambda: time.sleep(60), "animation")
        print(job.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(Path(__file__).resolve().parents[3])], stdout=subprocess.PIPE, text=True
    )
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # running
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its parent")


def test_a_refused_fork_builds_the_animation_in_process(tmp_path: Path, meta, monkeypatch, caplog):
    def refuse():
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr("driftline.products.FORK_MIN_DOTS", 0)
    in_process, in_child = tmp_path / "in-process", tmp_path / "in-child"
    build_products(drifting_plume(t=5), meta, in_child, land_fn=fake_land)
    monkeypatch.setattr(forked.os, "fork", refuse)
    with caplog.at_level(logging.WARNING, logger="driftline.products.forked"):
        report = build_products(drifting_plume(t=5), meta, in_process, land_fn=fake_land)
    assert "fork for animation refused" in caplog.text
    assert report.warnings == [] and "animation.mp4" in report.files
    # the same frames and encoder either way: the same file
    assert (in_process / "animation.mp4").read_bytes() == (in_child / "animation.mp4").read_bytes()


@pytest.mark.parametrize("fork_min_dots, fork_max_dots, forks", [(0, 10**9, 1), (10**9, 10**10, 0), (0, 10, 0)])
def test_the_animation_is_made_in_a_child_for_mid_size_missions_only(tmp_path: Path, meta, monkeypatch,
                                                                      fork_min_dots, fork_max_dots, forks):  # fmt: skip
    monkeypatch.setattr("driftline.products.FORK_MIN_DOTS", fork_min_dots)
    monkeypatch.setattr("driftline.products.FORK_MAX_DOTS", fork_max_dots)
    made_by = []
    real = forked.fork_call

    def watched(fn, name):
        job = real(lambda: (fn(), os.getpid())[0], name)
        made_by.append(job.pid)
        return job

    monkeypatch.setattr("driftline.products.fork_call", watched)
    report = build_products(drifting_plume(t=5), meta, tmp_path, land_fn=fake_land)
    assert len(made_by) == forks and os.getpid() not in made_by
    assert report.files["animation.mp4"].stat().st_size > 1000


def test_the_child_draws_at_most_a_few_frames_ahead_of_ffmpeg(tmp_path: Path, meta, monkeypatch):
    import driftline.products as products

    seen = {}
    real = products.start_animation

    def recording(*args, **kwargs):
        seen.setdefault("queue_bytes", []).append(kwargs.get("queue_bytes", products.render.QUEUE_BYTES))
        return real(*args, **kwargs)

    class InProcess:  # runs the child's function here, so that what it was given can be seen
        def __init__(self, fn, name):
            self.value = fn()

        def finish(self):
            return self.value

        def abort(self):
            pass

    monkeypatch.setattr(products, "FORK_MIN_DOTS", 0)
    monkeypatch.setattr(products, "start_animation", recording)
    monkeypatch.setattr(products, "fork_call", InProcess)
    build_products(drifting_plume(t=5), meta, tmp_path, land_fn=fake_land)
    assert seen["queue_bytes"] == [products.CHILD_QUEUE_BYTES] and products.CHILD_QUEUE_BYTES <= 32 * 2**20
    monkeypatch.setattr(products, "FORK_MIN_DOTS", 10**9)
    build_products(drifting_plume(t=5), meta, tmp_path / "in-process", land_fn=fake_land)
    assert seen["queue_bytes"][-1] == products.render.QUEUE_BYTES
    # above FORK_MAX_DOTS the job draws its frames itself, faster than ffmpeg takes them: a short queue too
    monkeypatch.setattr(products, "FORK_MIN_DOTS", 0)
    monkeypatch.setattr(products, "FORK_MAX_DOTS", 10)
    build_products(drifting_plume(t=5), meta, tmp_path / "large", land_fn=fake_land)
    assert seen["queue_bytes"][-1] == products.LARGE_QUEUE_BYTES <= 32 * 2**20
