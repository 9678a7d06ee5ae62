"""RFC 9457 problem details: every API error is ``application/problem+json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse

PROBLEM_TYPE_BASE = "https://handoff-desk.dev/problems/"
API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    """A request for the JSON API, which answers in problem documents. ``path_info``, not
    ``path``: under a script prefix (the desk served at /desk/) ``path`` carries the prefix."""
    return request.path_info.startswith(API_PREFIX)


TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
}


def problem_body(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: Sequence[dict[str, Any]] = (),
    title: str | None = None,
) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_BASE + (slug or str(status)),
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "errors": list(errors),
    }


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: Sequence[dict[str, Any]] = (),
    title: str | None = None,
) -> HttpResponse:
    body = problem_body(status, detail, slug=slug, errors=errors, title=title)
    response = HttpResponse(
        json.dumps(body), status=status, content_type="application/problem+json"
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="handoff-desk"'
    return response
