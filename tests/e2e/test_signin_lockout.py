"""Sign-in throttling as a person meets it: wrong passwords, a page that says when to retry, an
admin who unlocks."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def attempt(page: Any, url: str, username: str, password: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("[type=submit]")
    page.wait_for_load_state("load")


@pytest.fixture
def people(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 5
    UserFactory(username="ann", first_name="Ann", role="agent")
    UserFactory(username="ada", first_name="Ada", role="admin", is_superuser=True)


def test_wrong_passwords_pause_sign_in_until_a_time_and_an_admin_unlocks(
    new_page: Any, live_server: Any, people: None
) -> None:
    # given an admin at work, and five wrong passwords for ann
    admin = new_page()
    log_in(admin, live_server, "ada")
    page = new_page()
    page.goto(f"{live_server.url}/login/")
    for _ in range(4):
        attempt(page, live_server.url, "ann", "guess")
        expect(page.locator("main [role=alert]")).to_contain_text("did not match")
    attempt(page, live_server.url, "ann", "guess")

    # then the page says sign-in is paused, and until when
    alert = page.locator("main [role=alert]")
    expect(page.locator("h1")).to_have_text("Sign-in paused")
    expect(alert).to_contain_text(re.compile(r"Try again at \d\d:\d\d UTC \(in 1[45]\s+minutes\)"))
    page.set_viewport_size({"width": 1440, "height": 900})
    page.screenshot(path="/tmp/security/locked-1440.png")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path="/tmp/security/locked-390.png")
    # and even the right password waits
    page.click("text=Back to sign in")
    attempt(page, live_server.url, "ann", "pw-for-tests")
    expect(page.locator("h1")).to_have_text("Sign-in paused")

    # when the admin deletes the attempts on record in the admin (they lock ann's name and, as
    # every page here comes from 127.0.0.1, this address too)
    admin.goto(f"{live_server.url}/admin/axes/accessattempt/")
    expect(admin.locator("#result_list")).to_contain_text("ann")
    admin.check("#action-toggle")
    admin.select_option("select[name=action]", "delete_selected")
    admin.click("button[name=index]")
    admin.click("input[type=submit]")  # "Yes, I'm sure"
    expect(admin.locator(".messagelist")).to_contain_text("Successfully deleted")

    # then ann signs in
    log_in(page, live_server, "ann")
    expect(page.locator(".who .name")).to_have_text("Ann")


def test_the_admins_sign_in_is_paused_the_same_way(
    new_page: Any, live_server: Any, people: None
) -> None:
    page = new_page()
    page.goto(f"{live_server.url}/admin/login/")
    for _ in range(5):
        attempt(page, live_server.url, "ada", "guess")

    expect(page.locator("h1")).to_have_text("Sign-in paused")
    expect(page.locator("main [role=alert]")).to_contain_text("Try again at")
    attempt_again = page.locator("text=Back to sign in")
    expect(attempt_again).to_have_attribute("href", re.compile("^/admin/login/"))
