"""The images the container tests need: the project's base and service images (real or stand-in) and its own.

An image already present under its exact name is used as it is. A missing one is pulled when the engine is not
the tests' private one (or DRIFTLINE_DOCKER_PULL=1); otherwise, or when the pull fails, a test stand-in of the
same name is built from tests/container/standins/ (README there): debian:bookworm-slim by debootstrap, the
others FROM it. Builds use the host's network (--network host): the engine has no bridge of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.container.docker_env import Docker, _tool
from tests.services import ROOT

STANDINS = Path(__file__).resolve().parent / "standins"
DEBIAN = "debian:bookworm-slim"
# Packages of the official python:*-slim-bookworm image, and the shared libraries CPython's modules link.
BASE_PACKAGES = (
    "ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,"
    "libncursesw6,libuuid1,libexpat1,zlib1g,libnsl2,libtirpc3,libgdbm6"
)
DEBIAN_MIRROR = "http://deb.debian.org/debian"


@dataclass
class Built:
    name: str
    how: str  # "present", "pulled" or "stand-in"
    seconds: float


def dockerfile_bases(dockerfile: Path = ROOT / "Dockerfile") -> list[str]:
    """The FROM images of a Dockerfile that are not its own stages."""
    stages, bases = set(), []
    for m in re.finditer(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile.read_text(), re.M | re.I):
        if m.group(1) not in stages and m.group(1) not in bases:
            bases.append(m.group(1))
        if m.group(2):
            stages.add(m.group(2))
    return bases


def compose_images(compose_file: Path = ROOT / "docker-compose.dev.yml") -> dict[str, str]:
    """Service -> image of the services that are not built from the project's Dockerfile."""
    services = yaml.safe_load(compose_file.read_text())["services"]
    return {name: svc["image"] for name, svc in services.items() if "build" not in svc}


class ImageSet:
    """Ensures images by exact name, building stand-ins for the missing ones; records what it did."""

    def __init__(self, docker: Docker, work: Path) -> None:
        self.docker = docker
        self.work = work
        self.pull = not docker.own or os.environ.get("DRIFTLINE_DOCKER_PULL") == "1"
        self.done: list[Built] = []

    def ensure(self, name: str, standin) -> None:
        t0 = time.monotonic()
        if self.docker.image_exists(name):
            how = "present"
        elif self.pull and self.docker("pull", name, check=False, timeout_s=600).returncode == 0:
            how = "pulled"
        else:
            standin(name)
            how = "stand-in"
        self.done.append(Built(name, how, time.monotonic() - t0))

    def build(self, name: str, context: Path, *build_args: str, timeout_s: float = 900) -> None:
        args = [a for kv in build_args for a in ("--build-arg", kv)]
        self.docker("build", "--network", "host", "-t", name, *args, str(context), timeout_s=timeout_s)

    def debian(self, name: str) -> None:
        """debootstrap --variant=minbase bookworm, then `docker import` under the name."""
        root = Path(tempfile.mkdtemp(prefix="rootfs-", dir=self.work))
        subprocess.run(
            [
                _tool("debootstrap", "debootstrap"),
                "--variant=minbase",
                f"--include={BASE_PACKAGES}",
                "bookworm",
                str(root),
                DEBIAN_MIRROR,
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
        (root / "etc/apt/sources.list").write_text(
            f"deb {DEBIAN_MIRROR} bookworm main\ndeb {DEBIAN_MIRROR} bookworm-updates main\n"
            "deb http://deb.debian.org/debian-security bookworm-security main\n"
        )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        self.docker("import", "--change", 'CMD ["bash"]', "-", name, stdin=tar.stdout, timeout_s=600)
        assert tar.wait() == 0
        shutil.rmtree(root, ignore_errors=True)

    def python(self, name: str) -> None:
        """This machine's CPython (3.11 like the image's) copied into /usr/local of a Debian stand-in."""
        ctx = Path(tempfile.mkdtemp(prefix="python-", dir=self.work))
        shutil.copy(STANDINS / "python" / "Dockerfile", ctx)
        cafile = os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile
        shutil.copy(cafile, ctx / "host-ca.pem")
        copy_cpython(Path(sys.base_prefix), ctx / "cpython")
        self.build(name, ctx)
        shutil.rmtree(ctx, ignore_errors=True)

    def from_dir(self, folder: str, *build_args: str):
        def standin(name: str) -> None:
            ctx = Path(tempfile.mkdtemp(prefix=f"{folder}-", dir=self.work))
            shutil.copytree(STANDINS / folder, ctx, dirs_exist_ok=True)
            shutil.copy(ROOT / "constraints.txt", ctx)
            self.build(name, ctx, *build_args)
            shutil.rmtree(ctx, ignore_errors=True)

        return standin

    def service_standin(self, image: str):
        repo = image.rsplit(":", 1)[0]
        folders = {"redis": "redis", "postgres": "postgres", "minio/minio": "minio", "minio/mc": "mc"}
        if repo not in folders:
            raise AssertionError(f"no test stand-in for {image}: add one under {STANDINS}")
        minio = next(i for i in compose_images().values() if i.startswith("minio/minio:"))
        return self.from_dir(folders[repo], f"BASE={minio}")


def copy_cpython(prefix: Path, dest: Path) -> None:
    """The interpreter, its shared library, headers and standard library; no site-packages, tests or scripts."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(prefix / "bin" / version, dest / "bin" / version)
    (dest / "lib").mkdir()
    for lib in (prefix / "lib").glob("libpython3*"):
        if lib.is_symlink():
            (dest / "lib" / lib.name).symlink_to(os.readlink(lib))
        else:
            shutil.copy2(lib, dest / "lib" / lib.name)
    skip = shutil.ignore_patterns("site-packages", "test", "tests", "idle_test", "__pycache__")
    shutil.copytree(prefix / "lib" / version, dest / "lib" / version, ignore=skip, symlinks=True)
    shutil.copytree(prefix / "include", dest / "include", symlinks=True)


def ensure_bases(docker: Docker, work: Path) -> ImageSet:
    """The project Dockerfile's bases and the dev compose file's service images."""
    images = ImageSet(docker, work)
    needs_debian = [n for n in (*dockerfile_bases(), *compose_images().values()) if not docker.image_exists(n)]
    if needs_debian:
        images.ensure(DEBIAN, images.debian)
    for base in dockerfile_bases():
        if not base.startswith("python:"):
            raise AssertionError(f"no test stand-in for the base {base}")
        images.ensure(base, images.python)
    ordered = sorted(compose_images().values(), key=lambda i: i.startswith("minio/mc"))  # mc is FROM minio
    for image in ordered:
        images.ensure(image, images.service_standin(image))
    return images
