"""Two agents, two browsers, one queue: handoffs and claims show up without a reload."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import api_post, log_in
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory, full_package

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_agents() -> dict[str, Any]:
    queue = QueueFactory(slug="general", name="General", is_default=True)
    MembershipFactory(queue=queue, agent__username="ana", agent__first_name="Ana")
    MembershipFactory(queue=queue, agent__username="ben", agent__first_name="Ben")
    return {"queue": queue, "key": IntegrationFactory(name="live-bot").raw_key}


def test_a_handoff_appears_on_both_queue_pages_and_a_claim_leaves_them(
    new_page, asgi_server, two_agents
):
    pages = {"ana": new_page(), "ben": new_page()}
    for name, page in pages.items():
        log_in(page, asgi_server, name)
        page.goto(f"{asgi_server.url}/queues/general/")
        expect(page.locator("#live-state")).to_have_text("Live")
        expect(page.locator(".empty-row")).to_be_visible()
    expect(pages["ana"].locator("#online")).to_have_text("Online: Ana, Ben")

    # when a bot hands a conversation over
    response = api_post(asgi_server, two_agents["key"], "/api/v1/handoffs", full_package())
    assert response.status_code == 201
    case_id = response.json()["case_id"]

    # then it appears on both pages, no reload, and the figures follow
    for page in pages.values():
        expect(page.locator(f"#case-row-{case_id}")).to_be_visible(timeout=1500)
        expect(page.locator("[data-queue-stat=waiting]")).to_have_text("1")

    # when Ana claims it from its case page
    ana = pages["ana"]
    ana.click(f"#case-row-{case_id} a")
    ana.click("button:has-text('Claim')")
    expect(ana.locator(".alert.ok")).to_have_text("You have this case.")

    # then it leaves Ben's waiting list within a second
    expect(pages["ben"].locator(f"#case-row-{case_id}")).to_have_count(0, timeout=1500)
    expect(pages["ben"].locator("[data-queue-stat=waiting]")).to_have_text("0")


def test_the_case_page_shows_what_others_do_and_keeps_the_draft(new_page, asgi_server, two_agents):
    response = api_post(asgi_server, two_agents["key"], "/api/v1/handoffs", full_package())
    case_id = response.json()["case_id"]
    ben, ana = new_page(), new_page()
    log_in(ben, asgi_server, "ben")
    ben.goto(f"{asgi_server.url}/cases/{case_id}/")
    expect(ben.locator("#live-state")).to_have_text("Live")
    ben.click("button:has-text('Claim')")
    expect(ben.locator(".alert.ok")).to_have_text("You have this case.")
    ben.keyboard.press("n")  # an internal note
    ben.keyboard.type("half-written thought")

    # Ana opens the same case: each sees the other
    log_in(ana, asgi_server, "ana")
    ana.goto(f"{asgi_server.url}/cases/{case_id}/")
    expect(ana.locator("#viewers")).to_have_text("Ben is viewing this case")
    expect(ben.locator("#viewers")).to_have_text("Ana is viewing this case")

    # a customer message arrives through the API
    api_post(
        asgi_server,
        two_agents["key"],
        f"/api/v1/cases/{case_id}/messages",
        {"text": "Are you still there?"},
    )

    expect(ben.locator(".messages")).to_contain_text("Are you still there?", timeout=1500)
    expect(ben.locator("#case-news")).to_contain_text("customer wrote")
    # the draft, its mode and the caret survive the refresh: typing goes on in the same note
    expect(ben.locator("#compose-text")).to_have_value("half-written thought")
    expect(ben.locator("input[name=mode][value=note]")).to_be_checked()
    ben.keyboard.type(", more")
    expect(ben.locator("#compose-text")).to_have_value("half-written thought, more")
    # and the refresh replaced the case, not the page: one top bar, one case
    expect(ben.locator("header.topbar")).to_have_count(1)
    expect(ben.locator("#case-main")).to_have_count(1)
