"""The supervisor console in a real browser: who is on and how full, live; the bulk action bar;
SLA alerts; a phone's width."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Case
from cases.services import agent_work as actions
from cases.services import sla
from tests.e2e.conftest import AsgiServer, _free_port, log_in
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/console")


class Served(AsgiServer):
    """The desk under uvicorn in a thread, with its event loop at hand: a service run there
    publishes its live events as the server's own views do."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(url)
        self.loop = loop

    def run(self, work: Callable[[], Any]) -> Any:
        def work_then_close() -> Any:
            try:
                return work()
            finally:
                # The loop's executor thread outlives this call: left open, its connection
                # stays checked out of the pool, and a few tests later the pool runs dry.
                connection.close()

        call = sync_to_async(work_then_close, thread_sensitive=False)
        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=10)


@pytest.fixture
def served(transactional_db: None) -> Iterator[Served]:
    import uvicorn
    from channels.layers import channel_layers

    from handoff_site.asgi import application

    channel_layers.backends.clear()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            loop="asyncio",
        )
    )
    loop = asyncio.new_event_loop()

    def serve() -> None:
        loop.run_until_complete(server.serve())
        loop.run_until_complete(loop.shutdown_default_executor())  # its threads end with the test
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", loop)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def desk() -> dict[str, Any]:
    billing = QueueFactory(slug="billing", name="Billing", is_default=True)
    vip = QueueFactory(slug="vip", name="VIP")
    gail = MembershipFactory(
        queue=billing, capacity=2, agent__username="gail", agent__first_name="Gail"
    ).agent
    gus = MembershipFactory(
        queue=billing, capacity=3, agent__username="gus", agent__first_name="Gus"
    ).agent
    MembershipFactory(queue=vip, agent__username="vic", agent__first_name="Vic")
    UserFactory(username="sue", first_name="Sue", role="supervisor")
    return {"billing": billing, "vip": vip, "gail": gail, "gus": gus}


def open_page(browser: Any, server: Any, username: str, path: str, width: int = 1280) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 860})
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, server, username)
    page.goto(f"{server.url}{path}")
    expect(page.locator("#live-state")).to_have_text("Live")
    return page


def agent(page: Any, user: Any) -> Any:
    return page.locator(f"#console-agents [data-agent='{user.pk}']")


def test_agents_coming_online_and_their_load_show_on_an_open_console(browser, served, desk):
    # given a supervisor who opened the console and a queue's page before anyone was on
    CaseFactory(queue=desk["billing"], customer_name="Tom Becker")
    overview = open_page(browser, served, "sue", "/console/")
    console = open_page(browser, served, "sue", "/console/billing/")
    billing = overview.locator("tr", has_text="Billing")
    expect(billing).to_contain_text("0 / 2")

    # when both agents of the queue sign in and open their queue
    gail = open_page(browser, served, "gail", "/queues/billing/")
    gus = open_page(browser, served, "gus", "/queues/billing/")

    # then both consoles show them online, without a reload (this read "0/2" before)
    expect(billing).to_contain_text("2 / 2")
    online = f"[data-agents-online='{desk['billing'].pk}']"
    expect(console.locator(online)).to_have_text("2 of 2 online")
    expect(agent(console, desk["gail"])).to_contain_text("Online")
    expect(agent(console, desk["gus"])).to_contain_text("Online")
    expect(agent(console, desk["gail"])).to_contain_text("0 / 2 open")

    # when Gail takes the waiting case, her load rises on both pages
    gail.click("button:has-text('Take next case')")
    expect(gail.locator("h1")).to_contain_text("Tom Becker")
    expect(agent(console, desk["gail"])).to_contain_text("1 / 2 open")
    expect(overview.locator(".load", has_text="Gail")).to_contain_text("Gail 1/2")

    # and when she resolves it, it falls again
    served.run(
        lambda: actions.case_resolve(
            case_id=Case.objects.get().pk,
            agent=desk["gail"],
            resolution_code="solved",
            customer_repeated=False,
        )
    )
    expect(agent(console, desk["gail"])).to_contain_text("0 / 2 open")

    # when Gus closes the desk, he goes offline on both pages
    gus.context.close()
    expect(billing).to_contain_text("1 / 2")
    expect(agent(console, desk["gus"])).to_contain_text("Offline")
    SHOTS.mkdir(exist_ok=True)
    console.screenshot(path=str(SHOTS / "agents-live-1280.png"), full_page=True)


