"""Every answer of the API that is not a success is a problem+json document (api/problems.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from cases.services import intake as services
from tests.factories import (
    full_package,
)

pytestmark = pytest.mark.django_db


HANDOFFS = "/api/v1/handoffs"


def test_an_unexpected_error_is_a_problem_500_not_an_html_page(integration, monkeypatch):
    def fail(**kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "handoff_receive", fail)
    client = Client(raise_request_exception=False)

    response = client.post(
        HANDOFFS,
        data=json.dumps(full_package()),
        content_type="application/json",
        headers={"Authorization": f"Bearer {integration.raw_key}"},
    )

    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 500
    assert "boom" not in response.content.decode()


def test_a_method_the_path_does_not_have_is_a_problem_405(api):
    response = api.client.put(HANDOFFS, data="{}", content_type="application/json")

    assert_refused(response, [], status=405)
    assert "POST" in response["Allow"]


def test_the_openapi_document_declares_every_answer_as_a_problem(client):
    schema = client.get("/api/v1/openapi.json").json()
    expected = {
        ("/api/v1/handoffs", "post"): {400, 401, 403, 409, 413, 422, 500},
        ("/api/v1/cases/{case_id}", "get"): {401, 403, 404, 422, 500},
        ("/api/v1/cases/{case_id}/messages", "post"): {400, 401, 403, 404, 409, 413, 422, 500},
        ("/api/v1/cases/{case_id}/csat", "post"): {400, 401, 403, 404, 413, 422, 500},
        ("/api/v1/intent-corrections", "get"): {401, 403, 422, 500},
    }
    for (path, method), statuses in expected.items():
        responses = schema["paths"][path][method]["responses"]
        errors = {int(status) for status in responses if int(status) >= 400}
        assert errors == statuses, (path, errors)
        for status in statuses:
            content = responses[str(status)]["content"]
            assert list(content) == ["application/problem+json"], (path, status)
    export = schema["paths"]["/api/v1/intent-corrections"]["get"]["responses"]["200"]
    assert list(export["content"]) == ["application/x-ndjson"]


def assert_refused(response: Any, loc: list[Any], status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    if loc:
        assert loc in [error["loc"] for error in body["errors"]], body
    return body
