"""The site's URLs plus the benchmarks' own: ``POST /bench/insert``, the least an insert endpoint
on this stack can do (a plain sync view through the same middleware, the same JSON body parsed
and inserted as one row; bench/intake.py creates its table), ``GET /bench/worker`` (which server
process answered) and ``GET /bench/empty-page`` (the desk's frame for a signed-in user)."""

import json
import os

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
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


urlpatterns = [
    *site_urlpatterns,
    path("bench/insert", baseline_insert, name="bench-insert"),
    path("bench/worker", lambda request: JsonResponse({"pid": os.getpid()}), name="bench-worker"),
    path(
        "bench/empty-page",
        login_required(lambda request: render(request, "base.html", {})),
        name="bench-empty-page",
    ),
]
