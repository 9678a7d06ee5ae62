"""Return to bot in the browser (issue 16, item 3), at 390 px and with the keyboard only: the
agent holding the case opens "Return to bot" with b, a wrong intent is said beside the form with
the note kept, the return leaves the case closed and the bot told; the conversation coming
back the same day opens a case marked as a bounce-back that shows the note."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from cases.models import Case, Delivery
from tests.e2e.conftest import api_post, log_in
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory, full_package

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
SHOTS = os.environ.get("RETURN_TO_BOT_SHOTS", "")  # a folder: screenshots for a person to look at


@pytest.fixture
def desk(live_server: Any) -> dict[str, Any]:
    queue = QueueFactory(slug="general", name="General", is_default=True, sla_seconds=900)
    integration = IntegrationFactory(name="web-bot", callback_url="https://bot.example.com/hook")
    MembershipFactory(queue=queue, agent__username="ana", agent__first_name="Ana")
    MembershipFactory(queue=queue, agent__username="ben", agent__first_name="Ben")

    def api(path: str, body: Any) -> Any:
        return api_post(live_server, integration.raw_key, path, body)

    return {"queue": queue, "api": api}


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def shot(page: Any, name: str, near: str) -> None:
    """The screen a person would see around ``near`` (a selector)."""
    if SHOTS:
        page.locator(near).first.scroll_into_view_if_needed()
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"))


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_an_agent_returns_the_conversation_to_the_bot_by_keyboard_on_a_phone(
    phone, live_server, desk
):
    page = phone
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/cases/{case_id}/")
    page.wait_for_load_state("load")

    # given: nothing to return before the case is hers
    expect(page.locator("details.return-to-bot")).to_have_count(0)
    page.keyboard.press("c")
    expect(page.locator(".alert.ok")).to_have_text("You have this case.")

    # when: b opens the form with the caret in the note; a wrong intent is refused
    page.keyboard.press("b")
    expect(page.locator("details.return-to-bot")).to_have_attribute("open", "")
    expect(page.locator("#return-note")).to_be_focused()
    page.keyboard.type("Refund issued for A-1009. Ask if anything else is needed.")
    page.keyboard.press("Tab")
    expect(page.locator("#return-intent")).to_be_focused()
    page.keyboard.type("Not An Intent")
    page.keyboard.press("Enter")

    # then: said beside the form, the note kept, nothing returned
    error = page.locator(".return-to-bot .field-error")
    expect(error).to_contain_text("is not an intent name")
    expect(page.locator("#return-intent")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#return-note")).to_have_value(
        "Refund issued for A-1009. Ask if anything else is needed."
    )
    assert Case.objects.get(pk=case_id).status == Case.Status.ASSIGNED
    assert fits(page)
    shot(page, "1-refused-intent", ".return-to-bot")

    # when: the intent is put right and the form sent from its button
    page.locator("#return-intent").focus()
    page.keyboard.press("Control+a")
    page.keyboard.type("billing.refund")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Return to bot")).to_be_focused()
    page.keyboard.press("Enter")

    # then: the case is closed, says how it ended, and the bot is told
    expect(page.locator(".alert.ok")).to_have_text(
        "Returned to the bot with your note: the case has left the queue."
    )
    expect(page.locator(".case-state")).to_have_text("Returned to the bot")
    expect(page.locator(".actions")).to_contain_text("just now by Ana, to resume billing.refund.")
    expect(page.locator(".return-note")).to_have_text(
        "Note for the bot: “Refund issued for A-1009. Ask if anything else is needed.”"
    )
    expect(page.locator("details.return-to-bot")).to_have_count(0)
    expect(page.locator("#compose-form")).to_have_count(0)
    assert fits(page)
    shot(page, "2-returned", ".case-head")
    case = Case.objects.get(pk=case_id)
    assert case.status == Case.Status.RETURNED and case.held_by is None
    told = Delivery.objects.get(case=case, kind="case.returned_to_bot").payload["data"]
    assert told["note"] == "Refund issued for A-1009. Ask if anything else is needed."
    assert told["intent"] == "billing.refund"

    # when: the bot hands the same conversation off again the same day
    again = desk["api"]("/api/v1/handoffs", full_package()).json()
    page.goto(f"{live_server.url}/cases/{again['case_id']}/")
    page.wait_for_load_state("load")

    # then: a new case, marked as a bounce-back, with the note the bot was given
    assert again["case_id"] != case_id and again["previous_case_id"] == case_id
    expect(page.locator(".glance")).to_contain_text(
        f"Bounced back: returned to the bot on #{case_id} just now"
    )
    expect(page.locator(".previous")).to_contain_text(
        "Their note for the bot: “Refund issued for A-1009. Ask if anything else is needed.”"
    )
    assert fits(page)
    shot(page, "3-bounce-back", ".glance")
    shot(page, "4-bounce-back-previous", ".previous")
