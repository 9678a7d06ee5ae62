"""Site-wide answers that belong to no page of the desk: the health probe, the 404 and the CSRF
failure page."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import csrf, defaults
from django.views.decorators.http import require_GET

from api.problems import is_api_request, problem


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 404: the API answers a path it does not have with a problem document, as it
    answers everything else; pages get the desk's own page (templates/404.html)."""
    if is_api_request(request):
        return problem(404, "This API has no such path; its endpoints are listed at /api/v1/docs.")
    return defaults.page_not_found(request, exception)


# The page's script (static/js/desk.js) tells a stale page from a refused action by this.
STALE_PAGE_HEADER = "X-Desk-Failure"


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF failure (templates/403_csrf.html), marked as a stale page: an agent who
    signed in again in another tab must be told to reload, not that their role cannot act."""
    response = csrf.csrf_failure(request, reason)
    response[STALE_PAGE_HEADER] = "stale-page"
    return response
