"""The queue list says enough to pick the next case: the latest customer message, the channel,
why it was escalated and an SLA that counts down live; teammates' assigned and awaiting cases
are a tab away; and the list and the home page fit a phone."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Case, Message
from tests.e2e.conftest import api_post, log_in
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    MessageFactory,
    QueueFactory,
    full_package,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def waiting_case(queue: Any, said: list[str], **fields: Any) -> Case:
    case = CaseFactory(queue=queue, **fields)
    for seq, text in enumerate(said, start=1):
        MessageFactory(case=case, seq=seq, text=text)
    MessageFactory(case=case, seq=len(said) + 1, role=Message.Role.BOT, text="One moment…")
    return case


@pytest.fixture
def desk() -> dict[str, Any]:
    now = timezone.now()
    billing = QueueFactory(slug="billing", name="Billing", sla_seconds=900)
    ana = MembershipFactory(queue=billing, agent__username="ana", agent__first_name="Ana").agent
    ben = MembershipFactory(queue=billing, agent__username="ben", agent__first_name="Ben").agent
    gold = waiting_case(
        billing,
        ["Hi", "I was charged twice for order A-1009 and I will dispute it with my bank"],
        customer_name="Vera Okafor",
        customer_tier="gold",
        channel="web_chat",
        current_intent="billing.double_charge",
        detected_confidence=0.58,
        trigger_reason=Case.Trigger.REPEATED_FAILURE,
        risk_flags=["chargeback_threat"],
        handed_off_at=now - timedelta(minutes=4, seconds=10),
        sla_due_at=now + timedelta(minutes=12, seconds=30),
    )
    late = waiting_case(
        billing,
        ["where is my refund " * 20],
        customer_name="Liam Brennan",
        channel="whatsapp",
        handed_off_at=now - timedelta(minutes=20),
        sla_due_at=now - timedelta(minutes=3, seconds=10),
    )
    held = waiting_case(
        billing,
        ["My invoice shows the wrong VAT number"],
        customer_name="Mia Tanaka",
        channel="email",
        status=Case.Status.ASSIGNED,
        assignee=ben,
        first_claimed_at=now - timedelta(minutes=8),
    )
    awaiting = waiting_case(
        billing,
        ["I will send the receipt tomorrow"],
        customer_name="Noor Haddad",
        channel="web_chat",
        status=Case.Status.AWAITING_CUSTOMER,
        assignee=ana,
        first_claimed_at=now - timedelta(minutes=30),
    )
    elsewhere = CaseFactory(
        queue=QueueFactory(slug="vip", name="VIP"),
        customer_name="Hidden Person",
        status=Case.Status.ASSIGNED,
        assignee=ben,
    )
    return {
        "queue": billing,
        "gold": gold,
        "late": late,
        "held": held,
        "awaiting": awaiting,
        "elsewhere": elsewhere,
    }


def test_a_waiting_row_shows_the_latest_message_channel_and_an_sla_that_ticks(
    new_page, live_server, desk
):
    page = new_page()
    page.clock.install()  # the page's timers, under the test's hand
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/queues/billing/")

    gold = page.locator(f"#case-row-{desk['gold'].pk}")
    expect(gold.locator(".preview")).to_have_text(
        "I was charged twice for order A-1009 and I will dispute it with my bank"
    )
    expect(gold.locator(".channel")).to_have_text("web chat")
    expect(gold).to_contain_text("billing.double_charge 0.58")
    expect(gold).to_contain_text("Repeated failure")
    expect(gold).to_contain_text("chargeback_threat")
    expect(gold).to_contain_text("★ gold")
    sla = gold.locator("time.sla")
    expect(sla).to_have_text("12 min left")
    expect(sla).not_to_have_class(re.compile("overdue"))
    expect(gold.locator("time.waited")).to_have_text("waited 4 min")
    late = page.locator(f"#case-row-{desk['late'].pk}")
    expect(late.locator("time.sla")).to_have_text("3 min over")
    expect(late.locator("time.sla")).to_have_class(re.compile("overdue"))
    expect(late.locator("time.sla")).to_have_css("color", "rgb(180, 35, 24)")  # --danger
    expect(late.locator(".preview")).to_contain_text("where is my refund")

    # when a minute passes, then another fourteen
    page.clock.run_for("01:00")
    expect(sla).to_have_text("11 min left")
    expect(gold.locator("time.waited")).to_have_text("waited 5 min")
    page.clock.run_for("14:00")

    # then the SLA has passed on the page itself, with no reload
    expect(sla).to_have_text("2 min over")
    expect(sla).to_have_class(re.compile("overdue"))
    expect(late.locator("time.sla")).to_have_text("18 min over")


def test_teammates_assigned_and_awaiting_cases_are_a_tab_away(new_page, live_server, desk):
    page = new_page()
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/queues/billing/")
    page.wait_for_load_state("load")
    page.evaluate("window.samePage = true")

    page.click(".view-tabs >> text=Assigned")

    expect(page).to_have_url(f"{live_server.url}/queues/billing/?view=assigned")
    expect(page.locator(".view-tabs [aria-current=page]")).to_have_text("Assigned")
    rows = page.locator("#case-list tbody tr")
    expect(rows).to_have_count(1)
    held = page.locator(f"#case-row-{desk['held'].pk}")
    expect(held).to_contain_text("Mia Tanaka")
    expect(held.locator(".q-assignee")).to_have_text("Ben")
    expect(held.locator(".preview")).to_have_text("My invoice shows the wrong VAT number")
    expect(held.locator(".channel")).to_have_text("email")
    expect(held.locator("time[data-countdown=ago]")).to_have_text(re.compile(r"just now|1 min ago"))
    expect(page.locator("#case-list")).not_to_contain_text("Hidden Person")  # not Ana's queue
    assert page.evaluate("window.samePage") is True  # swapped in place, not reloaded

    page.click(".view-tabs >> text=Awaiting customer")
    expect(page).to_have_url(f"{live_server.url}/queues/billing/?view=awaiting")
    expect(rows).to_have_count(1)
    expect(page.locator(f"#case-row-{desk['awaiting'].pk} .q-assignee")).to_have_text("Ana")

    # a filter keeps the tab, and the shared link opens on it
    page.fill("#q", "nobody-matches")
    expect(page).to_have_url(re.compile(r"view=awaiting"))
    expect(page.locator("#case-list")).to_contain_text("No case matches these filters")
    page.goto(f"{live_server.url}/queues/billing/?view=assigned")
    expect(page.locator(".view-tabs [aria-current=page]")).to_have_text("Assigned")
    expect(page.locator(f"#case-row-{desk['held'].pk}")).to_be_visible()

    page.click(".view-tabs >> text=Waiting")
    expect(rows).to_have_count(2)


def test_a_pushed_row_carries_the_preview_channel_and_a_ticking_sla(new_page, asgi_server):
    queue = QueueFactory(slug="general", name="General", is_default=True, sla_seconds=600)
    MembershipFactory(queue=queue, agent__username="ana", agent__first_name="Ana")
    key = IntegrationFactory(name="live-bot").raw_key
    page = new_page()
    page.clock.install()
    log_in(page, asgi_server, "ana")
    page.goto(f"{asgi_server.url}/queues/general/")
    expect(page.locator("#live-state")).to_have_text("Live")

    # when a bot hands a conversation over
    case_id = api_post(asgi_server, key, "/api/v1/handoffs", full_package()).json()["case_id"]

    # then its row arrives with what the page's own rows show
    row = page.locator(f"#case-row-{case_id}")
    expect(row.locator(".preview")).to_have_text("I was charged twice")
    expect(row.locator(".channel")).to_have_text("web chat")
    expect(row.locator("time.sla")).to_have_text(re.compile(r"^(9|10) min left$"))
    expect(row.locator("time.waited")).to_have_text("waited under 1 min")

    # and the customer's next message replaces the preview
    api_post(asgi_server, key, f"/api/v1/cases/{case_id}/messages", {"text": "Hello??"})
    expect(row.locator(".preview")).to_have_text("Hello??")

    # and it ticks like the others
    page.clock.run_for("11:00")
    expect(row.locator("time.sla")).to_have_text(re.compile(r"^(0|1) min over$|^under 1 min over$"))
    expect(row.locator("time.sla")).to_have_class(re.compile("overdue"))


@pytest.mark.parametrize(
    "path",
    ["/", "/queues/billing/", "/queues/billing/?view=assigned", "/queues/billing/?view=awaiting"],
)
def test_the_queue_and_home_pages_fit_a_phone(new_page, live_server, desk, path):
    page = new_page()
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "ana")

    page.goto(f"{live_server.url}{path}")

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    first = page.locator("#case-list tbody tr, .my-cases tbody tr").first
    box = first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
