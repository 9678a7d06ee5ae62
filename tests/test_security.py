"""Issue 13 item 6: an open redirect, the websocket's origin, frames the socket cannot read."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from cases.live.consumers import DeskConsumer
from tests.factories import MembershipFactory, QueueFactory

EVIL = ["//evil.example/", "/\\evil.example/", "https://evil.example/", "///evil.example/"]


@pytest.fixture
def agent_client(db: None) -> Client:
    # An agent whose queue is empty: take-next has nothing and follows ``next``.
    agent = MembershipFactory(queue=QueueFactory(slug="general", is_default=True)).agent
    client = Client()
    client.force_login(agent)
    return client


@pytest.mark.parametrize("target", EVIL)
def test_take_next_never_redirects_to_another_site(agent_client: Client, target: str) -> None:
    response = agent_client.post("/take-next/", {"next": target})

    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize("target", EVIL)
def test_take_next_never_sends_htmx_to_another_site(agent_client: Client, target: str) -> None:
    response = agent_client.post("/take-next/", {"next": target}, headers={"HX-Request": "true"})

    assert response.status_code == 204
    assert response["HX-Redirect"] == "/"


def test_take_next_still_returns_to_the_page_it_was_taken_from(agent_client: Client) -> None:
    response = agent_client.post("/take-next/", {"next": "/queues/general/?q=x"})

    assert response["Location"] == "/queues/general/?q=x"


# --- the websocket's origin -------------------------------------------------------------------


def _socket(origin: str | None, host: str, cookie: str = "") -> WebsocketCommunicator:
    from handoff_site.asgi import application

    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/desk/", headers=headers)


@sync_to_async
def _session_cookie() -> str:
    client = Client()
    client.force_login(MembershipFactory().agent)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another program on the same host: the port is checked
        "http://127.0.0.1",  # port 80, not the desk's 8000
        "http://localhost:8000",  # an allowed host, but not the one the socket was opened on
        "http://evil.example:8000",  # a host not allowed
        None,  # no origin at all
    ],
)
async def test_a_socket_from_another_origin_is_refused(origin: str | None) -> None:
    comm = _socket(origin, "127.0.0.1:8000", await _session_cookie())

    connected, _ = await comm.connect()

    assert not connected


@pytest.mark.django_db(transaction=True)
async def test_a_socket_from_the_desks_own_page_is_accepted() -> None:
    comm = _socket("http://127.0.0.1:8000", "127.0.0.1:8000", await _session_cookie())

    connected, _ = await comm.connect()
    hello = await comm.receive_json_from(timeout=5)

    assert connected and hello["type"] == "hello"
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_trusted_origin_on_another_host_is_accepted(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["desk.example", "127.0.0.1"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://desk.example"]
    comm = _socket("https://desk.example", "127.0.0.1:8000", await _session_cookie())

    connected, _ = await comm.connect()

    assert connected
    await comm.disconnect()


# --- frames the page would never send ---------------------------------------------------------


async def _open_socket() -> WebsocketCommunicator:
    agent = await sync_to_async(lambda: MembershipFactory().agent)()
    comm = WebsocketCommunicator(DeskConsumer.as_asgi(), "/ws/desk/")
    comm.scope["user"] = agent
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from(timeout=5))["type"] == "hello"
    return comm


async def _close_code(comm: WebsocketCommunicator) -> int | None:
    while True:
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "frame",
    [{"bytes_data": b"\x00\xff binary"}, {"text_data": "not json"}, {"text_data": "[" * 100_000}],
    ids=["binary", "not-json", "too-deep"],
)
async def test_a_frame_that_is_not_json_closes_the_socket_cleanly(
    frame: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    comm = await _open_socket()

    with caplog.at_level(logging.WARNING, logger="cases.live.consumers"):
        await comm.send_to(**frame)
        code = await _close_code(comm)

    assert code == 1003  # "unsupported data", a proper close frame
    refused = [r for r in caplog.records if "ws_frame_refused" in r.getMessage()]
    assert len(refused) == 1 and refused[0].exc_info is None  # one line, no traceback
    await comm.wait()


@pytest.mark.django_db(transaction=True)
async def test_a_json_frame_of_no_known_type_is_ignored() -> None:
    comm = await _open_socket()

    await comm.send_json_to({"type": "nonsense"})

    # receive_nothing, not a timed-out receive: a timeout cancels the consumer.
    while not await comm.receive_nothing(timeout=0.3):
        assert (await comm.receive_json_from())["type"] in ("presence", "agent")
    await comm.disconnect()
