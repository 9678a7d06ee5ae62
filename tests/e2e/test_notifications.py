"""Agents told at once (issue 17, item 4), in a real browser: the desktop notifications, the
chime and the tab title count, for an offer, a new case in a pull queue, a customer writing on
one's own case and an SLA breach; asked for once; quiet while the agent looks at the desk.

Headless Chromium shows every page as focused; the test turns that emulation off and opens a
second tab, so the desk's page is really not looked at. The real Notification and Web Audio
objects are created; a recorder in front of them only notes what the page asked for."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Case
from cases.services import agent_work, assignment, sla
from queues.models import Queue
from tests.e2e.conftest import api_post, log_in
from tests.e2e.test_console import served  # noqa: F401 - the fixture
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    full_package,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORDER = """(() => {
  window.__notes = [];
  window.__chimes = 0;
  window.__asked = 0;
  const Real = window.Notification;
  if (Real) {
    const Recording = function (title, options) {
      const note = new Real(title, options);
      window.__notes.push({ title: title, body: options.body, tag: options.tag, note: note });
      return note;
    };
    Object.defineProperty(Recording, "permission", { get: () => Real.permission });
    Recording.requestPermission = function () {
      window.__asked += 1;
      return Real.requestPermission.apply(Real, arguments);
    };
    window.Notification = Recording;
  }
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function () {
    window.__chimes += 1;
    return start.apply(this, arguments);
  };
})();"""

NOTES = "() => window.__notes.map(n => [n.title, n.body, n.tag])"


@pytest.fixture
def desk() -> dict[str, Any]:
    general = QueueFactory(slug="general", name="General", is_default=True)
    billing = QueueFactory(slug="billing", name="Billing")
    Queue.objects.filter(pk=billing.pk).update(assignment_mode="push", offer_seconds=30)
    gail = MembershipFactory(
        queue=general, capacity=3, agent__username="gail", agent__first_name="Gail"
    ).agent
    MembershipFactory(queue=billing, agent=gail, capacity=3)
    return {
        "general": general,
        "billing": billing,
        "gail": gail,
        "key": IntegrationFactory(name="notify-bot").raw_key,
    }


def signed_in(browser: Any, server: Any, *, granted: bool) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    if granted:
        context.grant_permissions(["notifications"], origin=server.url)
    context.add_init_script(RECORDER)
    page = context.new_page()
    log_in(page, server, "gail")
    page.goto(f"{server.url}/queues/general/")
    expect(page.locator("#live-state")).to_have_text("Live")
    return context, page


def look_away(context: Any, page: Any) -> Any:
    """Another tab in front: the desk's page loses the focus a person would see it lose."""
    context.new_cdp_session(page).send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    other = context.new_page()
    other.bring_to_front()
    page.wait_for_function("() => !document.hasFocus()")
    return other


def told(page: Any, count: int) -> list[list[str]]:
    page.wait_for_function(f"() => window.__notes.length >= {count}")
    return page.evaluate(NOTES)


