"""The case page's language line in the browser, at a laptop's width and a phone's: the declared
language and the one the customer's messages read as, readable in the header."""

from __future__ import annotations

import os
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import api_post, log_in
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory, full_package

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SPANISH = [
    "Hola, me cobraron dos veces el pedido A-1009 y necesito que me devuelvan el dinero.",
    "Ya lo intenté con el asistente y no funcionó.",
]


@pytest.mark.parametrize("width", [1440, 390])
def test_the_header_says_the_customer_writes_in_another_language(
    browser: Any, live_server: Any, width: int
) -> None:
    # given: the bot says English, the customer writes Spanish
    queue = QueueFactory(slug="general", name="General", is_default=True)
    MembershipFactory(queue=queue, agent__username="ana", agent__first_name="Ana")
    integration = IntegrationFactory(name="web-bot")
    package = full_package()
    package["customer"]["language"] = "en"
    package["transcript"] = [
        {"id": f"m{n}", "role": "customer", "text": text} for n, text in enumerate(SPANISH)
    ]
    case_id = api_post(live_server, integration.raw_key, "/api/v1/handoffs", package).json()[
        "case_id"
    ]
    context = browser.new_context(viewport={"width": width, "height": 860})
    page = context.new_page()

    # when
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/cases/{case_id}/")

    # then: both, in the header, fully on screen
    chip = page.locator(".glance .chip-language")
    expect(chip).to_have_text(
        "Speaks English (en); writes in Spanish (detected from the customer's messages)"
    )
    chip.scroll_into_view_if_needed()
    box = chip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    if os.environ.get("SCREENSHOTS"):
        page.screenshot(path=f"{os.environ['SCREENSHOTS']}/language-{width}.png")
    context.close()
