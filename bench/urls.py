"""The site's URLs plus ``POST /bench/insert``, the baseline the intake is measured against,
and ``GET /bench/empty-page``, the desk's frame for a signed-in user with nothing in it.

The baseline is the least an insert endpoint on this stack can do: a plain sync Django view that
goes through the same middleware, parses the same JSON body and inserts it as one row with one
statement on a pooled connection. Its table (``bench_baseline``) is created by
``bench/intake.py``. ``GET /bench/worker`` answers which server process it reached.
"""

from __future__ import annotations

import json
import os

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from handoff_site.urls import urlpatterns as site_urlpatterns


@csrf_exempt
@require_POST
def baseline_insert(request: HttpRequest) -> JsonResponse:
    try:
        payload = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "the body is not valid JSON"}, status=400)
    external_id = str(payload.get("external_id", "")) if isinstance(payload, dict) else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_baseline (external_id, body) VALUES (%s, %s::jsonb) RETURNING id",
            [external_id, request.body.decode()],
        )
        row = cursor.fetchone()
    return JsonResponse({"id": row[0] if row else None}, status=201)


@login_required
def empty_page(request: HttpRequest) -> HttpResponse:
    """Every page of the desk's cost before its content: the session, the user, the menu's
    permission checks and the base template (bench/pages.py reports it beside the pages)."""
    return render(request, "base.html", {})


def worker(request: HttpRequest) -> JsonResponse:
    """Which server process answered: lets the load generator spread its connections."""
    return JsonResponse({"pid": os.getpid()})


urlpatterns = [
    *site_urlpatterns,
    path("bench/insert", baseline_insert, name="bench-insert"),
    path("bench/worker", worker, name="bench-worker"),
    path("bench/empty-page", empty_page, name="bench-empty-page"),
]
