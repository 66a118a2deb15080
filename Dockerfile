# Driftline drift worker: Redis queue `drift_jobs` -> OpenDrift Leeway -> S3/MinIO, status in PostgreSQL.
#
#   docker build -t driftline/drift-worker .
#   docker run --rm -e DATABASE_URL=... -e REDIS_URL=... driftline/drift-worker
#
# Two stages: the builder installs the pinned requirements into a virtualenv (/opt/venv), with a
# compiler at hand for any requirement that has no wheel; the runtime stage copies only that venv,
# so no compiler, header or apt list ends up in the image that runs.

########################################################################################
FROM python:3.11.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Compilers live in this stage only (the runtime stage below has none).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential=12.9 \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Requirements alone first: this layer is rebuilt only when they change. constraints.txt pins the
# transitive dependencies too, so the image resolves exactly the versions CI tested.
COPY requirements.txt constraints.txt /tmp/
RUN pip install --no-cache-dir -c /tmp/constraints.txt -r /tmp/requirements.txt

########################################################################################
FROM python:3.11.11-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="driftline-drift-worker" \
      org.opencontainers.image.description="Driftline drift worker: OpenDrift Leeway jobs from the Redis queue drift_jobs"

# tini as PID 1: forwards SIGTERM to the worker only (not to its job children, which the worker
# itself drains) and reaps orphaned processes of the forkserver.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/*

# Non-root user; the forcing cache is the one directory it writes outside /tmp.
RUN groupadd --system --gid 10001 driftline \
    && useradd --system --uid 10001 --gid driftline --home-dir /home/driftline --create-home \
        --shell /usr/sbin/nologin driftline \
    && install -d -o driftline -g driftline -m 0750 /var/cache/driftline \
    && install -d -m 0755 /opt/cartopy-data

COPY --from=builder /opt/venv /opt/venv

# MPLBACKEND=Agg: no display. MPLCONFIGDIR in /tmp: matplotlib's font cache is writable even with a
# read-only root filesystem. CARTOPY_DATA_DIR: a fixed, offline data directory; the worker never
# draws cartopy features, so nothing is downloaded at run time (the landmask is roaring-landmask's,
# inside its wheel). One BLAS/OpenMP thread per process: MAX_CONCURRENT_JOBS jobs run side by side.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    CARTOPY_DATA_DIR=/opt/cartopy-data \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    FORCING_CACHE_DIR=/var/cache/driftline \
    METRICS_PORT=9100

# Created before USER, so /app stays root-owned: the worker cannot modify its own code.
WORKDIR /app
USER 10001:10001

# Build-time check, as the runtime user and with no network use: the heavy dependencies import, and
# the landmask loads the way the worker's preload loads it (OpenDrift's global landmask reader ->
# the roaring-landmask wheel's embedded data), with one land and one sea point. ~15 s, ~2.5 GB,
# re-run only when requirements.txt changes.
RUN python -c "import roaring_landmask, opendrift.models.leeway, cartopy, netCDF4, xarray, psycopg2, redis, boto3" \
    && python -c "from opendrift.readers import reader_global_landmask; lm = reader_global_landmask.get_mask(); \
assert lm.contains(15.0, 50.0) and not lm.contains(-30.0, 40.0), 'landmask data broken'" \
    && rm -rf /tmp/matplotlib

# The code last (owned by root, read-only for the worker): a code change rebuilds only these layers.
# test_worker.py is the operators' queue tool (--check, --requeue-dead), not a test suite.
COPY worker.py config.py test_worker.py ./
COPY driftline/ ./driftline/
COPY sql/ ./sql/
# Smoke test: every module the daemon imports at start is importable (argparse exits 0 on --help).
RUN python worker.py --help > /dev/null

EXPOSE 9100
STOPSIGNAL SIGTERM
# start-period covers the landmask preload at start.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "worker.py", "health"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "worker.py"]
