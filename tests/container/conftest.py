"""Session fixtures of the container tests: one engine, the base images and the project's image, built once.

Everything here is marked `container` (excluded from the default run; `.ci/run` runs it after the suite):
`pytest -m container tests/container`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.container.docker_env import Docker, PrivateDaemon, existing_engine
from tests.container.images import ensure_bases
from tests.services import ROOT

IMAGE = "driftline/drift-worker:test"
# Files the cached rebuild changes: a code change rebuilds only the layers after the requirements.
CODE_CHANGE = "worker.py"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.container)


@dataclass
class Figures:
    """Measured figures, printed at the end of the session (and by each test that makes one)."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.values[name] = value
        print(f"FIGURE {name}: {value}")


FIGURES = pytest.StashKey[Figures]()


@pytest.fixture(scope="session")
def figures(request) -> Figures:
    """The session's figures; pytest's terminal summary prints them (in CI's log too, output captured or not)."""
    return request.config.stash.setdefault(FIGURES, Figures())


def pytest_terminal_summary(terminalreporter, config):
    figs = config.stash.get(FIGURES, None)
    if figs is not None and figs.values:
        terminalreporter.section("container figures")
        for name, value in figs.values.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def docker() -> Docker:
    """A running engine (DOCKER_HOST or the default socket) as it is, else a private dockerd for the session."""
    engine = existing_engine()
    if engine is not None:
        yield engine
        return
    daemon = PrivateDaemon()
    engine = daemon.start()
    try:
        yield engine
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="dl-ctest-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def bases(docker, workdir, figures):
    images = ensure_bases(docker, workdir)
    for b in images.done:
        figures.add(f"image {b.name}", f"{b.how} ({b.seconds:.0f} s)")
    return images


def build_project(docker: Docker, context: Path, tag: str) -> tuple[float, int, int]:
    """`docker build` of the unchanged Dockerfile; (seconds, steps run, steps taken from the cache)."""
    t0 = time.monotonic()
    out = docker("build", "--network", "host", "-t", tag, str(context), timeout_s=1800).stdout
    return time.monotonic() - t0, out.count("\n ---> Running in "), out.count("---> Using cache")


@pytest.fixture(scope="session")
def image(docker, bases, workdir, figures) -> str:
    """The project's image from its Dockerfile; timed cold, then again after a code change (requirements cached)."""
    seconds, ran, cached = build_project(docker, ROOT, IMAGE)
    figures.add("build (first)", f"{seconds:.0f} s, {ran} steps run, {cached} from cache")
    size = docker.inspect(IMAGE)["Size"]
    figures.add("image size", f"{size / 1e9:.2f} GB ({size} bytes)")
    context = workdir / "context"
    shutil.copytree(ROOT, context, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "tests", "out"))
    with (context / CODE_CHANGE).open("a") as f:
        f.write("\n# changed by the container test: rebuild with the requirements layer cached\n")
    seconds, ran, cached = build_project(docker, context, f"{IMAGE}-rebuild")
    figures.add("build (code change, requirements cached)", f"{seconds:.0f} s, {ran} steps run, {cached} from cache")
    docker("rmi", f"{IMAGE}-rebuild", check=False)
    shutil.rmtree(context, ignore_errors=True)
    return IMAGE


def run_logs(docker: Docker, name: str) -> str:
    proc = docker("logs", name, check=False)
    return proc.stdout + proc.stderr


def wait_container(docker: Docker, name: str, predicate, timeout_s: float, what: str):
    """Poll until predicate(inspect) is truthy; fail with the container's log tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate(docker.inspect(name))
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{name}: timed out after {timeout_s} s waiting for {what}\n" + run_logs(docker, name)[-3000:])


def remove(docker: Docker, *names: str) -> None:
    for name in names:
        try:
            docker("rm", "-f", "-v", name, check=False, timeout_s=120)
        except subprocess.TimeoutExpired:
            pass
