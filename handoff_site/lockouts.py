"""Locked-out sign-ins as admins see them, and unlocking one (issue 13).

django-axes keeps one AccessAttempt row per username, address and browser. A username is locked
out when its rows inside the cool-off add up to AXES_FAILURE_LIMIT, and so is an address
(AXES_LOCKOUT_PARAMETERS): a lockout here is one of those two. Each lockout is on record when it
starts, in Axes' AccessFailureLog (``locked_out``: attempts refused during the lockout are not
logged); each unlock in Django's admin log (LogEntry, a deletion of access attempts), where the
admin's own "delete selected" writes it too.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from axes.helpers import get_cool_off
from axes.models import AccessAttempt, AccessFailureLog
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger("handoff_site.signin")

HISTORY_SIZE = 30
Kind = Literal["username", "address"]
FIELD: dict[Kind, str] = {"username": "username", "address": "ip_address"}


@dataclass(frozen=True)
class Lockout:
    kind: Kind
    value: str
    failures: int
    last_failure: datetime
    # When it ends by itself: the last failure plus the cool-off, as the locked-out page says.
    until: datetime | None
    # The addresses a username was tried from, or the usernames an address tried.
    seen_with: list[str]


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: Literal["locked_out", "unlocked"]
    subject: str
    by: str  # who unlocked ("" for a lockout)
    detail: str


def current_lockouts() -> list[Lockout]:
    """Usernames and addresses locked out now, the most recent first."""
    cool_off: timedelta | None = get_cool_off()
    attempts = AccessAttempt.objects.all()
    if cool_off:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    # Only these fields: the row's GET and POST data stay out of the page.
    rows = list(attempts.values("username", "ip_address", "failures_since_start", "attempt_time"))
    limit = int(settings.AXES_FAILURE_LIMIT)
    found: list[Lockout] = []
    for kind, field in FIELD.items():
        other = FIELD["address" if kind == "username" else "username"]
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            if row[field]:
                groups[row[field]].append(row)
        for value, mine in groups.items():
            failures = sum(r["failures_since_start"] for r in mine)
            if failures < limit:
                continue
            last = max(r["attempt_time"] for r in mine)
            found.append(
                Lockout(
                    kind=kind,
                    value=value,
                    failures=failures,
                    last_failure=last,
                    until=last + cool_off if cool_off else None,
                    seen_with=sorted({r[other] for r in mine if r[other]}),
                )
            )
    return sorted(found, key=lambda lockout: lockout.last_failure, reverse=True)


def lockout_history(size: int = HISTORY_SIZE) -> list[HistoryEntry]:
    """The latest lockouts and unlocks, newest first."""
    entries = [
        HistoryEntry(
            at=failure.attempt_time,
            kind="locked_out",
            subject=f"username {failure.username} from {failure.ip_address}",
            by="",
            detail=f"on {failure.path_info}",
        )
        for failure in AccessFailureLog.objects.filter(locked_out=True)
        .only("attempt_time", "username", "ip_address", "path_info")
        .order_by("-attempt_time")[:size]
    ]
    unlocks = (
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(AccessAttempt), action_flag=DELETION
        )
        .select_related("user")
        .order_by("-action_time")[:size]
    )
    entries += [
        HistoryEntry(
            at=entry.action_time,
            kind="unlocked",
            subject=entry.object_repr,
            by=entry.user.get_full_name() or entry.user.get_username(),
            detail=entry.change_message or "in the admin",
        )
        for entry in unlocks
    ]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)[:size]


def signin_unlock(*, by: Any, username: str = "", ip_address: str = "") -> int:
    """Lift the lockout of one username or one address; how many attempt rows went (0: it was
    not locked out, and nothing is recorded)."""
    if bool(username) == bool(ip_address):
        raise ValueError("unlock one username or one address")
    kind: Kind = "username" if username else "address"
    with transaction.atomic():
        # Axes' own reset: for a username every address it was tried from, for an address every
        # username it tried.
        count = axes_reset(username=username or None, ip=ip_address or None)
        if count:
            LogEntry.objects.create(
                user=by,
                content_type=ContentType.objects.get_for_model(AccessAttempt),
                object_repr=f"{kind} {username or ip_address}"[:200],
                action_flag=DELETION,
                change_message=f"Unlocked from the desk ({count} attempt record(s) deleted)",
            )
    if count:
        # Who unlocked; the username and address are in the admin's log, not in log files.
        logger.info("signin_unlocked by_user_id=%s what=%s attempts=%s", by.pk, kind, count)
    return count
