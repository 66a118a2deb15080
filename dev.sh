#!/usr/bin/env bash
# Developer entry point.  ./dev.sh demo  — set up and run a sample mission locally (no services)
#                         ./dev.sh test  — set up everything the tests need and run the whole suite
#                         ./dev.sh setup — only create .venv and install the pinned requirements
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

apt_install() {  # missing Debian packages: Redis, PostgreSQL, Docker (engine, compose, debootstrap for the test
    # stand-in images); readers of the products (Chromium, GDAL...)
    local missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
    command -v docker-compose >/dev/null || missing+=(docker-compose)
    command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
    command -v runuser >/dev/null || missing+=(util-linux)
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    command -v gpsbabel >/dev/null || missing+=(gpsbabel)
    command -v gdalinfo >/dev/null || missing+=(gdal-bin)
    command -v pdfinfo >/dev/null || missing+=(poppler-utils)
    command -v ip >/dev/null || missing+=(iproute2)  # the partition test's network namespace and veth pair
    command -v iptables >/dev/null || missing+=(iptables)  # ... and the links it cuts inside it
    if ((${#missing[@]})); then
        local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        echo "installing system packages: ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

venv() {  # $1 = requirements file
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV" || { echo "python3 -m venv failed: apt-get install python3-venv"; exit 1; }
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -c constraints.txt -r "$1"
}

case "${1:-}" in
    setup) venv requirements-dev.txt ;;
    demo)
        venv requirements.txt
        exec "$VENV/bin/python" worker.py run --latitude 60.0 --longitude 4.2 --start-time 2024-01-01T12:00:00Z \
            --duration-hours 24 --num-particles 1000 --object-type PIW-1 --wind 10,270 --current 0.3,45 \
            --seed 42 --out out ;;
    test)
        apt_install
        venv requirements-dev.txt
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        shift
        exec "$VENV/bin/python" -m pytest "$@" ;;
    *) sed -n '2,4p' "$0"; exit 2 ;;
esac
