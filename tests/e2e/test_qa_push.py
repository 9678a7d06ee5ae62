"""QA of push assignment as its users meet it (issue 17): an agent changing presence with the
keyboard alone, the offer banner beside the controls an agent needs, and what a supervisor reads
of presence on the console. Each test failed before the fix it comes with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cases.models import AgentStatus
from cases.services import assignment
from queues.models import Queue
from tests.e2e.test_assignment import open_page
from tests.e2e.test_console import served  # noqa: F401 - the fixture
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/qa-push")


@pytest.fixture
def push() -> dict[str, Any]:
    billing = QueueFactory(slug="billing", name="Billing", is_default=True)
    Queue.objects.filter(pk=billing.pk).update(assignment_mode="push", offer_seconds=60)
    general = QueueFactory(slug="general", name="General")
    gus = MembershipFactory(
        queue=billing, capacity=3, agent__username="gus", agent__first_name="Gus"
    ).agent
    MembershipFactory(queue=general, agent=gus, capacity=3)
    UserFactory(username="sue", first_name="Sue", role="supervisor")
    return {"billing": billing, "general": general, "gus": gus}


def chosen(server: Any, user_id: int) -> str:
    return str(server.run(lambda: AgentStatus.objects.get(user_id=user_id).chosen))


def boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_presence_menu_keeps_the_keyboard_focus(browser, served, push):  # noqa: F811
    # given an agent on their desk, online, with the status menu focused from the keyboard
    gus = open_page(browser, served, "gus", "/", 1280)
    menu = gus.locator("[data-state-select]")
    for _ in range(20):
        gus.keyboard.press("Tab")
        if menu.evaluate("element => element === document.activeElement"):
            break
    expect(menu).to_be_focused()

    # when they step through the menu with the arrow keys, each step is saved (the control the
    # desk sends back says so; the database is read once at the end, as a read during a write
    # locks the tests' in-memory SQLite)
    state = gus.locator("#agent-state")
    gus.keyboard.press("ArrowDown")
    expect(state).to_have_attribute("data-chosen", "away")

    # then the menu they are using is still the one focused, so the next step works too
    expect(gus.locator("[data-state-select]")).to_be_focused()
    gus.keyboard.press("ArrowDown")
    expect(state).to_have_attribute("data-chosen", "offline")
    expect(gus.locator("[data-state-select]")).to_be_focused()
    gus.keyboard.press("ArrowUp")
    expect(state).to_have_attribute("data-chosen", "away")
    gus.keyboard.press("ArrowUp")
    expect(state).to_have_attribute("data-chosen", "online")
    assert chosen(served, push["gus"].pk) == "online"
    # and Esc leaves the menu, so the next letter is a shortcut again (p: away)
    gus.keyboard.press("Escape")
    gus.keyboard.press("p")
    expect(state).to_have_attribute("data-chosen", "away")
    assert chosen(served, push["gus"].pk) == "away"
    assert gus.locator("header.topbar").count() == 1
    assert gus.locator("#agent-state").count() == 1


def test_offer_banner_leaves_take_next_and_the_page_end_in_reach(browser, served, push):  # noqa: F811
    SHOTS.mkdir(exist_ok=True)
    # given cases waiting in the agent's pull queue, enough to fill a phone's screen
    for number in range(8):
        served.run(
            lambda n=number: CaseFactory(queue=push["general"], customer_name=f"Pat Number{n}")
        )
    wide = open_page(browser, served, "gus", "/", 1280)
    phone = open_page(browser, served, "gus", "/queues/general/", 390)
    padding = "getComputedStyle(document.body).paddingBottom"
    padding_before = phone.evaluate(padding)

    # when a case is offered to the agent from the push queue
    served.run(lambda: CaseFactory(queue=push["billing"], customer_name="Tom Becker"))
    served.run(lambda: assignment.queue_assign(queue_id=push["billing"].pk))
    expect(wide.locator(".offer")).to_contain_text("Tom Becker")
    expect(phone.locator(".offer")).to_contain_text("Tom Becker")
    wide.screenshot(path=str(SHOTS / "offer-home-1280.png"))

    # then, on a wide screen, "Take next case" is not under the banner
    take_next = wide.locator("[data-shortcut=t]").first.bounding_box()
    shelf = wide.locator("#offer-shelf").bounding_box()
    assert take_next is not None and shelf is not None
    assert not boxes_overlap(take_next, shelf), (take_next, shelf)

    # and on a phone, the end of the page scrolls clear of the banner
    phone.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    phone.screenshot(path=str(SHOTS / "offer-queue-end-390.png"))
    last_row = phone.locator("main tbody tr").last.bounding_box()
    shelf = phone.locator("#offer-shelf").bounding_box()
    assert last_row is not None and shelf is not None
    assert last_row["y"] + last_row["height"] <= shelf["y"], (last_row, shelf)
    width = phone.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1]

    # and once the offer is answered, the page is as it was (no room kept for a banner)
    phone.keyboard.press("d")
    expect(phone.locator(".offer")).to_have_count(0)
    expect(wide.locator(".offer")).to_have_count(0)
    assert phone.evaluate(padding) == padding_before


def test_console_names_away_and_hides_presence_from_non_members(browser, served, push):  # noqa: F811
    # given an agent online and a supervisor, who works no queue, on the console
    gus = open_page(browser, served, "gus", "/", 1280)
    sue = open_page(browser, served, "sue", "/console/", 1280)
    chip = sue.locator(f'#console-table .load[data-agent="{push["gus"].pk}"]').first
    expect(chip).to_have_attribute("data-state", "online")

    # when the agent steps away with the shortcut
    gus.keyboard.press("p")

    # then the console shows them away, and its legend says what the amber dot means
    expect(chip).to_have_attribute("data-state", "away")
    expect(sue.locator("main p.muted.small")).to_contain_text("away")
    assert sue.locator("header.topbar").count() == 1
    assert sue.locator("#console-table").count() == 1

    # and the supervisor, in no queue, is offered no status of their own to set
    expect(sue.locator("#agent-state")).to_have_count(0)
    expect(gus.locator("#agent-state")).to_have_count(1)
