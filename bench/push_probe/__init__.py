"""The push benchmark's probe: when each intake's commit happened, as the server saw it. The
live frame is sent by an on-commit callback, so the moment it starts is the commit; the probe
notes it for every ``case.created`` frame, after handing the frame on, in a Redis hash. Only
``bench/push_settings.py`` installs it."""

from __future__ import annotations

import time
from typing import Any

from django.apps import AppConfig

COMMITS_KEY = "bench:push:commits"


class PushProbeConfig(AppConfig):
    """Wraps the live events' ``broadcast`` once Django is ready."""

    name = "bench.push_probe"
    label = "bench_push_probe"

    def ready(self) -> None:
        import redis
        from django.conf import settings

        from bench.lib.app import events

        client = redis.Redis.from_url(settings.REDIS_URL)
        send = events.broadcast

        def broadcast_noting_commit(groups: list[str], message: dict[str, Any]) -> None:
            committed = time.time()
            send(groups, message)
            if message.get("kind") == "case.created":
                client.hset(COMMITS_KEY, str(message["case_id"]), repr(committed))

        events.broadcast = broadcast_noting_commit
