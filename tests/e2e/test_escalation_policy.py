"""The escalation policy editor in the browser, as an admin works it with the keyboard: start a
draft, change a threshold, see a bad value refused beside its field, dry-run, publish with a
note, roll back."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from cases.models import EscalationPolicy
from cases.risk import published_policy
from tests.e2e.conftest import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_drafts_dry_runs_publishes_and_rolls_back(new_page: Any, live_server: Any) -> None:
    UserFactory(username="ada", role="admin")
    page = new_page()
    log_in(page, live_server, "ada")
    page.get_by_role("link", name="Escalation").click()
    expect(page.get_by_role("heading", name="Escalation policy")).to_be_visible()

    # a draft, with a score threshold out of range: refused beside the field, typing kept
    page.get_by_role("button", name="Edit as a draft").click()
    threshold = page.get_by_label("… when the score reaches (0-1)")
    threshold.fill("1.7")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.locator(".field-error")).to_contain_text("less than or equal to 1")
    expect(page.get_by_label("… when the score reaches (0-1)")).to_have_value("1.7")

    # then a good value, saved with the keyboard
    page.get_by_label("… when the score reaches (0-1)").fill("0.4")
    page.get_by_label("Escalate when the customer asks for a person").uncheck()
    page.get_by_role("button", name="Save the draft").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".alert.ok, .flash")).to_contain_text("Draft saved")

    # a dry run answers in place
    page.get_by_role("button", name="Replay them under the saved draft and the live policy").click()
    expect(page.locator("#escalation-dry-run")).to_contain_text("the draft would have escalated")

    # publish with a note: live for assess and intake
    page.get_by_label("What changed and why").fill("Fewer handoffs on requests alone")
    page.get_by_role("button", name="Publish version 1").click()
    expect(page.locator(".flash")).to_contain_text("Version 1 is live")
    live = published_policy()
    assert (live.version, live.frustration_threshold, live.human_request) == (1, 0.4, False)

    # a second version, then back to the first
    page.get_by_role("button", name="Edit as a draft").click()
    page.get_by_label("What changed and why").fill("same again")
    page.get_by_role("button", name="Publish version 2").click()
    page.get_by_label("Rollback note for version 1").fill("back to v1")
    page.get_by_role("button", name="Roll back to version 1").click()
    expect(page.locator(".flash")).to_contain_text("Version 3 (v1's settings) is live")
    assert EscalationPolicy.objects.get(status="published").version == 3
