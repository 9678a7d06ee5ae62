"""Business hours in a real browser, on a phone and by keyboard: an admin sets a queue's hours;
a handoff arriving outside them is told when the team is back, its row says "after hours" on the
agents' queue page, the console alerts the supervisor live, and the case page shows what the
customer read."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Case, Delivery
from queues.models import Queue
from tests.e2e.conftest import api_post, log_in
from tests.e2e.test_console import Served, served  # noqa: F401 (the desk under uvicorn)
from tests.factories import (
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
    full_package,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/hours16")
PHONE = 390


def phone_page(browser: Any, server: Any, username: str, path: str) -> Any:
    context = browser.new_context(viewport={"width": PHONE, "height": 844})
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, server, username)
    page.goto(f"{server.url}{path}")
    expect(page.locator("#live-state")).to_have_text("Live")
    return page


def tab_to(page: Any, selector: str, most: int = 80) -> None:
    """Press Tab until the element is focused, as a keyboard user gets there."""
    target = page.locator(selector)
    for _ in range(most):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never took the focus")


def fits(page: Any) -> None:
    if page.evaluate("document.documentElement.scrollWidth") > PHONE:
        shot(page, "too-wide.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


@pytest.fixture
def desk() -> dict[str, Any]:
    billing = QueueFactory(slug="billing", name="Billing", is_default=True, sla_seconds=900)
    gail = MembershipFactory(queue=billing, agent__username="gail", agent__first_name="Gail").agent
    UserFactory(username="sue", first_name="Sue", role="supervisor")
    UserFactory(username="ada", first_name="Ada", role="admin")
    bot = IntegrationFactory(name="hours-bot")
    return {"billing": billing, "gail": gail, "key": bot.raw_key}


def test_an_admin_sets_hours_and_a_handoff_after_them_is_told_when_the_team_is_back(
    browser,
    served: Served,  # noqa: F811 (the fixture)
    desk,
):
    # given: the admin on the queue's console page, on a phone
    ada = phone_page(browser, served, "ada", "/console/billing/")
    expect(ada.locator("[data-hours]")).to_contain_text("Open around the clock.")

    # when: by keyboard, they open the business hours and set 09:00-17:00 every day in Berlin,
    # with this whole week as holidays (closed now, whenever this runs)
    tab_to(ada, "[data-hours] a")
    ada.keyboard.press("Enter")
    ada.wait_for_url(f"{served.url}/console/billing/hours/")
    fits(ada)
    tab_to(ada, "#id_time_zone")
    ada.keyboard.type("Europe/Berlin")
    expect(ada.locator("#id_time_zone")).to_have_value("Europe/Berlin")
    for day in range(7):
        # Chromium's time field: hours, minutes, then AM or PM, as a keyboard user types it
        tab_to(ada, f"#id_opens_{day}")
        ada.keyboard.type("0900A")
        tab_to(ada, f"#id_closes_{day}")
        ada.keyboard.type("0500P")
    expect(ada.locator("#id_opens_0")).to_have_value("09:00")
    expect(ada.locator("#id_closes_6")).to_have_value("17:00")
    # every time shows whole, AM and PM included: at first they were cut at this width, in
    # fields 100 px wide; "09:00 AM" and the clock icon need about 110
    narrow = ada.locator("input[type=time]").evaluate_all(
        "inputs => inputs.filter(i => i.getBoundingClientRect().width < 110).map(i => i.id)"
    )
    assert narrow == []
    today = timezone.now().date()
    tab_to(ada, "#id_holidays")
    ada.keyboard.type("\n".join((today + timedelta(days=n)).isoformat() for n in range(-1, 8)))
    shot(ada, "hours-form-390.png")
    tab_to(ada, "button.primary")
    ada.keyboard.press("Enter")
    shot(ada, "hours-after-save-390.png")

    # then: the console says the queue is closed and when it is back, in Berlin time
    ada.wait_for_url(f"{served.url}/console/billing/")
    hours = ada.locator("[data-hours]")
    expect(hours).to_contain_text("Closed now")
    expect(hours).to_contain_text("09:00 (Europe/Berlin time)")
    queue = Queue.objects.get(slug="billing")
    assert queue.time_zone == "Europe/Berlin" and len(queue.business_hours) == 7
    fits(ada)

    # given: an agent on the queue page and the supervisor on the console, both live
    gail = phone_page(browser, served, "gail", "/queues/billing/")
    expect(gail.locator("[data-hours]")).to_contain_text("Closed now")
    sue = phone_page(browser, served, "sue", "/console/")
    expect(sue.locator("#console-table")).to_contain_text("closed")

    # when: a handoff arrives
    answer = api_post(served, desk["key"], "/api/v1/handoffs", full_package())

    # then: the bot is told the team is away, with the message for the customer
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["team_away"] == "closed"
    assert "(Europe/Berlin time)" in body["customer_message"]
    assert "continue by email at ana@example.com" in body["customer_message"]
    case_id = body["case_id"]
    assert Case.objects.get(pk=case_id).status == Case.Status.WAITING

    # the supervisor is alerted live, naming the case
    alert = sue.locator(f"#desk-alerts .sla-alert[data-case='{case_id}']")
    expect(alert).to_contain_text(
        re.compile(rf"Team away, customer told: case #{case_id} in Billing, still waiting\.")
    )
    fits(sue)
    shot(sue, "console-alert-390.png")

    # the agent's queue shows the new case, marked after hours
    row = gail.locator(f"#case-row-{case_id}")
    expect(row).to_contain_text("after hours")
    fits(gail)
    shot(gail, "queue-after-hours-390.png")

    # and the case page says what the customer read
    tab_to(gail, f"#case-row-{case_id} a")
    gail.keyboard.press("Enter")
    gail.wait_for_url(f"{served.url}/cases/{case_id}/")
    promise = gail.locator(".promise")
    expect(promise).to_contain_text("the team is away (outside hours)")
    expect(promise).to_contain_text("(Europe/Berlin time)")
    expect(promise).to_contain_text("offered to continue by email")
    fits(gail)
    shot(gail, "case-after-hours-390.png")
    assert not Delivery.objects.filter(case_id=case_id, kind="handoff.accepted").exists()


def test_a_mistake_on_the_hours_form_is_shown_by_its_field(
    browser,
    served: Served,  # noqa: F811 (the fixture)
    desk,
):
    ada = phone_page(browser, served, "ada", "/console/billing/hours/")

    # when: Monday gets an opening time and no closing time, and a holiday is no date
    tab_to(ada, "#id_opens_0")
    ada.keyboard.type("0900A")
    tab_to(ada, "#id_holidays")
    ada.keyboard.type("Christmas")
    tab_to(ada, "button.primary")
    ada.keyboard.press("Enter")

    # then: the page says so beside each field, and nothing is saved
    expect(ada.locator(".alert.error")).to_contain_text("Not saved.")
    expect(ada.locator("#id_closes_0_error")).to_have_text(
        "Monday needs both an opening and a closing time, or neither (closed)."
    )
    expect(ada.locator("#id_holidays_error")).to_contain_text("is not a date as YYYY-MM-DD")
    fits(ada)
    shot(ada, "hours-form-errors-390.png")
    assert Queue.objects.get(slug="billing").business_hours == []
