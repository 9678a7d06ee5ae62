"""The case page as an agent works it for a shift: the composer that never leaks a note, the
keys that do what they say, a header read in five seconds, a transcript that opens at the end,
the earlier case of a repeat contact, what the customer was promised, and resolving with a
next step. Each test here failed on the page as it was before (83f1930)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import (
    CannedReply,
    CannedReplyUse,
    Case,
    Delivery,
    IntentCorrection,
    Message,
    RiskFlagReview,
)
from tests.e2e.conftest import api_post, log_in
from tests.factories import (
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
    full_package,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def desk(live_server: Any) -> dict[str, Any]:
    queue = QueueFactory(slug="general", name="General", is_default=True, sla_seconds=900)
    integration = IntegrationFactory(name="web-bot", callback_url="https://bot.example.com/hook")
    MembershipFactory(queue=queue, agent__username="ana", agent__first_name="Ana")
    MembershipFactory(queue=queue, agent__username="ben", agent__first_name="Ben")

    def api(path: str, body: Any) -> Any:
        return api_post(live_server, integration.raw_key, path, body)

    return {"queue": queue, "api": api}


def open_case(page: Any, server: Any, case_id: int, user: str = "ana") -> None:
    log_in(page, server, user)
    page.goto(f"{server.url}/cases/{case_id}/")
    page.wait_for_load_state("load")


def claim(page: Any) -> None:
    page.keyboard.press("c")
    expect(page.locator(".alert.ok")).to_have_text("You have this case.")


def focused_id(page: Any) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def test_after_a_reply_n_writes_an_internal_note_that_never_reaches_the_customer(
    new_page, live_server, desk
):
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)
    claim(page)

    # given a reply sent with the keyboard
    page.keyboard.press("r")
    expect(page.locator("#compose-audience .for-reply")).to_have_text("The customer will see this.")
    expect(page.locator("#compose-audience .for-note")).to_be_hidden()
    page.keyboard.type("Hi Ana, I can see both charges. Refunding one now.")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".alert.ok")).to_have_text("Reply sent to the customer.")

    # then the composer is empty and the focus has left it
    expect(page.locator("#compose-text")).to_have_value("")
    assert focused_id(page) != "compose-text"

    # when the agent presses n and writes
    page.keyboard.press("n")
    expect(page.locator("#compose-audience .for-note")).to_contain_text("only agents see this")
    expect(page.locator("#compose-audience .for-reply")).to_be_hidden()
    page.keyboard.type("Refund issued manually in Stripe; ref re_123")
    page.keyboard.press("Control+Enter")

    # then it is an internal note, and the customer got only the reply
    expect(page.locator(".alert.ok")).to_have_text("Internal note added. Only agents see it.")
    expect(page.locator(".msg.role-note")).to_contain_text("Refund issued manually in Stripe")
    texts = dict(Message.objects.filter(case_id=case_id).values_list("role", "text"))
    assert texts["note"] == "Refund issued manually in Stripe; ref re_123"
    assert texts["agent"] == "Hi Ana, I can see both charges. Refunding one now."
    sent = [d.payload["data"].get("text", "") for d in Delivery.objects.filter(case_id=case_id)]
    assert not any("Stripe" in text for text in sent)
    # and the composer stays a note until the agent switches it back
    expect(page.locator("input[name=mode][value=note]")).to_be_checked()


def test_the_composer_is_closed_until_the_case_is_yours(new_page, live_server, desk):
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)

    expect(page.get_by_role("textbox", name="Reply (claim the case first)")).to_be_disabled()
    expect(page.locator(".compose-locked")).to_contain_text("Claim this case")
    page.keyboard.press("r")  # nothing to type into yet: nothing happens
    expect(page.locator("#compose-text")).to_have_count(0)

    claim(page)
    expect(page.locator("#compose-text")).to_be_enabled()


def test_i_puts_the_caret_in_the_intent_field(new_page, live_server, desk):
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)

    page.keyboard.press("i")

    expect(page.locator("#intent-input")).to_be_focused()
    page.keyboard.type("billing.double_charge")
    expect(page.locator("#intent-input")).to_have_value("billing.double_charge")
    page.keyboard.press("Enter")
    expect(page.locator(".alert.ok")).to_have_text("Intent corrected.")


def test_a_long_transcript_opens_at_the_message_to_answer(new_page, live_server, desk):
    start = timezone.now() - timedelta(minutes=40)
    transcript = [
        {
            "id": f"m{n}",
            "role": "customer" if n % 2 == 0 else "bot",
            "text": f"message number {n}: " + "words to fill the line " * 6,
            "at": (start + timedelta(minutes=n)).isoformat(),
        }
        for n in range(31)
    ]
    transcript.append(
        {
            "id": "m31",
            "role": "customer",
            "text": "THE LATEST QUESTION",
            "at": timezone.now().isoformat(),
        }
    )
    case_id = desk["api"]("/api/v1/handoffs", full_package(transcript=transcript)).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)

    latest = page.locator(".msg", has_text="THE LATEST QUESTION")
    expect(latest).to_be_in_viewport()
    expect(latest).to_have_class("msg role-customer latest-customer")
    expect(page.locator("#jump-latest")).to_be_hidden()

    # scrolled back to the start, one click brings the latest back
    page.locator("#messages").evaluate("box => { box.scrollTop = 0; }")
    expect(page.locator("#jump-latest")).to_be_visible()
    page.click("#jump-latest")
    expect(latest).to_be_in_viewport()
    expect(page.locator("#jump-latest")).to_be_hidden()


def test_the_header_says_what_matters_in_the_first_five_seconds(new_page, live_server, desk):
    package = full_package()
    package["customer"]["language"] = "es"
    case_id = desk["api"]("/api/v1/handoffs", package).json()["case_id"]
    Case.objects.filter(pk=case_id).update(
        priority=Case.Priority.URGENT, sla_due_at=timezone.now() - timedelta(minutes=3)
    )
    page = new_page()
    open_case(page, live_server, case_id)

    glance = page.locator(".glance")
    for text in [
        "Urgent priority",
        re.compile(r"SLA 3\s+min(utes)? over"),
        "Chargeback threat",
        "★ gold customer",
        "Speaks Spanish (es)",
    ]:
        expect(glance).to_contain_text(text)
    expect(glance).to_be_in_viewport(ratio=1)
    expect(page.locator(".chip-danger", has_text="Chargeback threat")).to_be_visible()
    expect(page.locator(".why")).to_contain_text("Repeated failure: refund flow failed twice")
    # the missing-field note is no longer the loudest thing on the page
    assert page.locator(".case-head .warning").count() == 0


def test_the_agent_sees_what_the_customer_was_promised(new_page, live_server, desk):
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)

    promise = page.locator(".promise")
    expect(promise).to_contain_text("number 1 in line")
    expect(promise).to_contain_text("wait about")
    expect(promise).to_contain_text("they won't need to repeat anything")
    page.click("text=What the customer read")
    expect(promise.locator("blockquote")).to_contain_text("You won't need to repeat anything")


def test_a_repeat_contact_shows_the_earlier_case_and_carries_its_corrected_intent(
    new_page, live_server, desk
):
    # given an earlier case whose intent an agent corrected, then resolved
    first_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, first_id)
    claim(page)
    page.keyboard.press("i")
    page.keyboard.type("billing.double_charge")
    page.keyboard.press("Enter")
    expect(page.locator(".alert.ok")).to_have_text("Intent corrected.")
    page.select_option("#resolution", "refund_issued")
    page.check("input[name=customer_repeated][value=no]")
    page.click("button[value=resolve]")
    expect(page.locator("#resolved-banner")).to_be_visible()

    # when the same customer comes back in a new conversation
    again = full_package(
        external_id="conv-9001",
        transcript=[
            {
                "id": "n1",
                "role": "customer",
                "text": "Still charged twice!",
                "at": timezone.now().isoformat(),
            }
        ],
    )
    second_id = desk["api"]("/api/v1/handoffs", again).json()["case_id"]
    page.goto(f"{live_server.url}/cases/{second_id}/")

    # then the header warns, the earlier conversation is on the page, its correction offered
    expect(page.locator(".glance")).to_contain_text(f"Repeat contact: came back after #{first_id}")
    previous = page.locator(".previous")
    expect(previous).to_contain_text("Refund issued")
    expect(previous).to_contain_text("billing.double_charge")
    expect(previous.locator(".messages")).to_contain_text("I was charged twice")
    page.click("button:has-text('Use billing.double_charge here too')")
    expect(page.locator(".alert.ok")).to_have_text("Intent corrected.")
    correction = IntentCorrection.objects.get(case_id=second_id)
    assert correction.to_intent == "billing.double_charge"
    assert f"#{first_id}" in correction.reason


def test_send_and_resolve_then_the_desk_offers_the_next_case(new_page, live_server, desk):
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    next_id = desk["api"]("/api/v1/handoffs", full_package(external_id="conv-2")).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)
    claim(page)
    page.mouse.wheel(0, 2000)

    page.fill("#compose-text", "Refunded, you will see it in 3 days. Anything else?")
    page.select_option("#resolution", "refund_issued")
    page.check("input[name=customer_repeated][value=no]")
    page.click("button:has-text('Send and resolve')")

    banner = page.locator("#resolved-banner")
    expect(banner).to_contain_text(f"Case #{case_id} resolved: Refund issued")
    expect(banner).to_be_focused()
    expect(banner).to_be_in_viewport()
    assert page.evaluate("window.scrollY") == 0
    case = Case.objects.get(pk=case_id)
    assert case.status == "resolved"
    assert case.messages.filter(role="agent", text__startswith="Refunded").exists()

    page.keyboard.press("t")  # take the next case
    page.wait_for_url(f"{live_server.url}/cases/{next_id}/")
    expect(page.locator(".case-state")).to_contain_text("with you")


def test_resolving_with_unsent_text_keeps_the_text_and_says_why(new_page, live_server, desk):
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)
    claim(page)

    page.fill("#compose-text", "One more thing")
    page.select_option("#resolution", "solved")
    page.check("input[name=customer_repeated][value=no]")
    page.click("button[value=resolve]")

    expect(page.locator("#compose-error")).to_contain_text("unsent text")
    expect(page.locator("#compose-text")).to_have_value("One more thing")
    assert Case.objects.get(pk=case_id).status == "assigned"


def test_the_no_repeat_guard_shows_what_the_package_holds_before_asking(
    new_page, live_server, desk
):
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)
    claim(page)

    page.keyboard.press("r")
    page.keyboard.type("Could you send me your order number?")
    # while typing: the value is shown
    expect(page.locator("#guard")).to_contain_text("A-1009")
    expect(page.locator("#guard")).to_contain_text("fact from the bot")

    # the first send is held back, the text kept
    page.keyboard.press("Control+Enter")
    expect(page.locator("#guard .guard")).to_contain_text("send again to send the reply as written")
    expect(page.locator("#compose-text")).to_have_value("Could you send me your order number?")
    assert not Message.objects.filter(case_id=case_id, role="agent").exists()

    # rewritten with the value, it goes through without a word from the guard
    page.fill("#compose-text", "I can see order A-1009 and both charges.")
    expect(page.locator("#guard")).to_have_text("")
    page.locator("#compose-text").press("Control+Enter")
    expect(page.locator(".alert.ok")).to_have_text("Reply sent to the customer.")


def test_facts_read_as_words_with_their_currency_and_one_line_copy_buttons(
    new_page, live_server, desk
):
    package = full_package(
        facts={
            "order_id": "A-1009",
            "amount": "49.99",
            "currency": "EUR",
            "tracking_url": "https://track.example.com/" + "x" * 80,
        }
    )
    case_id = desk["api"]("/api/v1/handoffs", package).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)

    facts = page.locator("dl.facts").first
    expect(facts.locator("dt").first).to_have_text("Order ID")
    expect(facts).to_contain_text("€49.99 (EUR)")
    expect(facts).not_to_contain_text("order_id")
    for button in facts.locator("button.copy").all():
        box = button.bounding_box()
        assert box is not None and box["height"] < 30, box  # one line
    page.click("button[aria-label='Copy Amount']")
    expect(page.locator("button[aria-label='Copy Amount']")).to_have_text("Copied")


def test_a_saved_reply_goes_in_with_the_keyboard_filled_from_the_package_and_counts(
    new_page, live_server, desk
):
    CannedReply.objects.create(
        name="Refund timeline",
        body="Hi {{customer.first_name}}, the refund for order {{facts.order_id}} is on its way.",
        queue=desk["queue"],
    )
    CannedReply.objects.create(name="Password reset", body="Use the reset link.", queue=None)
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)
    claim(page)

    page.keyboard.press("s")
    expect(page.locator("#canned-search")).to_be_focused()
    page.keyboard.type("refund")
    expect(page.locator(".canned-option")).to_have_count(1)
    page.keyboard.press("Enter")

    text = "Hi Ana, the refund for order A-1009 is on its way."
    expect(page.locator("#compose-text")).to_have_value(text)
    expect(page.locator("#compose-text")).to_be_focused()
    expect(page.locator("#canned-picker")).to_be_hidden()
    page.keyboard.press("Control+Enter")
    expect(page.locator(".alert.ok")).to_have_text("Reply sent to the customer.")
    use = CannedReplyUse.objects.get()
    assert use.case_id == case_id and use.reply.name == "Refund timeline"
    assert Message.objects.get(case_id=case_id, role="agent").text == text


def test_a_live_refresh_replaces_the_case_never_draws_a_page_inside_it(new_page, asgi_server):
    queue = QueueFactory(slug="general", name="General", is_default=True)
    MembershipFactory(queue=queue, agent__username="ben", agent__first_name="Ben")
    key = IntegrationFactory(name="live-bot").raw_key
    case_id = api_post(asgi_server, key, "/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, asgi_server, case_id, user="ben")
    expect(page.locator("#live-state")).to_have_text("Live")

    # when the customer writes
    api_post(asgi_server, key, f"/api/v1/cases/{case_id}/messages", {"text": "Anyone there?"})

    # then the case shows it, inside one page with one top bar and one case
    expect(page.locator("#messages")).to_contain_text("Anyone there?")
    expect(page.locator("#case-news")).to_contain_text("customer wrote")
    expect(page.locator("header.topbar")).to_have_count(1)
    expect(page.locator("#case-main")).to_have_count(1)
    expect(page.locator("#case-main .actions")).to_have_count(1)
    assert page.locator("#live-state").count() == 1


def test_ctrl_enter_in_the_saved_replies_search_puts_the_reply_in_the_box_and_sends_nothing(
    new_page, live_server, desk
):
    CannedReply.objects.create(name="Greeting", body="Hello {{customer.first_name}}!", queue=None)
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)
    claim(page)

    page.keyboard.press("s")
    page.keyboard.type("greet")
    expect(page.locator(".canned-option")).to_have_count(1)
    page.keyboard.press("Control+Enter")

    expect(page.locator("#compose-text")).to_have_value("Hello Ana!")
    expect(page.locator("#compose-text")).to_be_focused()
    page.wait_for_timeout(300)  # a send, if one had started, would have answered by now
    assert not Message.objects.filter(case_id=case_id, role="agent").exists()


def test_keys_typed_while_a_reply_is_on_its_way_never_join_it_nor_run_as_commands(
    new_page, live_server, desk
):
    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)
    claim(page)
    held: list[Any] = []
    page.route("**/compose/", lambda route: held.append(route))  # answered when we say

    page.keyboard.press("r")
    page.keyboard.type("Refund is on its way.")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("document.querySelector('#compose-form.sending') !== null")
    # while the reply is on its way: n, then text full of shortcut letters (s, e, i, c, t)
    page.keyboard.press("n")
    page.keyboard.type("stripe ref set")
    expect(page.locator("#canned-picker")).to_be_hidden()
    expect(page.locator("#compose-text")).to_have_value("Refund is on its way.")
    assert len(held) == 1
    held[0].continue_()

    # the reply went as written; the box opens empty, as a note, with the caret in it
    expect(page.locator(".msg.role-agent")).to_contain_text("Refund is on its way.")
    expect(page.locator("input[name=mode][value=note]")).to_be_checked()
    expect(page.locator("#compose-text")).to_be_focused()
    expect(page.locator("#compose-text")).to_have_value("")
    page.unroute("**/compose/")
    page.keyboard.type("Refund issued manually in Stripe")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".msg.role-note")).to_contain_text("Refund issued manually in Stripe")
    texts = list(Message.objects.filter(case_id=case_id).values_list("role", "text"))
    assert ("agent", "Refund is on its way.") in texts
    assert ("note", "Refund issued manually in Stripe") in texts
    assert Case.objects.get(pk=case_id).status == Case.Status.ASSIGNED


def test_an_open_saved_replies_search_survives_a_live_refresh(new_page, asgi_server):
    queue = QueueFactory(slug="general", name="General", is_default=True)
    MembershipFactory(queue=queue, agent__username="ben", agent__first_name="Ben")
    CannedReply.objects.create(name="Refund timeline", body="Refunds take 5 days.", queue=None)
    CannedReply.objects.create(name="Greeting", body="Hello!", queue=None)
    key = IntegrationFactory(name="live-bot").raw_key
    case_id = api_post(asgi_server, key, "/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, asgi_server, case_id, user="ben")
    expect(page.locator("#live-state")).to_have_text("Live")
    claim(page)
    page.keyboard.press("r")
    page.keyboard.type("Hi Ana, ")
    page.keyboard.press("Control+/")
    page.keyboard.type("ref")
    expect(page.locator(".canned-option")).to_have_count(1)

    # when the customer writes meanwhile
    api_post(asgi_server, key, f"/api/v1/cases/{case_id}/messages", {"text": "Still there?"})
    expect(page.locator("#messages")).to_contain_text("Still there?")

    # then the search is still open with its text, and the next keys still go into it
    expect(page.locator("#canned-search")).to_be_focused()
    expect(page.locator("#canned-search")).to_have_value("ref")
    page.keyboard.type("und")
    expect(page.locator(".canned-option")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#compose-text")).to_have_value("Hi Ana, Refunds take 5 days.")
    expect(page.locator("input[name=mode][value=reply]")).to_be_checked()


def test_a_draft_left_unsent_when_the_case_is_reassigned_stays_in_view_to_copy(
    new_page, live_server, desk
):
    from cases.services import reassignment
    from tests.factories import UserFactory

    case_id = desk["api"]("/api/v1/handoffs", full_package()).json()["case_id"]
    page = new_page()
    open_case(page, live_server, case_id)
    claim(page)
    page.keyboard.press("n")
    page.keyboard.type("Customer disputes the second charge; check Stripe")
    page.keyboard.press("Escape")

    # when a supervisor gives the case to Ben
    ben = desk["queue"].memberships.get(agent__username="ben").agent
    reassignment.case_reassign(
        case_id=case_id, supervisor=UserFactory(role="supervisor"), agent=ben, reason="load"
    )
    page.reload()

    # then Ana's text is still on her screen, read-only, marked as unsent, and can be copied
    kept = page.locator(".draft-kept")
    expect(kept).to_be_visible()
    expect(kept).to_contain_text("Your unsent internal note: it was not sent.")
    expect(kept.locator("textarea")).to_have_value(
        "Customer disputes the second charge; check Stripe"
    )
    expect(kept.locator("textarea")).to_have_attribute("readonly", "")
    kept.get_by_role("button", name="Discard").click()
    expect(kept).to_be_hidden()
    page.reload()
    expect(page.locator(".draft-kept")).to_be_hidden()


def test_a_risk_flag_judged_with_the_keyboard_shows_on_a_supervisors_open_page(
    new_page, asgi_server
):
    # given a handoff the bot flagged as a chargeback threat, held by Ben, open on Maya's screen
    queue = QueueFactory(slug="general", name="General", is_default=True)
    MembershipFactory(queue=queue, agent__username="ben", agent__first_name="Ben")
    UserFactory(username="maya", role="supervisor")
    key = IntegrationFactory(name="live-bot").raw_key
    case_id = api_post(asgi_server, key, "/api/v1/handoffs", full_package()).json()["case_id"]
    supervisor = new_page()
    open_case(supervisor, asgi_server, case_id, user="maya")
    expect(supervisor.locator("#live-state")).to_have_text("Live")
    page = new_page()
    open_case(page, asgi_server, case_id, user="ben")
    claim(page)

    # when Ben tabs to "Confirm" on the flag and presses Enter
    confirm = page.get_by_role("button", name="Confirm the chargeback threat flag")
    confirm.focus()
    page.keyboard.press("Enter")

    # then his page says so, the buttons say which verdict stands, and keys still work
    expect(page.locator(".alert.ok")).to_contain_text("Risk flag judged")
    expect(page.locator(".risk .verdict")).to_have_text("✓ Confirmed by Ben")
    expect(confirm).to_have_attribute("aria-pressed", "true")
    # and Maya's open page shows the verdict after its live refresh, in one page
    expect(supervisor.locator(".risk .verdict")).to_have_text("✓ Confirmed by Ben")
    expect(supervisor.locator("#case-main")).to_have_count(1)
    assert RiskFlagReview.objects.get().verdict == "confirmed"
