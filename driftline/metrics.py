"""Prometheus metrics of the supervising process (prometheus-client)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    """All worker metrics in their own registry (no import-time global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("drift_jobs_received_total", "Jobs taken from the queue", registry=r)
        self.completed = Counter("drift_jobs_completed_total", "Missions completed", registry=r)
        self.failed = Counter("drift_jobs_failed_total", "Job attempts that failed", ["reason"], registry=r)
        self.retried = Counter("drift_jobs_retried_total", "Jobs scheduled for another attempt", registry=r)
        self.dead = Counter("drift_jobs_dead_total", "Jobs moved to the dead-letter list", registry=r)
        self.dead_dropped = Counter(
            "drift_dead_letters_dropped_total", "Oldest dead letters dropped at the list's cap", registry=r
        )
        self.duration = Histogram(
            "drift_job_duration_seconds",
            "Time spent per job stage",
            ["stage"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.queue_length = Gauge("drift_queue_length", "Jobs waiting in the queue", registry=r)
        self.in_progress = Gauge("drift_jobs_in_progress", "Jobs running in this worker", registry=r)
        self.up = Gauge("drift_worker_up", "1 while the worker runs and reaches Redis", registry=r)

    def serve(self, port: int) -> None:
        if port:
            start_http_server(port, registry=self.registry)

    def observe_timings(self, timings: dict[str, float]) -> None:
        """Fold the pipeline's fine-grained timings into the simulate/products/upload stages."""
        stages = {"simulate": 0.0, "products": 0.0, "upload": 0.0}
        for key, seconds in timings.items():
            if key in ("simulate", "forcing"):
                stages["simulate"] += seconds
            elif key.startswith("products.") or key == "write_particles":
                stages["products"] += seconds
            elif key.startswith("upload"):
                stages["upload"] += seconds
        for stage, seconds in stages.items():
            self.duration.labels(stage=stage).observe(seconds)
