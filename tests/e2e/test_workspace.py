"""An agent's day in a real browser: queue, filters, the case page and every action."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cases.models import Case, IntentCorrection
from queues.models import Membership
from tests.e2e.conftest import api_post, log_in
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory, full_package

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# `HANDOFF_SCREENSHOTS=1 pytest tests/e2e` refreshes the README's pictures in docs/.
DOCS = Path(__file__).resolve().parents[2] / "docs"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>{{ 7*7 }}'


@pytest.fixture
def desk(live_server: Any) -> dict[str, Any]:
    queue = QueueFactory(slug="general", name="General", is_default=True, sla_seconds=900)
    key = IntegrationFactory(name="web-bot").raw_key

    def api(path: str, body: Any) -> Any:
        return api_post(live_server, key, path, body)

    ana = MembershipFactory(queue=queue, agent__username="ana", agent__first_name="Ana").agent
    ben = MembershipFactory(queue=queue, agent__username="ben", agent__first_name="Ben").agent
    packages = [
        full_package(),
        full_package(
            external_id="conv-2",
            customer={"id": "c2", "name": "Bo Lindgren", "tier": "bronze"},
            intent={"name": "account.password_reset", "confidence": 0.9},
            trigger={"reason": "customer_request"},
            risk_flags=[],
            facts={"username": "bo.lindgren"},
        ),
    ]
    for package in packages:
        assert api("/api/v1/handoffs", package).status_code == 201
    return {"queue": queue, "api": api, "ana": ana, "ben": ben}


def test_an_agent_works_a_case_from_queue_to_resolution(new_page, live_server, desk, tmp_path):
    shots = DOCS if os.environ.get("HANDOFF_SCREENSHOTS") else tmp_path
    page = new_page()
    log_in(page, live_server, "ana")

    # the queue, filtered in place with a shareable URL
    page.click("text=General")
    page.wait_for_load_state("load")  # htmx is wired up
    expect(page.locator("#case-list tbody tr")).to_have_count(2)
    page.select_option("select[name=intent]", "account.password_reset")
    expect(page.locator("#case-list tbody tr")).to_have_count(1)
    expect(page).to_have_url(
        f"{live_server.url}/queues/general/?q=&intent=account.password_reset&trigger=&flag=&tier="
    )
    page.select_option("select[name=intent]", "")
    # One request at a time: live_server on in-memory SQLite shares one connection.
    expect(page.locator("#case-list tbody tr")).to_have_count(2)
    page.fill("#q", "A-1009")  # a fact value
    expect(page.locator("#case-list tbody tr")).to_have_count(1)
    expect(page.locator("#case-list")).to_contain_text("Ana Ruiz")
    page.fill("#q", "")
    expect(page.locator("#case-list tbody tr")).to_have_count(2)
    page.screenshot(path=str(shots / "queue.png"))

    # the case: everything the bot knew, on one page
    page.click("#case-list >> text=Ana Ruiz")
    page.wait_for_load_state("load")
    expect(page.locator("h1")).to_contain_text("Ana Ruiz")
    expect(page.locator(".case-side")).to_contain_text("refund_lookup")
    expect(page.locator(".case-side")).to_contain_text("A-1009")
    expect(page.locator(".glance")).to_contain_text("Chargeback threat")

    # claim, reply, correct the intent
    page.click("button:has-text('Claim')")
    expect(page.locator(".alert.ok")).to_have_text("You have this case.")
    expect(page.locator(".case-state")).to_contain_text("with you")
    page.fill("#compose-text", "Hi Ana, I can see both charges. Refunding one now.")
    page.click("button:has-text('Send reply')")
    expect(page.locator(".alert.ok")).to_have_text("Reply sent to the customer.")
    expect(page.locator(".messages")).to_contain_text("Refunding one now.")
    page.keyboard.press("i")
    page.fill("#intent-input", "billing.double_charge")
    page.fill("#intent-reason", "charged twice, not a refund request")
    page.click("button:has-text('Save correction')")
    expect(page.locator(".alert.ok")).to_have_text("Intent corrected.")
    expect(page.locator(".case-side")).to_contain_text("Corrected from billing.refund by Ana")
    page.screenshot(path=str(shots / "case.png"), full_page=True)

    # resolving needs a code and the repeat answer
    page.select_option("#resolution", "refund_issued")
    page.check("input[name=customer_repeated][value=no]")
    page.click("button[value=resolve]")
    expect(page.locator("#resolved-banner")).to_contain_text("resolved: Refund issued")

    case = Case.objects.get(external_id="conv-8812")
    assert case.status == "resolved" and case.resolution_code == "refund_issued"
    assert case.customer_repeated is False
    assert IntentCorrection.objects.get(case=case).to_intent == "billing.double_charge"
    assert list(case.events.values_list("kind", flat=True)) == [
        "created",
        "routed",
        "customer_told",
        "conversation_to_agent",  # the claim hands the conversation to Ana (issue 16)
        "claimed",
        "replied",
        "intent_corrected",
        "conversation_to_bot",  # and resolving hands it back to the bot
        "resolved",
    ]


def test_a_second_agent_sees_the_case_is_taken(new_page, live_server, desk):
    case = Case.objects.get(external_id="conv-2")
    ana_page, ben_page = new_page(), new_page()
    log_in(ana_page, live_server, "ana")
    log_in(ben_page, live_server, "ben")
    ana_page.goto(f"{live_server.url}/cases/{case.pk}/")
    ben_page.goto(f"{live_server.url}/cases/{case.pk}/")

    ana_page.click("button:has-text('Claim')")
    expect(ana_page.locator(".alert.ok")).to_be_visible()
    ben_page.click("button:has-text('Claim')")

    expect(ben_page.locator(".alert.error")).to_have_text("Ana has already claimed this case.")
    expect(ben_page.locator(".case-state")).to_contain_text("with Ana")


def test_a_stale_page_gets_a_conflict_and_keeps_the_typed_reply(new_page, live_server, desk):
    case = Case.objects.get(external_id="conv-2")
    page = new_page()
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.click("button:has-text('Claim')")
    expect(page.locator(".alert.ok")).to_be_visible()
    desk["api"](f"/api/v1/cases/{case.pk}/messages", {"text": "hello? still there?"})

    page.fill("#compose-text", "Yes, looking now")
    page.click("button:has-text('Send reply')")

    expect(page.locator(".alert.error")).to_contain_text("Someone changed this case")
    expect(page.locator("#compose-text")).to_have_value("Yes, looking now")
    expect(page.locator(".messages")).to_contain_text("hello? still there?")


def test_customer_supplied_markup_is_shown_as_text_and_never_runs(new_page, live_server, desk):
    package = full_package(external_id="xss", summary=XSS, facts={"order_id": XSS})
    package["customer"]["name"] = XSS
    package["transcript"][0]["text"] = XSS
    package["customer"]["account"] = {"note": "javascript:alert(3)"}
    case_id = desk["api"]("/api/v1/handoffs", package).json()["case_id"]
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, live_server, "ana")

    page.goto(f"{live_server.url}/queues/general/")
    page.goto(f"{live_server.url}/cases/{case_id}/")

    expect(page.locator("h1")).to_contain_text('<script>alert("x")</script>')
    expect(page.locator(".messages")).to_contain_text("{{ 7*7 }}")
    assert page.locator("img[src=x]").count() == 0
    page.wait_for_load_state("load")  # images (and any onerror) have been tried by now
    assert dialogs == []


def test_an_action_the_server_refuses_says_so_and_changes_nothing(new_page, live_server, desk):
    case = Case.objects.get(external_id="conv-2")
    page = new_page()
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    # a supervisor takes Ana out of the queue while her page is open
    Membership.objects.filter(agent=desk["ana"]).delete()

    page.click("button:has-text('Claim')")

    expect(page.locator("#request-failed")).to_be_visible()
    expect(page.locator("#request-failed")).to_contain_text("no longer visible to you")
    expect(page.locator(".case-state")).to_contain_text("Waiting")
    case.refresh_from_db()
    assert case.assignee is None


def test_a_page_left_behind_by_signing_in_again_says_reload_not_forbidden(
    new_page, live_server, desk
):
    case = Case.objects.get(external_id="conv-2")
    page = new_page()
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    # another tab of the same browser ends the session and signs in again: new CSRF token
    page.context.clear_cookies()
    log_in(page.context.new_page(), live_server, "ana")

    page.click("button:has-text('Claim')")

    expect(page.locator("#request-failed")).to_contain_text("This page is out of date")
    case.refresh_from_db()
    assert case.assignee is None
