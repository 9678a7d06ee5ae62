"""Locked-out sign-ins, for admins: who and which address is locked out, until when, an Unlock
button per row, and the recent lockouts and unlocks (issue 13)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from handoff_site import lockouts
from handoff_site.lockout_forms import UnlockForm

# The admin role has these (cases/migrations/0014_admin_unlocks_signins.py), superusers too;
# supervisors and agents get a 403.
unlocks_signins = permission_required(
    ("axes.view_accessattempt", "axes.delete_accessattempt"), raise_exception=True
)


def _page(request: HttpRequest, form: UnlockForm | None = None, status: int = 200) -> HttpResponse:
    context: dict[str, Any] = {
        "lockouts": lockouts.current_lockouts(),
        "history": lockouts.lockout_history(),
        "form": form,
    }
    return render(request, "registration/lockouts.html", context, status=status)


@login_required
@unlocks_signins
@require_GET
def lockout_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@unlocks_signins
@require_POST
def lockout_unlock(request: HttpRequest) -> HttpResponse:
    form = UnlockForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    username, ip_address = form.cleaned_data["username"], form.cleaned_data["ip_address"]
    what = f"username {username}" if username else f"address {ip_address}"
    if lockouts.signin_unlock(by=request.user, username=username, ip_address=ip_address):
        messages.success(request, f"Unlocked {what}: it can sign in now.")
    else:
        messages.info(request, f"{what.capitalize()} was not locked out (any more).")
    return redirect("signin_lockouts")
