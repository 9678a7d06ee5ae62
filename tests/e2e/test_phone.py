"""On a phone (390 px wide, touch only) every page of the desk fits the screen, the top bar keeps
the navigation, the live state, the user's name and Sign out in reach, and no keyboard hint is
shown; on a desktop the hints are there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Case, Delivery, DeliveryAttempt
from demo.models import InboxMessage
from queues import services as routing
from tests.e2e.conftest import api_post, log_in
from tests.factories import (
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
    full_package,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
# Top-bar links that lead out of the desk's own pages (Django's admin, the API's docs).
NOT_DESK_PAGES = {"Admin", "API"}


@pytest.fixture
def desk(live_server: Any) -> dict[str, Any]:
    """A small day: a flagged handoff with a long conversation, a published rule set and its
    draft, a dead callback with its attempts, what the demo bot's customer was told."""
    billing = QueueFactory(slug="billing", name="Billing", is_default=True)
    QueueFactory(slug="vip", name="VIP")
    access = QueueFactory(slug="account_access", name="Account access")
    MembershipFactory(
        queue=billing, agent__username="sam", agent__first_name="Sam", agent__last_name="Okafor"
    )
    for queue in (access, QueueFactory(slug="technical", name="Technical")):
        MembershipFactory(queue=queue, agent__username="sam")
    # Full names and several queues each, as in the demo: the console's pickers name them all.
    MembershipFactory(
        queue=billing, agent__username="riley", agent__first_name="Riley", agent__last_name="Chen"
    )
    UserFactory(username="maya", first_name="Maya", last_name="Lindqvist", role="supervisor")
    admin = UserFactory(username="ada", first_name="Ada", last_name="Park", role="admin")
    integration = IntegrationFactory(name="web-bot")
    rules = [
        {
            "name": "VIP customers",
            "conditions": {"any": [{"field": "customer.tier", "op": "in", "value": ["vip"]}]},
            "queue": "vip",
            "priority": 2,
        }
    ]
    routing.rule_set_publish(
        ruleset=routing.rule_set_create_draft(rules=rules, author=admin), publisher=admin
    )
    rule = routing.rule_set_draft(author=admin).rules.get()
    said = [
        ("customer", "I was charged twice for my family plan renewal this morning."),
        ("bot", "I can help with refunds. Can you give me the order number?"),
        ("customer", "It is A-1009, the receipt came to ana.ruiz.family@example.com"),
        ("bot", "I could not find a refundable charge on that order."),
        ("customer", "Then I will file a chargeback with my bank. I want a human."),
    ]
    transcript = [
        {"id": f"m{n}", "role": role, "text": text, "at": f"2026-11-20T10:0{n}:00Z"}
        for n, (role, text) in enumerate(said)
    ]
    response = api_post(
        live_server,
        integration.raw_key,
        "/api/v1/handoffs",
        full_package(transcript=transcript),
    )
    assert response.status_code == 201, response.text
    case = Case.objects.get()
    dead = Delivery.objects.create(
        case=case,
        integration=integration,
        kind="agent.message",
        payload={"text": "Hi"},
        state=Delivery.State.DEAD,
        attempts=2,
        last_status=500,
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    for number in (1, 2):
        DeliveryAttempt.objects.create(
            delivery=dead, number=number, status=500, latency_ms=120, response="upstream down"
        )
    InboxMessage.objects.create(
        webhook_id="msg_demo_1",
        integration_id=integration.pk,
        external_id=case.external_id,
        kind="agent.message",
        text="Hi Ana, I am looking at the double charge now.",
        payload={},
    )
    return {"case": case.pk, "rule": rule.pk}


# name, who (None: signed out), path, the status the page answers with
PAGES: list[tuple[str, str | None, str, int]] = [
    ("sign-in", None, "/login/", 200),
    ("home", "sam", "/", 200),
    ("queue", "sam", "/queues/billing/", 200),
    ("case", "sam", "/cases/{case}/", 200),
    ("demo bot inbox", "sam", "/demo/bot/", 200),
    ("not found", "sam", "/no-such-page/", 404),
    ("forbidden", "sam", "/console/", 403),
    ("console", "maya", "/console/", 200),
    ("console queue", "maya", "/console/billing/", 200),
    ("metrics", "maya", "/metrics/", 200),
    ("routing editor", "ada", "/routing/", 200),
    ("rule form", "ada", "/routing/rules/{rule}/", 200),
    ("new rule", "ada", "/routing/rules/new/", 200),
    ("rule versions", "ada", "/routing/versions/", 200),
    ("callbacks", "ada", "/deliveries/?show=all", 200),
]


@pytest.fixture
def phone(browser: Any, live_server: Any) -> Iterator[Callable[..., Any]]:
    """A page in a phone's context: 390 px, touch only (no hover, a coarse pointer)."""
    contexts = []

    def make(who: str | None = None, touch: bool = True) -> Any:
        context = browser.new_context(viewport=PHONE, is_mobile=touch, has_touch=touch)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        if who:
            log_in(page, live_server, who)
        return page

    yield make
    for context in contexts:
        context.close()


# Boxes that scroll sideways with nothing focusable inside: each must be a focusable, named
# region, or a keyboard user never sees what is past its edge (the metrics tables once were not).
UNREACHABLE_SCROLLERS = """() => [...document.querySelectorAll('body *')].filter(box => {
  const overflow = getComputedStyle(box).overflowX;
  if (!['auto', 'scroll'].includes(overflow)) return false;
  if (box.scrollWidth <= box.clientWidth + 1) return false;
  if (box.querySelector('a[href], button, input, select, textarea, summary')) return false;
  const named = box.getAttribute('aria-label') || box.getAttribute('aria-labelledby');
  return !(box.tabIndex >= 0 && box.getAttribute('tabindex') !== null && named);
}).map(box => box.outerHTML.slice(0, 80))"""


def phone_problems(page: Any, signed_in: bool) -> list[str]:
    """What a person on a 390 px touch screen would trip over on the page shown."""
    problems = []
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        problems.append(f"the page is {width} px wide ({width - PHONE['width']} px too wide)")
    problems += [
        f"a box scrolls sideways with no way in by keyboard or no name: {box}"
        for box in page.evaluate(UNREACHABLE_SCROLLERS)
    ]
    hints = page.locator("kbd:visible, .shortcuts:visible, .key-hint:visible")
    if hints.count():
        problems.append(f"{hints.count()} keyboard hints shown on a touch screen")
    # what a hidden key leaves behind: "Claim this case () to reply", "+ sends"
    text = page.locator("body").inner_text()
    problems += [f"{left!r} left of a hidden key" for left in ("()", "\n+ ") if left in text]
    if signed_in:
        bar = page.locator("header.topbar")
        wanted = [
            ("the brand", bar.locator(".brand")),
            ("the live state", bar.locator("#live-state")),
            ("the user's name", bar.locator(".who .name")),
            ("Sign out", bar.get_by_role("button", name="Sign out")),
            *((f"the {link.inner_text()!r} link", link) for link in bar.locator("nav a").all()),
        ]
        for what, element in wanted:
            box = element.bounding_box() if element.count() == 1 else None
            if not box or not element.is_visible():
                problems.append(f"{what} is not shown")
            elif box["x"] < 0 or box["x"] + box["width"] > PHONE["width"] or box["y"] < 0:
                problems.append(
                    f"{what} is off the screen (x {box['x']:.0f}-{box['x'] + box['width']:.0f})"
                )
    return problems


@pytest.mark.parametrize(("name", "who", "path", "status"), PAGES, ids=[p[0] for p in PAGES])
def test_a_page_fits_a_phone_with_the_top_bar_in_reach_and_no_key_hints(
    phone: Any,
    live_server: Any,
    desk: dict[str, Any],
    name: str,
    who: str | None,
    path: str,
    status: int,
) -> None:
    # given someone who may open this page, on a phone
    page = phone(who)

    # when they open it
    response = page.goto(live_server.url + path.format(**desk))
    assert response is not None and response.status == status

    # then it fits the screen, with the top bar in reach and no keyboard hint
    problems = phone_problems(page, signed_in=who is not None)
    assert problems == [], f"{name}: {problems}"


@pytest.mark.parametrize("who", ["sam", "maya", "ada"])
def test_every_page_in_the_top_bar_fits_a_phone(
    phone: Any, live_server: Any, desk: dict[str, Any], who: str
) -> None:
    """Pages added to the navigation later (canned replies, ...) are held to the same rule."""
    page = phone(who)
    links = [
        (link.inner_text(), link.get_attribute("href"))
        for link in page.locator("header.topbar nav a").all()
        if link.inner_text() not in NOT_DESK_PAGES
    ]
    assert links
    failing = {}
    for text, href in links:
        page.goto(live_server.url + href)
        if problems := phone_problems(page, signed_in=True):
            failing[f"{text} ({href})"] = problems
    assert failing == {}


@pytest.mark.parametrize("path", ["/queues/billing/", "/cases/{case}/"])
def test_keyboard_hints_show_where_a_keyboard_is_and_only_there(
    browser: Any, phone: Any, live_server: Any, desk: dict[str, Any], path: str
) -> None:
    # given the same page on a desktop (mouse and keyboard) and on a touch-only phone
    desktop = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        laptop = desktop.new_page()
        log_in(laptop, live_server, "sam")
        touch = phone("sam")

        # when each opens it
        laptop.goto(live_server.url + path.format(**desk))
        touch.goto(live_server.url + path.format(**desk))

        # then the desktop shows the shortcuts and the phone shows none of them
        expect(laptop.locator("kbd").first).to_be_visible()
        expect(laptop.locator(".shortcuts")).to_be_visible()
        expect(touch.locator("kbd").first).to_be_attached()
        expect(touch.locator("kbd:visible")).to_have_count(0)
        expect(touch.locator(".shortcuts")).to_be_hidden()
    finally:
        desktop.close()


@pytest.mark.parametrize("touch", [True, False], ids=["touch", "keyboard"])
def test_the_reply_and_note_switch_sits_on_one_row_on_a_phone(
    phone: Any, live_server: Any, desk: dict[str, Any], touch: bool
) -> None:
    # given an agent on a 390 px screen who claimed the case, so the composer is open
    page = phone("sam", touch=touch)
    page.goto(live_server.url + f"/cases/{desk['case']}/")
    page.get_by_role("button", name="Claim").click()
    modes = page.locator("#compose-form .mode-switch .mode")
    expect(modes).to_have_count(2)

    # then "Reply to the customer" and "Internal note" sit side by side, as tall as each other:
    # which of the two the text goes to never wraps out of sight (it once took two rows)
    reply, note = (modes.nth(i).bounding_box() for i in (0, 1))
    assert reply is not None and note is not None
    assert reply["y"] == note["y"], (reply, note)
    assert reply["height"] == note["height"], (reply, note)
    assert note["x"] + note["width"] <= PHONE["width"]
