"""One scrape: the instruments of this process, or of every process sharing
``PROMETHEUS_MULTIPROC_DIR``, and whatever the caller reads at scrape time."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from observability.instruments import REGISTRY

# A live gauge's file, one per process: gauge_livesum_<pid>.db
LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def scrape(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory:
        forget_dead_processes(directory)
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(REGISTRY)
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def forget_dead_processes(directory: str) -> list[int]:
    """Drop the live gauges of processes that are gone: a worker killed (or restarted by
    uvicorn) never ran its own clean-up, and its open sockets would count for ever."""
    gone = []
    for path in Path(directory).glob("gauge_live*_*.db"):
        found = LIVE_GAUGE_FILE.match(path.name)
        if found and not _alive(int(found[1])):
            gone.append(int(found[1]))
    for pid in set(gone):
        mark_process_dead(pid, directory)
    return sorted(set(gone))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
