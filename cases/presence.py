"""Presence: who is looking at a case, and which agents of a queue are online.

A row per open socket (so it holds across processes), refreshed by the page's heartbeat; rows
not seen for ``STALE_AFTER`` (a process that died without saying goodbye) do not count and are
purged by beat.

An agent's state (``AgentStatus``, issue 17) rides on the same heartbeat: each open page pushes
``online_until`` forward; the agent is in the state they chose (online, away) while a page of
theirs is open, offline when the last one closes or none has beaten for ``STALE_AFTER`` (a
suspended laptop, a crashed browser), and back in the state they chose when a page opens again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from cases.models import AgentStatus, Presence, person_name
from queues.models import Membership

STALE_AFTER = timedelta(seconds=75)
State = AgentStatus.State


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


# --- the agent's state ---------------------------------------------------------------------------


def agent_status(user_id: int) -> AgentStatus:
    status, _ = AgentStatus.objects.get_or_create(user_id=user_id)
    return status


def agent_page_seen(*, user_id: int) -> str | None:
    """A desk page of the agent is open (a socket connected or beat). Returns the agent's new
    state when this brought them back from offline, else None."""
    now = timezone.now()
    status = agent_status(user_id)
    status.online_until = now + STALE_AFTER
    fields = ["online_until"]
    back = status.state == State.OFFLINE and status.chosen != State.OFFLINE
    if back:
        status.state, status.state_since = status.chosen, now
        fields += ["state", "state_since"]
    status.save(update_fields=fields)
    return status.state if back else None


def agent_page_left(*, user_id: int) -> bool:
    """A page closed: with no other page of the agent open, they are offline. True when that
    changed their state."""
    if _live().filter(user_id=user_id).exists():
        return False
    now = timezone.now()
    AgentStatus.objects.filter(user_id=user_id).update(online_until=now)
    return bool(
        AgentStatus.objects.filter(user_id=user_id)
        .exclude(state=State.OFFLINE)
        .update(state=State.OFFLINE, state_since=now)
    )


def agents_lapsed() -> list[int]:
    """Agents shown online or away whose pages are all gone: now offline. Their ids."""
    now = timezone.now()
    lapsed = list(
        AgentStatus.objects.exclude(state=State.OFFLINE)
        .filter(online_until__lt=now)
        .values_list("user_id", flat=True)
    )
    if lapsed:
        AgentStatus.objects.filter(user_id__in=lapsed, online_until__lt=now).update(
            state=State.OFFLINE, state_since=now
        )
    return lapsed


def agent_state_now(status: AgentStatus | None, now: datetime) -> str:
    """The agent's state now: offline when their pages lapsed, even before the sweep says."""
    if status is None or status.online_until is None or status.online_until <= now:
        return State.OFFLINE
    return status.state


def agent_states(user_ids: list[int] | None = None) -> dict[int, str]:
    """Each agent's state now (offline when their pages lapsed, even before the sweep says)."""
    now = timezone.now()
    rows = AgentStatus.objects.all()
    if user_ids is not None:
        rows = rows.filter(user_id__in=user_ids)
    return {
        user_id: state if until is not None and until > now else State.OFFLINE
        for user_id, state, until in rows.values_list("user_id", "state", "online_until")
    }
