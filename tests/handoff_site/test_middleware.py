"""The site's middleware: API body limit, problem answers for unknown API paths, HTMX after
the session ended, the admin's empty _to_field (handoff_site/middleware.py)."""

from __future__ import annotations

import json

import pytest
from axes.models import AccessAttempt
from django.test import Client

from cases.models import Case
from tests.factories import (
    UserFactory,
    full_package,
)

pytestmark = pytest.mark.django_db

HANDOFFS = "/api/v1/handoffs"


def test_oversized_body_is_a_413_problem(api):
    package = full_package(summary="y" * (1024 * 1024))

    response = api.post(HANDOFFS, package)

    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert Case.objects.count() == 0


def test_oversized_body_is_a_413_problem_under_a_script_prefix_too(api):
    # the desk served at /desk/: request.path carries the prefix, path_info does not
    package = full_package(summary="y" * (1024 * 1024))

    response = api.client.post(
        HANDOFFS,
        data=json.dumps(package),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.key}"},
        SCRIPT_NAME="/desk",
    )

    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert Case.objects.count() == 0


def test_an_unknown_api_path_is_a_problem_document_not_a_page(client):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404 and "/api/v1/docs" in response.json()["detail"]


def test_an_htmx_request_after_the_session_ended_takes_the_page_to_sign_in(client):
    response = client.get(
        "/queues/billing/?q=ana",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/queues/billing/?q=an",
    )

    # not the sign-in form swapped into the list: the whole page goes, and comes back after
    assert response.status_code == 200 and response.content == b""
    assert response["HX-Redirect"] == "/login/?next=%2Fqueues%2Fbilling%2F%3Fq%3Dan"


def test_a_plain_request_after_the_session_ended_is_redirected_as_before(client):
    response = client.get("/queues/billing/")

    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_an_empty_to_field_on_an_admin_page_is_a_400_not_a_500() -> None:
    admin_user = UserFactory(username="root", role="admin", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin_user)
    attempt = AccessAttempt.objects.create(
        username="x", ip_address="10.0.0.1", user_agent="", failures_since_start=1
    )

    response = client.post(
        f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"_to_field": "", "post": "yes"}
    )

    assert response.status_code == 400
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()
