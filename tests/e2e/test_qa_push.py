"""QA of push assignment as its users meet it (issue 17): an agent changing presence with the
keyboard alone, the offer banner beside the controls an agent needs, and what a supervisor reads
of presence on the console. Each test failed before the fix it comes with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cases.models import AgentStatus
from queues.models import Queue
from tests.e2e.test_assignment import open_page, wait_for
from tests.e2e.test_console import served  # noqa: F401 - the fixture
from tests.factories import MembershipFactory, QueueFactory, UserFactory

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

    # when they step through the menu with the arrow keys, each step is saved
    gus.keyboard.press("ArrowDown")
    wait_for(lambda: chosen(served, push["gus"].pk) == "away")

    # then the menu they are using is still the one focused, so the next step works too
    expect(gus.locator("#agent-state")).to_have_attribute("data-chosen", "away")
    expect(gus.locator("[data-state-select]")).to_be_focused()
    gus.keyboard.press("ArrowDown")
    wait_for(lambda: chosen(served, push["gus"].pk) == "offline")
    expect(gus.locator("[data-state-select]")).to_be_focused()
    gus.keyboard.press("ArrowUp")
    gus.keyboard.press("ArrowUp")
    wait_for(lambda: chosen(served, push["gus"].pk) == "online")
    expect(gus.locator("#agent-state")).to_have_attribute("data-chosen", "online")
    # and Esc leaves the menu, so the next letter is a shortcut again (p: away)
    gus.keyboard.press("Escape")
    gus.keyboard.press("p")
    wait_for(lambda: chosen(served, push["gus"].pk) == "away")
    assert gus.locator("header.topbar").count() == 1
    assert gus.locator("#agent-state").count() == 1
