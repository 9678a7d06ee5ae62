"""Canned replies in a real browser: a supervisor writes one, watches its preview fill from a
sample case as they type, saves it and finds it listed under its queue with that preview; an
agent has no way in."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in
from tests.factories import MembershipFactory, QueueFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_supervisor_creates_a_reply_and_sees_it_listed_with_its_preview(
    new_page: Any, live_server: Any
) -> None:
    # given a supervisor and a Billing queue
    billing = QueueFactory(slug="billing", name="Billing")
    UserFactory(username="maya", first_name="Maya", role="supervisor")
    page = new_page()
    log_in(page, live_server, "maya")

    # when they open Replies from the top bar and write a reply for Billing
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Saved replies").click()
    expect(page.get_by_role("heading", name="Saved replies")).to_be_visible()
    page.get_by_role("link", name="New reply").first.click()
    page.get_by_label("Name").fill("Refund timeline")
    page.get_by_label("Queue").select_option(label="Billing")
    page.get_by_label("Body").fill(
        "Hi {{customer.first_name}}, the refund for order {{facts.order_id}} "
        "arrives in 5-10 days. Tracking: {{facts.tracking_number}}"
    )

    # then the preview fills the placeholders from the sample case, and names what is missing
    preview = page.locator("#canned-preview")
    expect(preview).to_contain_text("Hi Ana, the refund for order A-1009 arrives in 5-10 days.")
    expect(preview).to_contain_text("[tracking_number?]")
    expect(preview.locator(".canned-missing")).to_contain_text("facts.tracking_number")

    # when they save it
    page.get_by_role("button", name="Save reply").click()

    # then the list says so and shows it under Billing with its filled preview and no uses yet
    expect(page.locator(".flash")).to_contain_text("Saved “Refund timeline”")
    group = page.locator("section.canned-group", has=page.get_by_role("heading", name="Billing"))
    row = group.locator("tr", has_text="Refund timeline")
    expect(row).to_contain_text("Hi Ana, the refund for order A-1009 arrives in 5-10 days.")
    expect(row.locator("td.num").first).to_have_text("0")
    # and it is the Billing queue's, as its edit page says
    row.get_by_role("link", name="Refund timeline").click()
    expect(page.get_by_label("Queue")).to_have_value(str(billing.pk))


def test_a_mistake_in_a_placeholder_is_shown_beside_the_text(
    new_page: Any, live_server: Any
) -> None:
    UserFactory(username="maya", first_name="Maya", role="supervisor")
    page = new_page()
    log_in(page, live_server, "maya")

    page.goto(f"{live_server.url}/canned/new/")
    page.get_by_label("Name").fill("Greeting")
    page.get_by_label("Body").fill("Hi {{customer.frist_name}}")
    page.get_by_role("button", name="Save reply").click()

    expect(page.get_by_role("alert")).to_contain_text("Unknown placeholder {{customer.frist_name}}")
    expect(page.get_by_label("Body")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Body")).to_have_value("Hi {{customer.frist_name}}")
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("main")).to_contain_text("No saved replies yet")


def test_an_agent_has_no_replies_link_and_gets_the_403_page(
    new_page: Any, live_server: Any
) -> None:
    MembershipFactory(agent=UserFactory(username="sam", role="agent"))
    page = new_page()
    log_in(page, live_server, "sam")

    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Saved replies")
    ).to_have_count(0)
    response = page.goto(f"{live_server.url}/canned/")

    assert response is not None and response.status == 403
    expect(page.locator("main")).not_to_contain_text("Saved replies")
