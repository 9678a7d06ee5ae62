"""The desk's own error pages: what a person sees instead of Django's bare defaults."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error

from tests.factories import (
    CaseFactory,
    MembershipFactory,
    QueueFactory,
)

pytestmark = pytest.mark.django_db


def test_a_case_of_another_queue_is_a_designed_404_that_names_no_case(client):
    agent = MembershipFactory().agent
    hidden = CaseFactory(queue=QueueFactory(), customer_name="Secret Customer")
    client.force_login(agent)

    response = client.get(f"/cases/{hidden.pk}/")

    body = response.content.decode()
    assert response.status_code == 404
    assert "There is nothing here" in body and "Back to your desk" in body
    assert "Secret Customer" not in body
    assert 'class="topbar"' in body  # the signed-in agent keeps the menu


def test_a_page_an_agent_may_not_open_is_a_designed_403(client):
    client.force_login(MembershipFactory().agent)

    response = client.get("/console/")

    assert response.status_code == 403
    assert "Your role cannot do this" in response.content.decode()


def test_a_stale_form_is_a_designed_csrf_page_marked_for_the_pages_script():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403
    assert "This page is out of date" in response.content.decode()
    assert response["X-Desk-Failure"] == "stale-page"  # desk.js: "reload", not "your role"


def test_a_server_error_renders_without_a_request_or_the_database(django_assert_num_queries):
    request = RequestFactory().get("/anything/")

    with django_assert_num_queries(0):
        response = server_error(request)

    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in body and 'href="/"' in body
    assert "/static/" not in body  # a broken static files manifest must not break this page


def test_health_check(client):
    assert client.get("/healthz").json() == {"status": "ok"}
