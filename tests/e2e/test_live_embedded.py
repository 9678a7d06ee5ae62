"""The Quickstart's own stack, live: what the Celery worker marks reaches open pages.

No PostgreSQL or Redis: a SQLite file, the filesystem broker, a web process and a worker with
beat, each a process of its own, as `desk.py run` starts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import AsgiServer, api_post, log_in
from tests.factories import full_package
from tests.servers import embedded_env, embedded_python, embedded_web, embedded_worker, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path("/tmp/embedded")

# A queue whose handoffs are past their SLA two seconds after they arrive; an agent in it, a
# supervisor, and a bot's key.
DESK = """
import json
from queues.models import Queue
from tests.factories import IntegrationFactory, MembershipFactory, UserFactory

queue = Queue.objects.create(slug="billing", name="Billing", sla_seconds=2, is_default=True)
MembershipFactory(queue=queue, agent=UserFactory(username="relay-agent", role="agent"))
UserFactory(username="relay-supervisor", role="supervisor")
print(json.dumps({"queue": queue.pk, "key": IntegrationFactory(name="relay-bot").raw_key}))
"""


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[dict[str, Any]]:
    env = embedded_env(tmp_path / "var")
    embedded_python(env, "from django.core.management import call_command\ncall_command('migrate')")
    desk = json.loads(embedded_python(env, DESK))
    with embedded_web(env, free_port()) as url, embedded_worker(env):
        yield desk | {"server": AsgiServer(url)}


def page_for(browser: Any, embedded: dict[str, Any], username: str, path: str) -> Any:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, embedded["server"], username)
    page.goto(f"{embedded['server'].url}{path}")
    expect(page.locator("#live-state")).to_have_text("Live")
    return page


def test_a_breach_marked_by_the_worker_reaches_the_open_queue_and_console_pages(browser, embedded):
    # given an agent on the queue page and a supervisor on the console, nothing past SLA
    stat = f"[data-queue='{embedded['queue']}']"
    queue_page = page_for(browser, embedded, "relay-agent", "/queues/billing/")
    console = page_for(browser, embedded, "relay-supervisor", "/console/")
    for page in (queue_page, console):
        expect(page.locator(f"{stat}[data-queue-stat='breached']")).to_have_text("0")

    # when a handoff arrives (the web process's own event) and its SLA passes two seconds later
    response = api_post(
        embedded["server"], embedded["key"], "/api/v1/handoffs", full_package(external_id="late")
    )
    assert response.status_code == 201
    for page in (queue_page, console):
        expect(page.locator(f"{stat}[data-queue-stat='waiting']")).to_have_text("1")

    # then the breach the worker marks reaches both pages, without a reload
    for page in (queue_page, console):
        expect(page.locator(f"{stat}[data-queue-stat='breached']")).to_have_text(
            "1", timeout=30_000
        )
    SHOTS.mkdir(exist_ok=True)
    queue_page.screenshot(path=str(SHOTS / "queue-after-breach-1440.png"), full_page=True)
    console.screenshot(path=str(SHOTS / "console-after-breach-1440.png"), full_page=True)
