from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from cases.problems import problem


class ApiBodyLimitMiddleware:
    """A request body over the API limit is a 413 problem before anything parses it.

    Sync and async capable: a sync-only middleware in an ASGI chain costs a thread switch on
    every request.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return self._refusal(request) or self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        response: Awaitable[HttpResponse] = self.get_response(request)
        return await response

    @staticmethod
    def _refusal(request: HttpRequest) -> HttpResponse | None:
        if not request.path.startswith("/api/") or request.method not in {"POST", "PUT", "PATCH"}:
            return None
        limit = settings.HANDOFF_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        try:
            too_big = declared > limit or len(request.body) > limit
        except RequestDataTooBig:
            too_big = True
        if not too_big:
            return None
        return problem(
            413,
            f"The request body is larger than the {limit:,} bytes allowed.",
            slug="body-too-large",
        )
