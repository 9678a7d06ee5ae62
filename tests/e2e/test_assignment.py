"""Push assignment in a real browser (issue 17): a case offered to an agent shows as a banner,
answered with one key; declined, it goes to the next agent, whose page accepts it and opens
the case; an offer left unanswered times out to the next agent. Driven by keyboard, at 1440
and 390 px. The worker's part (the assignment run, the sweep) runs here in the server's loop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cases.models import AgentStatus, Offer
from cases.services import assignment
from queues.models import Queue
from tests.e2e.conftest import log_in
from tests.e2e.test_console import served  # noqa: F401 - the fixture
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/assign")


@pytest.fixture
def push() -> dict[str, Any]:
    billing = QueueFactory(slug="billing", name="Billing", is_default=True)
    Queue.objects.filter(pk=billing.pk).update(assignment_mode="push", offer_seconds=30)
    gail = MembershipFactory(
        queue=billing, capacity=2, agent__username="gail", agent__first_name="Gail"
    ).agent
    gus = MembershipFactory(
        queue=billing, capacity=3, agent__username="gus", agent__first_name="Gus"
    ).agent
    return {"billing": billing, "gail": gail, "gus": gus}


def open_page(browser: Any, server: Any, username: str, path: str, width: int) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 860})
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, server, username)
    page.goto(f"{server.url}{path}")
    expect(page.locator("#live-state")).to_have_text("Live")
    return page


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_offers_are_declined_accepted_and_timed_out_by_keyboard(browser, served, push):  # noqa: F811
    SHOTS.mkdir(exist_ok=True)
    gail = open_page(browser, served, "gail", "/queues/billing/", 1440)
    gus = open_page(browser, served, "gus", "/queues/billing/", 390)
    assert served.run(lambda: AgentStatus.objects.filter(state="online").count()) == 2

    # given a case handed off into the push queue: Gus has the most room, he is offered it
    first = served.run(lambda: CaseFactory(queue=push["billing"], customer_name="Tom Becker"))
    served.run(lambda: assignment.queue_assign(queue_id=push["billing"].pk))
    banner = gus.locator(".offer")
    expect(banner).to_contain_text("Tom Becker")
    expect(banner).to_contain_text("Answer within")
    gus.screenshot(path=str(SHOTS / "offer-390.png"))
    box = banner.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    # a phone keeps most of the page above it: the banner says less there (it was 180 px)
    expect(banner.locator(".offer-time-more")).to_be_hidden()
    assert box["height"] <= 860 / 5, box

    # when Gus declines with one key, the banner goes and Gail is offered it
    gus.keyboard.press("d")
    expect(banner).to_have_count(0)
    wait_for(lambda: served.run(lambda: Offer.objects.filter(state="declined").count()) == 1)
    served.run(lambda: assignment.queue_assign(queue_id=push["billing"].pk))
    expect(gail.locator(".offer")).to_contain_text("Tom Becker")
    gail.screenshot(path=str(SHOTS / "offer-1440.png"))

    # and when Gail accepts with one key, the case opens as hers
    gail.keyboard.press("a")
    expect(gail.locator("h1")).to_contain_text("Tom Becker")
    assert served.run(lambda: type(first).objects.get(pk=first.pk).assignee_id) == push["gail"].pk
    expect(gail.locator("#live-state")).to_have_text("Live")

    # when a second case is offered with a short time and nobody answers
    Queue.objects.filter(pk=push["billing"].pk).update(offer_seconds=2)
    served.run(lambda: CaseFactory(queue=push["billing"], customer_name="Ada Park"))
    served.run(lambda: assignment.queue_assign(queue_id=push["billing"].pk))
    expect(gus.locator(".offer")).to_contain_text("Ada Park")
    expect(gus.locator(".offer [data-slot=seconds]")).to_have_text("0", timeout=6_000)
    served.run(assignment.assignment_sweep)

    # then it times out on Gus's page and goes to Gail, on the case page she is working
    expect(gus.locator(".offer")).to_have_count(0)
    expect(gail.locator(".offer")).to_contain_text("Ada Park")
    gail.screenshot(path=str(SHOTS / "offer-case-page-1440.png"))
    kinds = served.run(lambda: sorted(Offer.objects.values_list("state", flat=True)))
    assert kinds == ["accepted", "declined", "pending", "timed_out"]
    # and Gus's page says so, rather than the banner just vanishing
    missed = gus.locator(".offer-missed")
    expect(missed).to_contain_text("was not answered in time: it goes to the next free agent")
    expect(missed.locator("[data-slot=away]")).to_be_hidden()


def test_an_agent_set_away_by_missed_offers_is_told_why_and_back_with_one_key(
    browser,
    served,  # noqa: F811
    push,
):
    # given a queue that sets an agent away at their first miss, and Gus alone online
    Queue.objects.filter(pk=push["billing"].pk).update(offer_seconds=1, misses_before_away=1)
    gus = open_page(browser, served, "gus", "/queues/billing/", 390)
    served.run(lambda: CaseFactory(queue=push["billing"], customer_name="Ada Park"))
    served.run(lambda: assignment.queue_assign(queue_id=push["billing"].pk))
    expect(gus.locator(".offer")).to_contain_text("Ada Park")

    # when the offer times out
    time.sleep(1.2)
    served.run(assignment.assignment_sweep)

    # then his page says the case went on, that he is away and how to come back
    missed = gus.locator(".offer-missed")
    expect(missed).to_contain_text("was not answered in time")
    expect(missed.locator("[data-slot=away]")).to_be_visible()
    expect(missed).to_contain_text("Unanswered offers set you to Away")
    expect(gus.locator("#agent-state-select")).to_have_value("away")
    gus.screenshot(path=str(SHOTS / "set-away-390.png"))

    # and one key brings him back online, which takes the note away
    gus.locator("main").focus()
    gus.keyboard.press("p")
    expect(gus.locator("#agent-state-select")).to_have_value("online")
    expect(missed).to_have_count(0)


def test_reloading_the_page_keeps_a_pending_offer(browser, served, push):  # noqa: F811
    # given an offer on Gus's page
    gus = open_page(browser, served, "gus", "/queues/billing/", 1280)
    served.run(lambda: CaseFactory(queue=push["billing"], customer_name="Ada Park"))
    (offer,) = served.run(lambda: assignment.queue_assign(queue_id=push["billing"].pk))
    expect(gus.locator(".offer")).to_contain_text("Ada Park")

    # when he reloads (the socket closes before the next page's opens), and the closing's task
    # runs after its grace, as the worker would
    gus.reload()
    expect(gus.locator("#live-state")).to_have_text("Live")
    served.run(lambda: assignment.agent_left(push["gus"].pk))

    # then the offer is still his, on the new page
    expect(gus.locator(".offer")).to_contain_text("Ada Park")
    assert served.run(lambda: Offer.objects.get(pk=offer.pk).state) == Offer.State.PENDING


def test_the_console_shows_whom_a_waiting_case_is_offered_to_live(browser, served, push):  # noqa: F811
    # given a supervisor watching the push queue, and Gus and Gail online
    UserFactory(username="sue", first_name="Sue", role="supervisor")
    sue = open_page(browser, served, "sue", "/console/billing/", 390)
    gus = open_page(browser, served, "gus", "/queues/billing/", 1280)
    gail = open_page(browser, served, "gail", "/queues/billing/", 1280)

    # when a case is offered to Gus (he has the most room)
    case = served.run(lambda: CaseFactory(queue=push["billing"], customer_name="Tom Becker"))
    served.run(lambda: assignment.queue_assign(queue_id=push["billing"].pk))
    expect(gus.locator(".offer")).to_contain_text("Tom Becker")

    # then the console says so, without a reload
    row = sue.locator("#console-cases tr", has_text=f"#{case.pk}")
    expect(row.locator(".offered-to")).to_have_text("offered to Gus")
    expect(row).to_contain_text("Waiting")
    sue.screenshot(path=str(SHOTS / "console-offered-390.png"))

    # when Gus declines and the case goes to Gail, who accepts
    gus.keyboard.press("d")
    wait_for(lambda: served.run(lambda: Offer.objects.filter(state="declined").count()) == 1)
    expect(row.locator(".offered-to")).to_have_count(0)
    served.run(lambda: assignment.queue_assign(queue_id=push["billing"].pk))
    expect(row.locator(".offered-to")).to_have_text("offered to Gail")
    gail.keyboard.press("a")

    # then the console shows the case as hers, with no offer left
    expect(row).to_contain_text("Assigned")
    expect(row.locator(".offered-to")).to_have_count(0)
    expect(row).to_contain_text("Gail")
