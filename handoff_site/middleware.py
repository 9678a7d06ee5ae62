from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

from api.problems import TITLES, is_api_request, problem
from observability.logs import REQUEST_ID, request_id_from


class SyncAndAsyncMiddleware:
    """A middleware that runs in the chain's own mode: a sync-only middleware in an ASGI chain
    costs a thread switch on every request. Subclasses answer early in ``before`` (or return
    None) and may replace the view's response in ``after``; neither may do I/O."""

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
        early = self.before(request)
        if early is not None:
            return early
        return self.after(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        early = self.before(request)
        if early is not None:
            return early
        response: Awaitable[HttpResponse] = self.get_response(request)
        return self.after(request, await response)

    def before(self, request: HttpRequest) -> HttpResponse | None:
        return None

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response


class RequestIdMiddleware:
    """Each request gets an id (the proxy's ``X-Request-ID`` when it sent a plain one), on
    every log line written while it is served and on the response, so a line in the logs and
    a complaint about one response meet."""

    sync_capable = True
    async_capable = True
    HEADER = "X-Request-ID"

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        request_id = request_id_from(request.headers.get(self.HEADER))
        token = REQUEST_ID.set(request_id)
        try:
            response: HttpResponse = self.get_response(request)
        finally:
            REQUEST_ID.reset(token)
        response[self.HEADER] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        # Not reset: Django's ASGI handler serves each request in a task of its own, whose
        # context ends with it, and logs a 4xx/5xx response after the middleware returned.
        request_id = request_id_from(request.headers.get(self.HEADER))
        REQUEST_ID.set(request_id)
        response: HttpResponse = await self.get_response(request)
        response[self.HEADER] = request_id
        return response


class ApiBodyLimitMiddleware(SyncAndAsyncMiddleware):
    """A request body over the API limit is a 413 problem before anything parses it."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        if not is_api_request(request) or request.method not in {"POST", "PUT", "PATCH"}:
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


class ApiProblemMiddleware(SyncAndAsyncMiddleware):
    """Every API error is a problem document, whoever answered it: an unexpected exception
    (Django's handler has already logged it and rendered the HTML 500 page), ninja's 405, or
    anything else a layer below answers in HTML."""

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            response.status_code < 400
            or not is_api_request(request)
            or response.get("Content-Type", "").startswith("application/problem+json")
        ):
            return response
        status = response.status_code
        if status >= 500:
            detail = "The desk failed to answer this request; the error is logged. Retry later."
        else:
            detail = TITLES.get(status, "The request cannot be answered.")
        replaced = problem(status, detail, slug="server-error" if status >= 500 else None)
        for header in ("Allow", "Retry-After"):
            if header in response:
                replaced[header] = response[header]
        return replaced


class HtmxSignInMiddleware(SyncAndAsyncMiddleware):
    """An HTMX request whose session has ended takes the whole page to the sign-in form.

    Otherwise the request follows ``login_required``'s redirect and the sign-in form is swapped
    into whatever part of the page asked (the queue list, the case panel). After signing in,
    the agent comes back to the page they were on, not to the fragment's URL.
    """

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code != 302 or request.headers.get("HX-Request") != "true":
            return response
        sign_in = resolve_url(settings.LOGIN_URL)
        if not response.get("Location", "").startswith(sign_in):
            return response
        page = urlsplit(request.headers.get("HX-Current-URL", ""))
        back = page.path + (f"?{page.query}" if page.query else "") if page.path else "/"
        return HttpResponseClientRedirect(f"{sign_in}?{urlencode({'next': back})}")


class AdminToFieldMiddleware(SyncAndAsyncMiddleware):
    """An empty ``_to_field`` is refused with a 400: Django's admin only checks a non-empty one
    and then looks up a model field named "" (FieldDoesNotExist, a 500). The admin's own
    popups never send it empty."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        if not request.path.startswith("/admin/"):
            return None
        sent = [request.GET.get("_to_field")]
        if request.method == "POST":
            sent.append(request.POST.get("_to_field"))
        if "" in sent:
            return HttpResponseBadRequest("_to_field must name a field.")
        return None
