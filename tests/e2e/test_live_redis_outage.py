"""A queue page through a Redis outage: it says it is not live, and it misses nothing.

The desk runs on a Redis of this test's own (started on a free port and killed here, never the
shared one). Before the heartbeat, the page's socket stayed open through the outage, the page
went on saying "Live", and the cases created meanwhile never appeared, even after Redis came back.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from playwright.sync_api import expect

from tests.e2e.conftest import AsgiServer, api_post, log_in
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory, full_package
from tests.servers import free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


class OwnRedis:
    """A redis-server of this test's own, which it may kill and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            assert self.process.poll() is None, "redis-server exited"
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                pass
            assert time.monotonic() < deadline, "redis-server did not come up"
            time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def desk(own_redis: OwnRedis, settings: Any, request: pytest.FixtureRequest) -> AsgiServer:
    """The desk's ASGI app (uvicorn, in this process) with its channel layer on ``own_redis``."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [own_redis.url], "prefix": "outage-test"},
        }
    }
    server: AsgiServer = request.getfixturevalue("asgi_server")
    return server


def test_a_queue_page_says_it_is_not_live_in_an_outage_and_shows_every_case_after(
    new_page, desk, own_redis
):
    # given an agent's queue page, live on the desk's Redis
    queue = QueueFactory(slug="general", name="General", is_default=True)
    MembershipFactory(queue=queue, agent__username="ana")
    key = IntegrationFactory(name="outage-bot").raw_key
    page = new_page()
    log_in(page, desk, "ana")
    page.goto(f"{desk.url}/queues/general/")
    state = page.locator("#live-state")
    expect(state).to_have_text("Live")

    # when Redis dies, and bots hand conversations over during the outage
    own_redis.kill()
    during = []
    for number in range(3):
        response = api_post(
            desk, key, "/api/v1/handoffs", full_package(external_id=f"outage-{number}")
        )
        assert response.status_code == 201, response.text  # intake does not need Redis
        during.append(response.json()["case_id"])

    # then the page says it is not live (within a heartbeat and its timeout)
    expect(state).not_to_have_text("Live", timeout=20_000)
    expect(state).to_have_attribute("data-state", "reconnecting")
    response = api_post(desk, key, "/api/v1/handoffs", full_package(external_id="outage-late"))
    assert response.status_code == 201, response.text
    during.append(response.json()["case_id"])
    for case_id in during:
        expect(page.locator(f"#case-row-{case_id}")).to_have_count(0)
    expect(state).not_to_have_text("Live")

    # when Redis comes back on the same port
    own_redis.start()

    # then within 10 s every case created during the outage is on the page, and it is live
    page.wait_for_function(
        "ids => ids.every(id => document.getElementById('case-row-' + id))",
        arg=during,
        timeout=10_000,
    )
    expect(state).to_have_text("Live")

    # and events flow live again
    response = api_post(desk, key, "/api/v1/handoffs", full_package(external_id="after"))
    expect(page.locator(f"#case-row-{response.json()['case_id']}")).to_be_visible()