def test_bulk_reassign_from_a_paged_list_with_select_all_by_keyboard(browser, served, desk):
    # given 30 open cases in Billing, one of them already Gus's
    cases = [CaseFactory(queue=desk["billing"]) for _ in range(30)]
    held = services_claim(served, cases[0], desk["gus"])
    sue = open_page(browser, served, "sue", "/console/billing/")
    bar = sue.locator("form[action$='/reassign/']")
    boxes = sue.locator("input[name=case]")

    # the action bar is above the list (it was below it), and the list shows a page of 25
    send = bar.locator("button", has_text="Reassign")
    expect(boxes).to_have_count(25)
    expect(send).to_be_visible()
    # read in the page, in one go: a live refresh of the list may land between two reads
    sue.wait_for_function(BAR_ABOVE_LIST)
    expect(sue.locator("#console-cases .pager")).to_contain_text("Page 1 of 2 · 30 open cases")

    # when the supervisor ticks the whole page from the keyboard
    pick_all = bar.locator("[data-reassign-all]")
    pick_all.focus()
    sue.keyboard.press("Space")

    # then every row of the page is ticked and the bar counts them, and stays on screen
    expect(bar.locator("legend")).to_have_text("Reassign 25 cases")
    assert boxes.evaluate_all("boxes => boxes.every(box => box.checked)")
    sue.mouse.wheel(0, 900)
    expect(bar).to_be_in_viewport()
    SHOTS.mkdir(exist_ok=True)
    sue.screenshot(path=str(SHOTS / "bulk-sticky-1280.png"))

    # untick all but the held case and one waiting case
    sue.keyboard.press("Space")
    expect(bar.locator("legend")).to_have_text("Reassign the cases ticked in the list")
    sue.locator(f"input[name=case][value='{held.pk}']").check()
    sue.locator(f"input[name=case][value='{cases[1].pk}']").check()
    expect(bar.locator("legend")).to_have_text("Reassign 2 cases")
    expect(pick_all).to_have_js_property("indeterminate", True)

    # when one of them is resolved meanwhile, and they send both to Gail, by keyboard
    Case.objects.filter(pk=cases[1].pk).update(status=Case.Status.RESOLVED)
    bar.locator("select[name=agent]").focus()
    bar.locator("select[name=agent]").select_option(label="Gail (Billing)")
    bar.locator("input[name=reason]").focus()
    sue.keyboard.type("Gail knows these customers")
    sue.keyboard.press("Enter")

    # then the page says how many moved and names the case that did not, and why; the ticks
    # are cleared
    flash = sue.locator("div.flash")
    expect(flash.filter(has_text="1 case reassigned to Gail.")).to_have_count(1)
    expect(
        flash.filter(has_text=f"Not moved: #{cases[1].pk} ({cases[1].customer_name}). This case")
    ).to_contain_text("resolved")
    assert Case.objects.get(pk=held.pk).assignee == desk["gail"]
    expect(bar.locator("legend")).to_have_text("Reassign the cases ticked in the list")
    assert boxes.evaluate_all("boxes => boxes.every(box => !box.checked)")

    # when they tick the whole page again and send it to VIP
    pick_all.check()
    bar.locator("select[name=queue]").select_option(label="VIP")
    bar.locator("input[name=reason]").fill("VIP week")
    bar.locator("button[type=submit]").click()

    # then 25 moved, and the 4 left (one was resolved) fit one page
    expect(flash).to_contain_text("25 cases reassigned to VIP.")
    expect(boxes).to_have_count(4)
    expect(sue.locator("#console-cases .pager")).to_have_count(0)
    assert Case.objects.filter(queue=desk["vip"]).count() == 25
    assert Case.objects.get(pk=held.pk).queue == desk["vip"]


BAR_ABOVE_LIST = """() => {
    const send = [...document.querySelectorAll("form[action$='/reassign/'] button")]
        .find(button => button.textContent.includes("Reassign"));
    const list = document.querySelector("input[name=case]")?.closest("table");
    return Boolean(send && list)
        && send.getBoundingClientRect().top < list.getBoundingClientRect().top;
}"""


def services_claim(served: Served, case: Case, user: Any) -> Case:
    return served.run(lambda: actions.case_claim(case_id=case.pk, agent=user))


def test_a_breach_alerts_the_supervisor_on_the_console_and_links_to_the_case(browser, served, desk):
    # given a supervisor on the console and two waiting cases within their SLA
    late, later = (CaseFactory(queue=desk["billing"]) for _ in range(2))
    sue = open_page(browser, served, "sue", "/console/")
    breached = sue.locator(f"[data-queue-stat='breached'][data-queue='{desk['billing'].pk}']")
    expect(breached).to_have_text("0")

    # when their SLA passes and the sweep marks them
    Case.objects.update(sla_due_at=timezone.now() - timedelta(seconds=5))
    assert served.run(sla.case_sla_breaches_mark) == 2

    # then an alert names each case and links to it, and "Past SLA" counts them, live
    alerts = sue.locator("#desk-alerts .sla-alert")
    expect(alerts).to_have_count(2)
    for case in (late, later):
        expect(alerts.filter(has_text=f"case #{case.pk} ")).to_have_text(
            re.compile(rf"Past SLA: case #{case.pk} in Billing, still waiting\.")
        )
    expect(breached).to_have_text("2")
    SHOTS.mkdir(exist_ok=True)
    sue.screenshot(path=str(SHOTS / "sla-alert-1280.png"))
    # the alerts do not take the focus from what the supervisor is doing
    assert sue.evaluate("document.activeElement.closest('#desk-alerts')") is None

    # an alert goes when dismissed; the other opens its case
    alerts.filter(has_text=f"case #{later.pk} ").locator("button:has-text('Dismiss')").click()
    expect(alerts).to_have_count(1)
    alerts.locator("a").click()
    sue.wait_for_url(f"{served.url}/cases/{late.pk}/")