def test_an_agent_away_from_the_tab_is_told_of_each_kind_of_news(browser, served, desk):  # noqa: F811
    context, page = signed_in(browser, served, granted=True)
    base_title = page.title()
    expect(page.locator("#notify-ask")).to_be_hidden()  # already allowed: nothing to ask
    expect(page.locator("#sound-toggle")).to_have_text("Sound: on")
    look_away(context, page)

    # when a bot hands a case to her pull queue
    created = api_post(served, desk["key"], "/api/v1/handoffs", full_package())
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]

    # then a notification names it, with a chime, and the tab title counts it
    assert told(page, 1) == [["New case waiting", f"Case #{case_id}", f"case-{case_id}"]]
    assert page.evaluate("window.__chimes") == 1
    expect(page).to_have_title(f"(1) {base_title}")

    # when the case is hers and the customer writes again
    served.run(lambda: agent_work.case_claim(case_id=case_id, agent=desk["gail"]))
    api_post(served, desk["key"], f"/api/v1/cases/{case_id}/messages", {"text": "Still there?"})

    # then she is told her customer wrote
    assert told(page, 2)[1] == ["Your customer wrote", f"Case #{case_id}", f"message-{case_id}"]
    expect(page).to_have_title(f"(2) {base_title}")

    # when a case in her push queue is offered to her
    served.run(lambda: CaseFactory(queue=desk["billing"], customer_name="Tom Becker"))
    served.run(lambda: assignment.queue_assign(queue_id=desk["billing"].pk))

    # then the offer is a notification too, and the banner waits on the page
    offer = told(page, 3)[2]
    assert offer[0] == "Case offered: Tom Becker"
    assert offer[1].startswith("Billing")
    assert re.fullmatch(r"offer-\d+", offer[2])
    expect(page.locator(".offer")).to_contain_text("Tom Becker")
    expect(page).to_have_title(f"(3) {base_title}")

    # when a waiting case in her pull queue passes its SLA
    late = served.run(lambda: CaseFactory(queue=desk["general"], customer_name="Ada Park"))
    Case.objects.filter(pk=late.pk).update(sla_due_at=timezone.now() - timedelta(seconds=5))
    assert served.run(sla.case_sla_breaches_mark) == 1

    # then she is told of that too, each news with its chime
    assert told(page, 4)[3] == ["Past SLA", f"Case #{late.pk}", f"sla-{late.pk}"]
    assert page.evaluate("window.__chimes") == 4
    expect(page).to_have_title(f"(4) {base_title}")

    # and clicking the notification brings her to the case, where the title counts only what
    # still waits for her: the offer, whose banner follows her there
    page.evaluate("() => window.__notes[3].note.onclick()")
    page.wait_for_url(f"{served.url}/cases/{late.pk}/")
    expect(page).to_have_title(re.compile(rf"^\(1\) #{late.pk} Ada Park"))
    expect(page.locator(".offer")).to_contain_text("Tom Becker")
    context.close()


def test_while_she_looks_at_the_desk_the_page_shows_news_without_notifications(
    browser,
    served,  # noqa: F811
    desk,
):
    # given Gail's page in front of her, notifications allowed
    context, page = signed_in(browser, served, granted=True)
    base_title = page.title()

    # when a case arrives in her pull queue
    created = api_post(served, desk["key"], "/api/v1/handoffs", full_package())
    case_id = created.json()["case_id"]

    # then the queue shows it and chimes, but no notification and no count interrupt her
    expect(page.locator(f"#case-row-{case_id}")).to_have_count(1)
    page.wait_for_function("() => window.__chimes >= 1")
    assert page.evaluate(NOTES) == []
    expect(page).to_have_title(base_title)

    # when she turns the sound off, and it stays off on her next page
    sound = page.locator("#sound-toggle")
    sound.focus()
    page.keyboard.press("Enter")
    expect(sound).to_have_text("Sound: off")
    expect(sound).to_have_attribute("aria-pressed", "false")
    page.reload()
    expect(page.locator("#live-state")).to_have_text("Live")
    expect(sound).to_have_text("Sound: off")

    # then the next case shows without a chime
    other = api_post(served, desk["key"], "/api/v1/handoffs", full_package(external_id="c-2"))
    expect(page.locator(f"#case-row-{other.json()['case_id']}")).to_have_count(1)
    assert page.evaluate("window.__chimes") == 0
    context.close()


def test_notifications_are_asked_for_once_by_a_click(browser, served, desk):  # noqa: F811
    # given an agent whose browser has not been asked yet
    context, page = signed_in(browser, served, granted=False)
    ask = page.locator("#notify-ask")
    expect(ask).to_be_visible()
    assert page.evaluate("window.__asked") == 0  # not asked on load: only a click asks

    # when she clicks "Alerts"
    ask.click()

    # then the browser is asked, and the button does not come back on the next page
    assert page.evaluate("window.__asked") == 1
    expect(ask).to_be_hidden()
    page.reload()
    expect(page.locator("#live-state")).to_have_text("Live")
    expect(page.locator("#notify-ask")).to_be_hidden()
    context.close()
