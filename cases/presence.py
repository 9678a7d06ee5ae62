"""Presence: who is looking at a case, and which agents of a queue are online.

A row per open socket (so it holds across processes), refreshed by the page's heartbeat; rows
not seen for ``STALE_AFTER`` (a process that died without saying goodbye) do not count and are
purged by beat.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from cases.models import Presence, person_name
from queues.models import Membership

STALE_AFTER = timedelta(seconds=75)


def _live() -> QuerySet[Presence]:
    return Presence.objects.filter(seen_at__gte=timezone.now() - STALE_AFTER)


def presence_join(*, channel_name: str, user: Any, case_id: int | None) -> None:
    Presence.objects.update_or_create(
        channel_name=channel_name,
        defaults={"user": user, "case_id": case_id, "seen_at": timezone.now()},
    )


def presence_leave(*, channel_name: str) -> None:
    Presence.objects.filter(channel_name=channel_name).delete()


def presence_touch(*, channel_name: str, user: Any, case_id: int | None) -> bool:
    """The page's heartbeat. True when the page had stopped counting and counts again: its row
    was stale or already purged while the socket stayed open (a suspended laptop, a background
    tab whose timers the browser slowed), so the pages that show its user must hear it. Before,
    such a page stayed "offline" until it reconnected, however long it was open."""
    if _live().filter(channel_name=channel_name).update(seen_at=timezone.now()):
        return False
    presence_join(channel_name=channel_name, user=user, case_id=case_id)
    return True


def presence_purge() -> int:
    deleted, _ = Presence.objects.filter(seen_at__lt=timezone.now() - STALE_AFTER).delete()
    return deleted


def queue_presence_frame(queue_id: int) -> dict[str, Any]:
    """Who of the queue's agents is online, for the pages that show the queue."""
    return {"type": "desk.presence", "queue_id": queue_id, "online": queue_online(queue_id)}


def case_viewers(case_id: int) -> list[str]:
    users = _live().filter(case_id=case_id).select_related("user").order_by("user_id")
    return sorted({person_name(p.user) for p in users})


def queue_online(queue_id: int) -> list[str]:
    members = Membership.objects.filter(queue_id=queue_id).values("agent_id")
    users = _live().filter(user_id__in=members).select_related("user")
    return sorted({person_name(p.user) for p in users})


def online_user_ids() -> set[int]:
    return set(_live().values_list("user_id", flat=True).distinct())
