"""The Quickstart's seeded day, as a supervisor first sees it on the metrics page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import formats, timezone
from playwright.sync_api import expect

from cases.models import Case
from tests.e2e.conftest import log_in
from tests.factories import ensure_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def tile(page: Any, label: str) -> Any:
    return page.locator(".tile", has=page.locator(".label", has_text=label)).locator("strong")


def test_the_seeded_demo_fills_every_figure_and_a_labelled_chart(new_page, live_server):
    # given the demo as `desk.py run` seeds it
    ensure_roles()
    call_command("seed_demo")
    page = new_page()
    log_in(page, live_server, "supervisor", "supervisor-demo-pass")

    # when the supervisor opens the metrics page
    page.goto(f"{live_server.url}/metrics/")

    # then every figure has data: work resolved, rated, corrected and reassigned
    for label in ("Customer had to repeat", "Resolution time", "First human reply", "SLA met"):
        expect(tile(page, label)).not_to_have_text("no data")
    expect(tile(page, "CSAT after escalation")).to_have_text(re.compile(r"^[1-5]\.\d\d$"))
    for label in ("Intent overridden", "Misrouted"):
        expect(tile(page, label)).not_to_have_text(re.compile(r"^(0\.0%|no data)$"))
    queues = page.locator("section[aria-labelledby=queues-title] tbody tr")
    expect(queues).to_have_count(6)
    expect(page.locator("section[aria-labelledby=confusion-title] table")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"^Greeting"))).to_be_visible()  # used

    # and the chart says what it shows, to a reader and to a screen reader
    chart = page.get_by_role("img", name=re.compile("Handoffs per day, by why they came"))
    expect(chart).to_be_visible()
    expect(chart.locator("desc")).to_contain_text("the busiest day was")
    expect(chart.locator(".axis-title")).to_have_text(["Handoffs", "Day"])
    # the day of the latest handoff: the seeded shift is the last nine hours, so just after
    # midnight it still lies in yesterday
    today = timezone.localdate(Case.objects.latest("created_at").created_at)
    expect(chart.locator("text.value").nth(3)).to_be_visible()  # a total on each day's bar
    expect(chart.locator("text.tick").last).to_be_visible()
    page.get_by_text("The figures as a table").click()
    row = page.get_by_role("row", name=re.compile(re.escape(formats.localize(today))))
    expect(row).to_be_visible()

    # on a phone the page fits the screen and the chart opens at its latest day
    page.set_viewport_size({"width": 390, "height": 860})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    latest = page.get_by_role("img", name=re.compile("Handoffs per day")).locator("text.value")
    box = latest.last.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.set_viewport_size({"width": 1280, "height": 860})

    # a one-day period is charted by the hour
    page.goto(f"{live_server.url}/metrics/?from={today:%Y-%m-%d}&to={today:%Y-%m-%d}")
    hourly = page.get_by_role("img", name=re.compile("Handoffs per hour"))
    expect(hourly.locator(".axis-title")).to_have_text(["Handoffs", "Hour (local time)"])
    expect(hourly.locator("rect").first).to_be_visible()
