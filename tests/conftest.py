from __future__ import annotations

import json
import os
import shutil
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from cases.models import Integration
from queues.models import Queue
from tests.factories import IntegrationFactory, QueueFactory

CHROMIUM = "/usr/bin/chromium"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    has_redis = bool(os.environ.get("REDIS_URL"))
    has_chromium = shutil.which(CHROMIUM) is not None
    if os.environ.get("HANDOFF_REQUIRE_SERVICES"):
        # CI: a test that needs a service must run, never skip quietly.
        absent = [
            name
            for name, present in [
                ("PostgreSQL (DATABASE_URL)", on_postgres),
                ("Redis (REDIS_URL)", has_redis),
                (f"Chromium ({CHROMIUM})", has_chromium),
            ]
            if not present
        ]
        if absent:
            raise pytest.UsageError(
                "HANDOFF_REQUIRE_SERVICES is set but missing: " + ", ".join(absent)
            )
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))
        if "redis" in item.keywords and not has_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL"))
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM}"))
    # Browser tests last, whatever their database mark: Playwright's sync API leaves an event
    # loop set on the main thread, after which async_to_sync (consumers, Channels tests) and
    # Django's async-safety check fail in any test that follows. A stable sort keeps
    # pytest-django's order within each part.
    items.sort(
        key=lambda item: (
            "browser" in item.keywords or "browser" in getattr(item, "fixturenames", ())
        )
    )


@pytest.fixture
def default_queue(db: None) -> Queue:
    return QueueFactory(slug="general", name="General", is_default=True)


@pytest.fixture
def integration(default_queue: Queue) -> Integration:
    return IntegrationFactory(name="acme-bot")


class ApiClient:
    """Django's test client speaking JSON with a bearer key."""

    def __init__(self, key: str | None) -> None:
        self.client = Client()
        self.key = key

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        headers = dict(extra)
        if self.key is not None:
            headers["Authorization"] = f"Bearer {self.key}"
        return headers

    def post(self, path: str, body: Any, **headers: str) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(
            path, data=data, content_type="application/json", headers=self._headers(headers)
        )

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(path, headers=self._headers(headers))


@pytest.fixture
def api(integration: Integration) -> ApiClient:
    return ApiClient(integration.raw_key)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"
