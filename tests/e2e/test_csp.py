"""Content-Security-Policy in a real browser: every page, as every role, with no violation, while
htmx and the live socket keep working."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import api_post, log_in
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory, UserFactory
from tests.factories import full_package as package

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def desk(asgi_server: Any) -> dict[str, Any]:
    general = QueueFactory(slug="general", name="General", is_default=True)
    MembershipFactory(queue=general, agent__username="ann", agent__first_name="Ann")
    UserFactory(username="sue", first_name="Sue", role="supervisor")
    UserFactory(username="ada", first_name="Ada", role="admin", is_superuser=True)
    key = IntegrationFactory(name="csp-bot").raw_key
    case_id = api_post(asgi_server, key, "/api/v1/handoffs", package()).json()["case_id"]
    return {"case_id": case_id}


def watch(page: Any) -> list[str]:
    """Every CSP violation the page reports (and every script error), as text."""
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    return problems


def visit_all(page: Any, server: Any, extra: list[str]) -> list[str]:
    """Every page of the top bar, then ``extra``; returns the paths visited."""
    page.goto(f"{server.url}/")
    nav = page.locator("header.topbar nav a").evaluate_all("as => as.map(a => a.pathname)")
    paths = [p for p in dict.fromkeys([*nav, *extra])]
    for path in paths:
        response = page.goto(f"{server.url}{path}")
        assert response is not None and response.status < 500, path
        assert "script-src 'self'" in response.headers.get("content-security-policy", ""), path
        page.wait_for_load_state("load")
    return paths


@pytest.mark.parametrize(
    ("username", "extra"),
    [
        ("ann", ["/queues/general/", "/cases/{case_id}/", "/no-such-page/", "/console/"]),
        ("sue", ["/console/general/", "/cases/{case_id}/", "/metrics/?range=90d"]),
        (
            "ada",
            [
                "/routing/versions/",
                "/routing/rules/new/",
                "/canned/new/",
                "/admin/",
                "/admin/cases/case/",
                "/admin/cases/case/{case_id}/change/",
                "/admin/axes/accessattempt/",
                "/api/v1/docs",
                "/demo/bot/",
            ],
        ),
    ],
)
def test_no_page_breaks_the_content_security_policy(
    new_page: Any, asgi_server: Any, desk: dict[str, Any], username: str, extra: list[str]
) -> None:
    page = new_page()
    problems = watch(page)
    page.goto(f"{asgi_server.url}/login/")  # signed out too
    log_in(page, asgi_server, username)

    visited = visit_all(page, asgi_server, [p.format(**desk) for p in extra])

    assert len(visited) >= 3
    assert problems == []


def test_htmx_and_the_live_socket_work_under_the_policy(
    new_page: Any, asgi_server: Any, desk: dict[str, Any]
) -> None:
    page = new_page()
    problems = watch(page)
    log_in(page, asgi_server, "ann")

    # the socket connects ('self' covers ws: of the same origin)
    page.goto(f"{asgi_server.url}/queues/general/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    # htmx swaps the list as the search is typed
    expect(page.locator("main")).to_contain_text("Ana Ruiz")
    page.fill("input[name=q]", "no case says this")
    expect(page.locator("main")).not_to_contain_text("Ana Ruiz")
    # and takes a case on the case page
    page.goto(f"{asgi_server.url}/cases/{desk['case_id']}/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")

    assert problems == []