@pytest.mark.parametrize("path", ["/console/", "/console/billing/"])
def test_the_console_fits_a_phone(browser, served, desk, path):
    # given a busy queue, with agents online and long names
    for _ in range(30):
        CaseFactory(queue=desk["billing"], customer_name="Maximiliane Oberschweinsteiger-Lopez")
    # and an agent in several queues, as in the demo: the bar's agent picker names them all
    gail = desk["gail"]
    gail.last_name = "Okafor-Lindqvist"
    gail.save(update_fields=["last_name"])
    for slug, name in [("account_access", "Account access"), ("technical", "Technical")]:
        MembershipFactory(queue=QueueFactory(slug=slug, name=name), agent=gail)
    open_page(browser, served, "gail", "/queues/billing/")

    # when a supervisor opens the console on a phone
    page = open_page(browser, served, "sue", path, width=390)
    expect(page.locator("main")).to_contain_text("Gail")

    # then nothing is wider than the screen (the console was 651 px wide)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # and ticking a case keeps it so, the action bar saying what is ticked
    ticks = page.locator("input[name=case]")
    if ticks.count():
        ticks.first.check()
        expect(page.locator("#reassign-form legend")).to_have_text("Reassign 1 case")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"phone{path.replace('/', '-')}390.png"))


# --- the Quickstart's own stack: a breach the Celery worker marks alerts the console ------------

QUICKSTART_DESK = """
import json
from queues.models import Queue
from tests.factories import IntegrationFactory, UserFactory

queue = Queue.objects.create(slug="billing", name="Billing", sla_seconds=2, is_default=True)
UserFactory(username="console-supervisor", role="supervisor")
print(json.dumps({"queue": queue.pk, "key": IntegrationFactory(name="console-bot").raw_key}))
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=False)
def test_in_the_quickstart_a_breach_marked_by_the_worker_alerts_the_console(browser, tmp_path):
    from tests.e2e.conftest import api_post
    from tests.factories import full_package
    from tests.servers import (
        embedded_env,
        embedded_python,
        embedded_web,
        embedded_worker,
        free_port,
    )

    # given the Quickstart's processes (SQLite, the relayed layer, a worker with beat)
    env = embedded_env(tmp_path / "var")
    embedded_python(env, "from django.core.management import call_command\ncall_command('migrate')")
    desk = json.loads(embedded_python(env, QUICKSTART_DESK))
    with embedded_web(env, free_port()) as url, embedded_worker(env):
        server = AsgiServer(url)
        sue = open_page(browser, server, "console-supervisor", "/console/")
        breached = sue.locator(f"[data-queue-stat='breached'][data-queue='{desk['queue']}']")
        expect(breached).to_have_text("0")

        # when a handoff arrives and its two-second SLA passes
        answer = api_post(server, desk["key"], "/api/v1/handoffs", full_package())
        assert answer.status_code == 201
        case_id = answer.json()["case_id"]

        # then the worker's sweep reaches the open console: an alert naming the case, live
        alert = sue.locator(f"#desk-alerts .sla-alert[data-case='{case_id}']")
        expect(alert).to_contain_text(f"case #{case_id} in Billing", timeout=30_000)
        expect(breached).to_have_text("1")
        SHOTS.mkdir(exist_ok=True)
        sue.screenshot(path=str(SHOTS / "quickstart-alert-1440.png"))


def test_the_reassign_agent_list_offers_only_agents_of_the_queue_the_cases_go_to(
    browser,
    served,
    desk,
):
    # given the supervisor on Billing's console page, where Gail and Gus work and Vic does not
    sue = open_page(browser, served, "sue", "/console/billing/", 390)
    agents = sue.locator("#reassign-form select[name=agent]")
    option = {name: agents.locator("option", has_text=name) for name in ("Gail", "Gus", "Vic")}

    # then, keeping Billing, Vic cannot be picked
    expect(option["Vic"]).to_be_disabled()
    expect(option["Gail"]).to_be_enabled()

    # when she picks Gail, then sends the cases to VIP from the keyboard
    agents.select_option(label=option["Gail"].inner_text())
    queue = sue.locator("#reassign-form select[name=queue]")
    queue.focus()
    queue.select_option(label="VIP")

    # then only Vic is offered, and Gail, who cannot take them there, is no longer chosen
    expect(option["Vic"]).to_be_enabled()
    expect(option["Gail"]).to_be_disabled()
    expect(option["Gus"]).to_be_disabled()
    expect(agents).to_have_value("")

    # and back to Billing, Billing's agents again
    queue.select_option(label="keep Billing")
    expect(option["Gail"]).to_be_enabled()
    expect(option["Vic"]).to_be_disabled()
