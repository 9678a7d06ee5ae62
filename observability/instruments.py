"""The desk's own instruments, observed where the work happens.

prometheus-client decides at import whether values live in this process's memory or in
memory-mapped files under ``PROMETHEUS_MULTIPROC_DIR`` (its multiprocess mode): with several
uvicorn workers and Celery's children, set that variable in every process's environment, to
one directory per machine, emptied before they start. Any process's scrape then adds up all of
them (``observability.exposition``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram

# The desk's instruments only: not the default registry, whose process and GC collectors
# describe one process, not the desk (and are wrong in multiprocess mode).
REGISTRY = CollectorRegistry(auto_describe=True)

# Seconds. Dense around the 250 ms p99 target of issue #18's capacity run.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

INTAKE_SECONDS = Histogram(
    "desk_intake_seconds",
    "Time to store one handoff (new case or update of the open one), from the package "
    "validated to the transaction committed; every entry point (API, platform adapters).",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
ASSESS_SECONDS = Histogram(
    "desk_assess_seconds",
    "Time to answer one escalation assessment (POST /api/v1/assess): the published policy "
    "read and run over the conversation so far.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
WEBSOCKET_CONNECTIONS = Gauge(
    "desk_websocket_connections",
    "Open websocket connections of signed-in pages, over every live server process.",
    # Summed over the processes still alive: a worker that died takes its sockets with it.
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
