"""The probe's app: wraps the live events' ``broadcast`` once Django is ready."""

from __future__ import annotations

import time
from typing import Any

from django.apps import AppConfig

from bench.push_probe import COMMITS_KEY


class PushProbeConfig(AppConfig):
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
