"""Admins, supervisors and metrics in a real browser."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Case
from tests.e2e.conftest import api_post, log_in
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
    full_package,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def desk() -> dict[str, Any]:
    general = QueueFactory(slug="general", name="General", is_default=True)
    vip = QueueFactory(slug="vip", name="VIP")
    MembershipFactory(queue=general, agent__username="gail", agent__first_name="Gail")
    MembershipFactory(queue=vip, agent__username="vic", agent__first_name="Vic")
    UserFactory(username="ada", first_name="Ada", role="admin")
    UserFactory(username="sue", first_name="Sue", role="supervisor")
    return {"general": general, "vip": vip, "key": IntegrationFactory(name="web-bot").raw_key}


def test_a_new_rule_routes_the_next_handoff_live_and_a_reassignment_leaves_the_old_queue(
    new_page, asgi_server, desk
):
    # an admin adds a rule to a draft, dry-runs it and publishes it
    admin = new_page()
    log_in(admin, asgi_server, "ada")
    admin.goto(f"{asgi_server.url}/routing/")
    admin.click("text=Edit as a draft")
    admin.click("text=Add rule")
    admin.fill("input[name=name]", "Gold customers")
    admin.select_option("select[name=queue]", "vip")
    admin.fill("input[name=field_0]", "customer.tier")
    admin.select_option("select[name=op_0]", "eq")
    admin.fill("input[name=value_0]", "gold")
    admin.click("button:has-text('Save to draft')")
    expect(admin.locator(".rules")).to_contain_text("customer.tier eq gold")
    admin.click("text=Run the draft beside the live rules")
    expect(admin.locator("#dry-run-result")).to_contain_text("of the last 0 handoffs")
    admin.fill("#publish-note", "gold to VIP")
    admin.click("button:has-text('Publish version')")
    expect(admin.locator(".flash")).to_contain_text("is live")

    # agents of both queues watch their queue pages
    vic, gail = new_page(), new_page()
    log_in(vic, asgi_server, "vic")
    vic.goto(f"{asgi_server.url}/queues/vip/")
    log_in(gail, asgi_server, "gail")
    gail.goto(f"{asgi_server.url}/queues/general/")
    for page in (vic, gail):
        expect(page.locator("#live-state")).to_have_text("Live")

    # the next gold handoff lands in VIP, live
    body = api_post(asgi_server, desk["key"], "/api/v1/handoffs", full_package()).json()
    assert body["queue"] == "vip"
    expect(vic.locator(f"#case-row-{body['case_id']}")).to_be_visible(timeout=1500)

    # a supervisor moves it to General: it leaves VIP and arrives in General
    sue = new_page()
    log_in(sue, asgi_server, "sue")
    sue.goto(f"{asgi_server.url}/cases/{body['case_id']}/")
    sue.select_option("#reassign-queue", label="General")
    sue.fill("#reassign-reason", "not a VIP matter")
    sue.click("button:has-text('Reassign')")
    expect(sue.locator(".alert.ok")).to_have_text("Case reassigned.")
    expect(vic.locator(f"#case-row-{body['case_id']}")).to_have_count(0, timeout=1500)
    expect(gail.locator(f"#case-row-{body['case_id']}")).to_be_visible(timeout=1500)
    assert Case.objects.get(pk=body["case_id"]).routed_queue_id == desk["vip"].pk


def test_a_supervisor_reassigns_from_the_queue_list_one_row_then_several(
    new_page, asgi_server, desk
):
    first, second, third = (CaseFactory(queue=desk["general"]) for _ in range(3))
    rows = {case.pk: f"#case-row-{case.pk}" for case in (first, second, third)}

    # agents of both queues watch their queue pages; Gail's rows carry no reassign controls
    gail, vic = new_page(), new_page()
    log_in(gail, asgi_server, "gail")
    gail.goto(f"{asgi_server.url}/queues/general/")
    log_in(vic, asgi_server, "vic")
    vic.goto(f"{asgi_server.url}/queues/vip/")
    for page in (gail, vic):
        expect(page.locator("#live-state")).to_have_text("Live")
    expect(gail.locator(f"{rows[first.pk]} .reassign-pick")).to_be_hidden()
    expect(gail.locator(f"{rows[first.pk]} .reassign-one")).to_be_hidden()
    expect(gail.locator("#reassign-form")).to_have_count(0)

    # a supervisor reassigns one row from the same list: "Reassign…" ticks that case alone
    sue = new_page()
    log_in(sue, asgi_server, "sue")
    sue.goto(f"{asgi_server.url}/queues/general/")
    sue.locator(f"{rows[second.pk]} .reassign-pick").check()
    sue.locator(f"{rows[first.pk]} .reassign-one").click()
    expect(sue.locator(f"{rows[first.pk]} .reassign-pick")).to_be_checked()
    expect(sue.locator(f"{rows[second.pk]} .reassign-pick")).not_to_be_checked()
    expect(sue.locator("#reassign-form legend")).to_have_text("Reassign 1 case")
    expect(sue.locator("#reassign-form select[name=queue]")).to_be_focused()
    sue.select_option("#reassign-form select[name=queue]", label="VIP")
    sue.fill("#reassign-form input[name=reason]", "a VIP customer")
    sue.click("#reassign-form button[type=submit]")

    # it leaves General live for Gail, arrives in VIP live for Vic; Sue is back on General
    expect(sue.locator("div.flash")).to_contain_text("1 case reassigned to VIP.")
    expect(sue.locator(rows[first.pk])).to_have_count(0)
    expect(gail.locator(rows[first.pk])).to_have_count(0, timeout=1500)
    expect(vic.locator(rows[first.pk])).to_be_visible(timeout=1500)

    # then several at once, by ticking them
    sue.locator(f"{rows[second.pk]} .reassign-pick").check()
    sue.locator(f"{rows[third.pk]} .reassign-pick").check()
    expect(sue.locator("#reassign-form legend")).to_have_text("Reassign 2 cases")
    sue.select_option("#reassign-form select[name=queue]", label="VIP")
    sue.fill("#reassign-form input[name=reason]", "VIP week")
    sue.click("#reassign-form button[type=submit]")

    expect(sue.locator("div.flash")).to_contain_text("2 cases reassigned to VIP.")
    for case in (second, third):
        expect(gail.locator(rows[case.pk])).to_have_count(0, timeout=1500)
        expect(vic.locator(rows[case.pk])).to_be_visible(timeout=1500)
    assert set(Case.objects.values_list("queue__slug", flat=True)) == {"vip"}
    assert Case.objects.filter(routed_queue=desk["general"]).count() == 3  # misroutes, counted


def test_a_ticked_row_keeps_its_tick_when_its_case_changes_live(new_page, asgi_server, desk):
    # given a supervisor who ticked a waiting case for reassignment
    integration = IntegrationFactory(name="chat-bot")
    case = CaseFactory(queue=desk["general"], integration=integration)
    row = f"#case-row-{case.pk}"
    sue = new_page()
    log_in(sue, asgi_server, "sue")
    sue.goto(f"{asgi_server.url}/queues/general/")
    expect(sue.locator("#live-state")).to_have_text("Live")
    sue.locator(f"{row} .reassign-pick").check()
    sue.eval_on_selector(row, "element => element.setAttribute('data-seen', '')")

    # when the customer writes again and the row is replaced live
    answer = api_post(
        asgi_server,
        integration.raw_key,
        f"/api/v1/cases/{case.pk}/messages",
        {"text": "Any news? I still see two charges."},
    )
    assert answer.status_code == 201
    expect(sue.locator(f"{row}:not([data-seen])")).to_have_count(1, timeout=1500)

    # then the new row is still ticked, and the form still counts it
    expect(sue.locator(f"{row} .reassign-pick")).to_be_checked()
    expect(sue.locator("#reassign-form legend")).to_have_text("Reassign 1 case")


def test_the_metrics_page_charts_the_period_and_filters_change_the_figures(
    new_page, live_server, desk
):
    now = timezone.now()
    for days_ago, queue in [(1, "general"), (2, "general"), (3, "vip")]:
        CaseFactory(
            queue=desk[queue],
            handed_off_at=now - timedelta(days=days_ago),
            sla_due_at=now - timedelta(days=days_ago) + timedelta(minutes=10),
        )
    page = new_page()
    log_in(page, live_server, "sue")

    page.goto(f"{live_server.url}/metrics/")

    expect(page.locator(".tile").first).to_contain_text("3")
    assert page.locator("svg.chart rect").count() == 3
    page.select_option("select[name=queue]", label="VIP")
    page.click("button:has-text('Apply')")
    expect(page.locator(".tile").first).to_contain_text("1")
    assert page.locator("svg.chart rect").count() == 1
