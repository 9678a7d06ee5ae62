"""Live events across processes, and through a Redis outage, with real servers."""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client
from websockets.sync.client import connect

from cases.models import Case
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory, full_package
from tests.servers import TcpProxy, asgi_process

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def desk() -> dict[str, Any]:
    queue = QueueFactory(slug="general", name="General", is_default=True)
    agent: Any = MembershipFactory(queue=queue).agent
    client = Client()
    client.force_login(agent)
    return {
        "key": IntegrationFactory(name="proc-bot").raw_key,
        "cookie": f"sessionid={client.cookies['sessionid'].value}",
    }


def socket_to(server: str, cookie: str) -> Any:
    host = urlsplit(server).netloc
    return connect(
        f"ws://{host}/ws/desk/",
        additional_headers={"Cookie": cookie, "Origin": server},
        open_timeout=10,
    )


def receive(ws: Any, *, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {kind} frame within {timeout} s"
        frame = json.loads(ws.recv(timeout=remaining))
        if frame.get("kind") == kind or frame.get("type") == kind:
            return frame


def hand_off(server: str, key: str, external_id: str) -> httpx.Response:
    return httpx.post(
        f"{server}/api/v1/handoffs",
        json=full_package(external_id=external_id),
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_a_handoff_posted_to_one_process_reaches_a_socket_on_another(desk):
    with (
        asgi_process() as first,
        asgi_process() as second,
        socket_to(first, desk["cookie"]) as ws,
    ):
        receive(ws, kind="hello")

        response = hand_off(second, desk["key"], "two-processes")

        assert response.status_code == 201
        event = receive(ws, kind="case.created")
        assert event["case_id"] == response.json()["case_id"]
        assert 'id="case-row-' in event["row"]


def test_intake_survives_a_redis_outage_and_pages_resync_after_it(desk):
    target = urlsplit(os.environ["REDIS_URL"])
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    proxy.start()
    with asgi_process(redis_url=proxy.url) as server:
        with socket_to(server, desk["cookie"]) as ws:
            cursor = receive(ws, kind="hello")["cursor"]

            # Redis goes away: the handoff is still accepted and stored
            proxy.cut()
            response = hand_off(server, desk["key"], "during-outage")
            assert response.status_code == 201
            case_id = response.json()["case_id"]
            assert Case.objects.filter(pk=case_id).exists()

        # Redis comes back: a reconnecting page asks for what it missed and gets it
        proxy.restore()
        deadline = time.monotonic() + 20
        while True:
            try:
                ws = socket_to(server, desk["cookie"])
                break
            except Exception:
                assert time.monotonic() < deadline, "could not reconnect after the outage"
                time.sleep(0.5)
        with ws:
            receive(ws, kind="hello")
            ws.send(json.dumps({"type": "resync", "since": cursor}))
            missed = receive(ws, kind="event")
            assert missed["case_id"] == case_id and missed["resync"] is True
            assert missed["status"] == "waiting" and 'id="case-row-' in missed["row"]

            # and live events flow again
            later = hand_off(server, desk["key"], "after-outage")
            assert receive(ws, kind="case.created")["case_id"] == later.json()["case_id"]
    proxy.cut()
