"""What the bot platforms' adapter tests share: the stored case as an agent sees it, a bot
platform's callback endpoint, and a supervisor to work cases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.callbacks import outbox
from cases.models import Case, Delivery
from tests.factories import UserFactory


@dataclass
class Stored:
    """A case as the agent sees it: the row, its transcript, and its page's text."""

    case: Case
    transcript: list[tuple[str, str]]
    page: str


@pytest.fixture
def supervisor(db: None) -> Any:
    return UserFactory(username="sam", role="supervisor")


@pytest.fixture
def stored(supervisor: Any) -> Any:
    def read(case_id: int) -> Stored:
        case = Case.objects.get(pk=case_id)
        transcript = list(case.messages.order_by("seq").values_list("role", "text"))
        browser = Client()
        browser.force_login(supervisor)
        page = browser.get(reverse("cases:detail", args=[case_id]))
        assert page.status_code == 200
        return Stored(case, transcript, page.content.decode())

    return read


class Receiver:
    """A bot platform's endpoint: answers from a script, records what arrived."""

    def __init__(self, script: list[int]) -> None:
        self.script = list(script)
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.HANDOFF_CALLBACK_RETRY_SECONDS = [0, 0, 0]
    settings.HANDOFF_CALLBACK_TIMEOUT_SECONDS = 2
    # First attempt refused (the platform is down), the second delivered.
    made = Receiver([503])
    yield made
    made.close()


def send_all(case: Case, most: int = 5) -> list[Delivery]:
    """Attempt every delivery of the case until each is delivered or dead."""
    for _ in range(most):
        due = Delivery.objects.filter(case=case, state__in=outbox.RETRYABLE).order_by("pk")
        if not due.exists():
            break
        due.update(next_attempt_at=timezone.now())
        for delivery in due:
            outbox.delivery_attempt(delivery_id=delivery.pk)
    return list(Delivery.objects.filter(case=case).order_by("pk"))
