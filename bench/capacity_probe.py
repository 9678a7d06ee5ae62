"""The capacity benchmark's probes in the server (and the Celery worker), installed only by
``bench/capacity_settings.py``:

- every live event frame carries ``bench_committed_at``, the moment its on-commit callback
  started (the commit), so a socket measures each frame's lag by itself; and the event's cursor,
  groups and commit time go on a Redis list, from which the load generator knows which open
  sockets should have had it (a frame that never came is a lost frame);
- each answer carries ``X-Bench-CPU``, the CPU milliseconds of the thread that ran the request's
  synchronous part (middleware and view: under ASGI they all run in one thread per request), so
  the load generator adds up CPU per interaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.apps import AppConfig
from django.http import HttpRequest, HttpResponse

SENT_KEY = "bench:capacity:sent"  # "cursor committed group,group" per event frame
STAMP = "bench_committed_at"
CPU_HEADER = "X-Bench-CPU"


class CapacityProbeConfig(AppConfig):
    """Wraps the live events' ``broadcast`` once Django is ready."""

    name = "bench.capacity_probe"
    label = "bench_capacity_probe"

    def ready(self) -> None:
        import redis
        from django.conf import settings

        from bench.lib.app import events

        client = redis.Redis.from_url(settings.REDIS_URL)
        send = events.broadcast

        def broadcast_stamped(groups: list[str], message: dict[str, Any]) -> None:
            committed = time.time()
            if message.get("type") != "desk.event" or "cursor" not in message:
                send(groups, message)
                return
            send(groups, {**message, STAMP: committed})
            client.rpush(SENT_KEY, f"{message['cursor']} {committed!r} {','.join(groups)}")

        events.broadcast = broadcast_stamped


def cpu_header(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., Any]:
    """Outermost and synchronous only: Django runs the rest of the request's synchronous work in
    this same thread, so the thread's CPU time spans it (not the event loop's own share)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        started = time.thread_time()
        response = get_response(request)
        response[CPU_HEADER] = f"{(time.thread_time() - started) * 1000:.2f}"
        return response

    return middleware
