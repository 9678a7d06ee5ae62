from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session", autouse=True)
def _patient_expectations() -> None:
    """The CI machine is shared and noisy: a live update may take longer than Playwright's
    default 5 s to show there. A broken update still fails, only later."""
    try:
        from playwright.sync_api import expect
    except ImportError:
        return
    expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM in the test body
    # is still used synchronously, on purpose.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Any, live_server: Any) -> Iterator[Any]:
    contexts = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def log_in(page: Any, server: Any, username: str, password: str = "pw-for-tests") -> None:
    page.goto(f"{server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    page.wait_for_load_state("load")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AsgiServer:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[AsgiServer]:
    """The real ASGI application (HTTP and websockets) under uvicorn, in a thread of this
    process, on the test database: pytest-django's live_server speaks no websocket."""
    import threading
    import time

    import uvicorn
    from channels.layers import channel_layers

    from handoff_site.asgi import application

    channel_layers.backends.clear()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            application, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield AsgiServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)


def api_post(server: Any, key: str, path: str, body: Any) -> Any:
    """A bot's call over real HTTP (Django's test client would need an event loop of its own,
    and Playwright's is running in this thread)."""
    import httpx

    return httpx.post(
        f"{server.url}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
