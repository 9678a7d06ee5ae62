"""An admin on a phone unlocks a locked-out agent from the desk's Lockouts page, by keyboard
alone, and the agent signs in (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def tab_to(page: Any, label: str, presses: int = 60) -> None:
    """Press Tab until the element named ``label`` has the focus: it is reachable by keyboard."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return e ? (e.getAttribute('aria-label') || e.textContent || '').trim() : '' }"
        )
        if focused == label:
            return
    raise AssertionError(f"{label!r} never got the keyboard focus in {presses} Tabs")


def test_an_admin_on_a_phone_unlocks_an_agent_by_keyboard(
    new_page: Any, live_server: Any, settings: Any
) -> None:
    # given an admin (the role, not a superuser) signed in on a phone, and five wrong
    # passwords for ann
    settings.AXES_FAILURE_LIMIT = 5
    UserFactory(username="ann", first_name="Ann", role="agent")
    UserFactory(username="ada", first_name="Ada", role="admin")
    admin = new_page()
    admin.set_viewport_size(PHONE)
    log_in(admin, live_server, "ada")
    ann = new_page()
    ann.goto(f"{live_server.url}/login/")
    for _ in range(5):
        ann.fill("#id_username", "ann")
        ann.fill("#id_password", "guess")
        ann.click("[type=submit]")
        ann.wait_for_load_state("load")
    expect(ann.locator("h1")).to_have_text("Sign-in paused")

    # when the admin goes to Lockouts from the top bar, by keyboard
    tab_to(admin, "Lockouts")
    admin.keyboard.press("Enter")
    expect(admin.locator("h1")).to_have_text("Locked-out sign-ins")
    rows = admin.locator("table.lockouts tbody tr")
    expect(rows).to_have_count(2)  # ann's name, and the address she typed from
    expect(rows.first).to_contain_text("UTC")
    # the page fits the phone, with the Unlock buttons on the screen
    assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    button = admin.get_by_role("button", name="Unlock username ann")
    box = button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    admin.screenshot(path="/tmp/security/lockouts-390.png", full_page=True)
    # and unlocks ann with the keyboard
    tab_to(admin, "Unlock username ann")
    admin.keyboard.press("Enter")

    # then the page says so, nothing is locked out, and the unlock is on record
    expect(admin.locator(".flash")).to_contain_text("Unlocked username ann")
    expect(admin.locator("main")).to_contain_text("No sign-in is locked out.")
    expect(admin.locator("table.lockout-history")).to_contain_text("Unlocked by Ada")
    expect(admin.locator("table.lockout-history")).to_contain_text("Locked out")
    # and ann signs in
    log_in(ann, live_server, "ann")
    expect(ann.locator(".who .name")).to_have_text("Ann")
