"""Attachments on the case page, in a real browser at a phone's width: the customer's screenshot
is a thumbnail the browser actually draws, a PDF is a download, a link is marked external, all of
it reachable by keyboard; an agent of another queue, or nobody signed in, gets none of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.attachments import PDF, linked, png, uploaded
from tests.e2e.conftest import api_post, log_in
from tests.factories import (
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    full_package,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
SCREENSHOT = png(48, 32, (30, 120, 200))
TALL = png(300, 600, (20, 160, 90))


@pytest.fixture
def desk(live_server: Any, settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.MEDIA_ROOT = str(tmp_path)
    general = QueueFactory(slug="general", name="General", is_default=True)
    MembershipFactory(queue=general, agent__username="ann", agent__first_name="Ann")
    MembershipFactory(queue=QueueFactory(slug="sales", name="Sales"), agent__username="otto")
    package = full_package()
    package["transcript"].append(
        {
            "id": "m3",
            "role": "customer",
            "text": "Here is the double charge",
            "attachments": [
                uploaded("double-charge.png", SCREENSHOT, "image/png"),
                uploaded("statement.pdf", PDF, "application/pdf"),
                linked(
                    "bank-letter.pdf", "https://files.example.com/letter.pdf", "application/pdf"
                ),
            ],
        }
    )
    # a phone's photo, sent alone: a thumbnail within bounds
    package["transcript"].append(
        {"id": "m4", "role": "customer", "attachments": [uploaded("photo.png", TALL, "image/png")]}
    )
    key = IntegrationFactory(name="web-bot").raw_key
    answer = api_post(live_server, key, "/api/v1/handoffs", package)
    assert answer.status_code == 201, answer.text
    return {"case_id": answer.json()["case_id"]}


def phone(browser: Any) -> Any:
    context = browser.new_context(viewport=PHONE, has_touch=True)
    context.set_default_timeout(10_000)
    return context


def test_an_agent_sees_the_screenshot_as_a_thumbnail_and_the_pdf_as_a_download(
    browser, live_server, desk
):
    context = phone(browser)
    try:
        page = context.new_page()
        log_in(page, live_server, "ann")
        page.goto(f"{live_server.url}/cases/{desk['case_id']}/")

        # the screenshot is drawn (the browser decoded what the desk served), within the screen
        thumb = page.get_by_role("img", name="double-charge.png")
        expect(thumb).to_have_attribute("alt", "double-charge.png")
        expect(thumb).to_have_js_property("naturalWidth", 48)
        box = thumb.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        expect(thumb).to_have_js_property("clientWidth", 48)  # a small image is not blown up
        # a large photo is a thumbnail within 160 x 120
        photo = page.get_by_role("img", name="photo.png")
        expect(photo).to_have_js_property("naturalWidth", 300)
        # 120 px high with its 1 px border, its shape kept
        expect(photo).to_have_js_property("clientHeight", 118)
        expect(photo).to_have_js_property("clientWidth", 59)
        # the PDF is a download link, served as a download
        pdf = page.get_by_role("link", name="statement.pdf")
        expect(pdf).to_have_attribute("download", "")
        served = page.request.get(live_server.url + pdf.get_attribute("href"))
        assert served.status == 200
        assert served.headers["content-disposition"].startswith("attachment;")
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in served.headers["content-security-policy"]
        assert served.body() == PDF
        # the link is the customer's, marked external, and the desk never fetched it
        letter = page.get_by_role("link", name="bank-letter.pdf")
        expect(letter).to_have_attribute("href", "https://files.example.com/letter.pdf")
        expect(letter).to_have_attribute("rel", "noopener noreferrer nofollow")
        expect(page.locator(".attachment-external .chip-external")).to_have_text("external link")
        # no sideways scrolling on the phone
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        # keyboard only: Tab reaches the thumbnail's link, then the PDF
        reached = []
        for _ in range(200):
            page.keyboard.press("Tab")
            focused = page.evaluate(
                "document.activeElement.closest('.attachment')?.textContent.trim() || ''"
            )
            if focused and (not reached or reached[-1] != focused):
                reached.append(focused)
            if len(reached) == 4:
                break
        assert [text.split()[0] for text in reached] == [
            "double-charge.png",
            "statement.pdf",
            "bank-letter.pdf",
            "photo.png",
        ]
    finally:
        context.close()


def test_an_agent_of_another_queue_and_a_stranger_get_nothing(browser, live_server, desk):
    # given: the file's address, as the case's own agent sees it
    context = phone(browser)
    try:
        page = context.new_page()
        log_in(page, live_server, "ann")
        page.goto(f"{live_server.url}/cases/{desk['case_id']}/")
        image = live_server.url + page.locator("img.thumb").first.get_attribute("src")
    finally:
        context.close()

    # when: an agent of another queue asks for the case and the file
    context = phone(browser)
    try:
        page = context.new_page()
        log_in(page, live_server, "otto")
        case_page = page.goto(f"{live_server.url}/cases/{desk['case_id']}/")
        served = page.request.get(image)

        # then
        assert case_page is not None and case_page.status == 404
        assert served.status == 404
        assert served.body() != SCREENSHOT
    finally:
        context.close()

    # and nobody signed in is sent to sign in
    context = phone(browser)
    try:
        stranger = context.request.get(image, max_redirects=0)
        assert stranger.status == 302
        assert "/login/" in stranger.headers["location"]
    finally:
        context.close()
