from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from cases.problems import problem


class ApiBodyLimitMiddleware:
    """A request body over the API limit is a 413 problem before anything parses it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and request.method in {"POST", "PUT", "PATCH"}:
            limit = settings.HANDOFF_MAX_BODY_BYTES
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            try:
                too_big = declared > limit or len(request.body) > limit
            except RequestDataTooBig:
                too_big = True
            if too_big:
                return problem(
                    413,
                    f"The request body is larger than the {limit:,} bytes allowed.",
                    slug="body-too-large",
                )
        return self.get_response(request)
