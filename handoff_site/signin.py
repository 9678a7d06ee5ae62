"""The page a locked-out sign-in gets (django-axes calls ``locked_out``), and its log line.

The page says when to try again: the lockout ends SIGNIN_LOCKOUT_MINUTES after the last failure
that counted (attempts made while locked out do not count, see AXES_RESET_COOL_OFF_...).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from axes.helpers import get_client_ip_address, get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

logger = logging.getLogger("handoff_site.signin")


# Django's own username column is 150 characters; axes stores what was typed in a varchar(255).
USERNAME_KEPT = 150


def username_tried(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The username a sign-in tried, cut to what a real one can be, so that a 10,000-character
    guess is counted (and locked out) like any other instead of failing the insert."""
    source = credentials or getattr(request, "POST", {})
    username = source.get(getattr(settings, "AXES_USERNAME_FORM_FIELD", "username"))
    return username[:USERNAME_KEPT] if isinstance(username, str) else None


def retry_at(username: str | None, ip_address: str | None) -> datetime | None:
    """When the lockout of this username or address ends (None when it never ends by itself)."""
    cool_off = get_cool_off()
    if not cool_off:
        return None
    last = AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=ip_address)).aggregate(
        last=Max("attempt_time")
    )["last"]
    return (last or timezone.now()) + cool_off


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    # Axes' async middleware passes the credentials second: read them off the request instead.
    credentials = getattr(request, "axes_credentials", None) or credentials
    username = get_client_username(request, credentials)
    ip_address = getattr(request, "axes_ip_address", None) or get_client_ip_address(request)
    until = retry_at(username, ip_address)
    logger.warning(
        "signin_locked_out path=%s until=%s", request.path, until.isoformat() if until else "unlock"
    )
    return render(
        request,
        "registration/locked_out.html",
        {"retry_at": until, "username": username or ""},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
