"""django-helpdesk at the root, plus ``GET /bench/worker`` (which server process answered), as
in bench/urls.py, so the load generator spreads its connections over both workers."""

import os

from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def worker(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"pid": os.getpid()})


urlpatterns = [
    path("bench/worker", worker),
    path("", include("helpdesk.urls", namespace="helpdesk")),
]
