"""A product built in a forked child process, on the other core, while the job process builds the rest.

Drawing frames is Python and numpy under the GIL, so a thread would not run beside the search areas; a fork
of the job process costs ~5 ms (its 1.4 GB are mostly the shared landmask) and sees the trajectories without
copying them. The child runs one function, sends its picklable result (or its error as one line and a
traceback) through a pipe and leaves with `os._exit`: it never returns into the job's code, never touches the
job's clients or threads, and dies with the job process (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
CHILD_TIMEOUT_S = 600.0  # the job's own time limit (the supervisor's kill) comes first in practice


class ChildFailed(RuntimeError):
    """The child raised, was killed or did not answer in time; the message is one readable line."""


class Forked:
    """A function running in a forked child; `result()` waits for its return value (or raises ChildFailed)."""

    def __init__(self, pid: int, read_fd: int, name: str) -> None:
        self.pid, self._fd, self.name = pid, read_fd, name
        self._done = False

    def result(self, timeout_s: float = CHILD_TIMEOUT_S) -> Any:
        try:
            data = _read_all(self._fd, time.monotonic() + timeout_s)
        except TimeoutError:
            self.cancel()
            raise ChildFailed(f"{self.name} took longer than {timeout_s:g} s") from None
        except BaseException:
            self.cancel()
            raise
        os.close(self._fd)
        self._done = True
        status = _reap(self.pid)
        if not data:
            raise ChildFailed(f"{self.name} process ended without a result ({_describe(status)})")
        kind, value, trace = pickle.loads(data)
        if kind == "error":
            log.error("%s failed in its process:\n%s", self.name, trace)
            raise ChildFailed(value)
        return value

    def finish(self) -> Any:
        """`result()` under the name products use for a product still being made (as `Encoding.finish`)."""
        return self.result()

    def cancel(self) -> None:
        """Kill and reap the child (nothing once its result was read)."""
        if self._done:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        _reap(self.pid)
        os.close(self._fd)
        self._done = True

    abort = cancel


def fork_call(fn: Callable[[], Any], name: str) -> Forked | None:
    """Start fn() in a forked child; None when the system refuses a fork (the caller runs fn itself)."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError as e:  # EAGAIN / ENOMEM: no child, the caller builds the product in process
        os.close(read_fd)
        os.close(write_fd)
        log.warning("fork for %s refused (%s): building it in the job process", name, e)
        return None
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        _child(fn, read_fd, write_fd, parent)
    os.close(write_fd)
    return Forked(pid, read_fd, name)


def _child(fn: Callable[[], Any], read_fd: int, write_fd: int, parent: int) -> None:
    code = 1
    try:
        os.close(read_fd)
        _die_with(parent)  # signals: the job process's dispositions (SIGINT ignored, SIGTERM default) are kept
        try:
            message = ("ok", fn(), "")
        except BaseException as e:  # noqa: BLE001 - everything goes back to the parent, nothing escapes
            message = ("error", _one_line(e), traceback.format_exc())
        _write_all(write_fd, pickle.dumps(message))
        code = 0
    finally:
        os._exit(code)


def _one_line(e: BaseException) -> str:
    """What an in-process failure would say (its message); the class too where that alone says nothing."""
    text = " ".join(str(e).split())[:300]
    return text if text and isinstance(e, Exception) else f"{type(e).__name__}: {text}".rstrip(": ")


def _die_with(parent: int) -> None:
    """SIGKILL this child when the job process dies (and die now if it already has)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.close(fd)


def _read_all(fd: int, deadline: float) -> bytes:
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _reap(pid: int) -> int:
    with contextlib.suppress(ChildProcessError):
        return os.waitpid(pid, 0)[1]
    return 0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}" if os.WIFEXITED(status) else f"status {status}"
