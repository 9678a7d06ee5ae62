"""Live events: published to Channels groups only after the transaction commits.

Each event names the case, its new ``version`` and the audit event id (``cursor``: pages keep
the highest they saw and ask for everything newer after a reconnect), and carries what pages
need to patch themselves: the queue row rendered by the queue page's own partial, and the live
figures of the queues it touched.

A failure of the channel layer (Redis down) is logged and survived: the change is already
committed, and pages resync from the cursor when the layer returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from cases.live.rows import queue_row_html
from cases.models import Case, CaseEvent
from cases.selectors import QueueStats, queue_stats
from queues.signals import access_changed

logger = logging.getLogger(__name__)

SUPERVISORS_GROUP = "supervisors"


def queue_group(queue_id: int) -> str:
    return f"queue.{queue_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


@receiver(access_changed)
def publish_access_changed(user_id: int, **signal: Any) -> None:
    """The user's queues changed (sent after the commit): their open sockets re-read what they
    may see."""
    broadcast([user_group(user_id)], {"type": "access.changed", "user_id": user_id})


def case_snapshot(case: Case, *, kind: str, cursor: int, actor: str = "") -> dict[str, Any]:
    """What any page needs to show this case's new state; the same for every viewer."""
    waiting = case.status == Case.Status.WAITING
    return {
        "type": "desk.event",
        "kind": kind,
        "case_id": case.pk,
        "version": case.version,
        "cursor": cursor,
        "queue_id": case.queue_id,
        "status": case.status,
        "priority": case.priority,
        "assignee": case.assignee_name,
        "holder": case.holder,  # who holds the conversation: "bot" or "agent"
        "actor": actor,
        "label": CaseEvent.label_for(kind.removeprefix("case.")),
        "row": queue_row_html(case, timezone.now()) if waiting else "",
        "stats": {str(case.queue_id): _figures(case.queue_id)},
    }


def _figures(queue_id: int) -> dict[str, int]:
    stats = queue_stats([queue_id]).get(queue_id, QueueStats())
    return {"waiting": stats.waiting, "assigned": stats.assigned, "breached": stats.breached}


def publish_case(
    case: Case,
    kind: str,
    *,
    cursor: int,
    actor: str = "",
    also_queue_ids: tuple[int, ...] = (),
    also_supervisors: bool = False,
) -> None:
    """Publish the case's new state to the groups of its queues, once the transaction commits.

    Everyone who may see a case is in its queue's group (agents of the queue; supervisors join
    every queue's group), so one group per queue reaches every page that shows it.

    The frame is built now, inside the transaction (its figures see this transaction's own
    writes), so that after the commit only the send is left between the change and the pages.
    """
    try:
        message = case_snapshot(case, kind=kind, cursor=cursor, actor=actor)
    except Exception:
        # A frame that cannot be built must not undo the change: pages get the bare event and
        # fetch the rest through resync.
        logger.exception("live_event_build_failed kind=%s case_id=%s", kind, case.pk)
        message = {"type": "desk.event", "kind": kind, "case_id": case.pk, "cursor": cursor}
        message |= {"version": case.version, "queue_id": case.queue_id, "row": "", "stats": {}}
    groups = [queue_group(q) for q in sorted({case.queue_id, *also_queue_ids})]

    def send() -> None:
        broadcast(groups, message)
        if also_supervisors:  # an alert: supervisors hear it once, apart from the queue patch
            broadcast([SUPERVISORS_GROUP], message | {"type": "desk.alert"})

    transaction.on_commit(send)


class _EventLoopThread:
    """An event loop of its own in a daemon thread, for a process with no server loop.

    Outside the ASGI server (a Celery worker), ``async_to_sync`` runs every call in a new event
    loop, and the channel layer opens a Redis connection per loop: ~3 ms and a connection per
    event, which made the SLA sweep slower than the callbacks it competes with. Here the loop,
    and with it the layer's connection, lives as long as the process.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="live-events", daemon=True).start()

    def run(self, coroutine: Coroutine[Any, Any, None], timeout: float) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


_own_loop: _EventLoopThread | None = None
_own_loop_wanted = False
_own_loop_lock = threading.Lock()
SEND_TIMEOUT_SECONDS = 5.0


def publish_from_own_loop() -> None:
    """Send this process's events through a long-lived loop of its own, started on first use
    in each process (a Celery worker sets this; a forked child starts its own). A server
    process keeps ``async_to_sync``, which goes back to the server's own loop."""
    global _own_loop_wanted
    _own_loop_wanted = True


def _event_loop_thread() -> _EventLoopThread | None:
    global _own_loop
    if not _own_loop_wanted:
        return None
    with _own_loop_lock:
        if _own_loop is None or _own_loop.pid != os.getpid():  # a fork copies no thread
            _own_loop = _EventLoopThread()
        return _own_loop


def broadcast(groups: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if (own := _event_loop_thread()) is not None:
            own.run(_send_to_groups(layer, groups, message), SEND_TIMEOUT_SECONDS)
        else:
            async_to_sync(_send_to_groups)(layer, groups, message)
    except Exception:
        logger.warning(
            "live_event_failed kind=%s case_id=%s",
            message.get("kind"),
            message.get("case_id"),
            exc_info=True,
        )


async def _send_to_groups(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    # One sync→async switch for all groups of the event.
    for group in groups:
        await layer.group_send(group, message)


# --- assignment (issue 17): an agent's state, offers to an agent --------------------------------


def agent_state_frame(user_id: int, state: str, queue_ids: list[int]) -> dict[str, Any]:
    return {"type": "desk.agent", "agent_id": user_id, "state": state, "queue_ids": queue_ids}


def publish_agent_state(user_id: int, state: str, queue_ids: list[int]) -> None:
    """After the commit: the agent's own pages (their top-bar control) and the supervisors'
    (the console; they join every queue's group too, so only theirs) hear the new state."""
    frame = agent_state_frame(user_id, state, queue_ids)
    groups = [user_group(user_id), SUPERVISORS_GROUP]
    transaction.on_commit(lambda: broadcast(groups, frame))


def offer_frame(offer: Any, case: Case) -> dict[str, Any]:
    """What the agent's offer banner shows. Customer-supplied text goes as data: the page sets
    it as text, never as HTML."""
    return {
        "type": "desk.offer",
        "offer_id": offer.pk,
        "case_id": case.pk,
        "state": offer.state,
        "queue": case.queue.name,
        "customer": case.customer_name,
        "intent": case.current_intent,
        "priority": case.get_priority_display(),
        "expires_at": offer.expires_at.isoformat(),
        "seconds": max(0, round((offer.expires_at - timezone.now()).total_seconds())),
    }


def publish_offer(offer: Any, case: Case, **extra: Any) -> None:
    """After the commit: the offer to the offered agent's pages (a new offer, or how it ended),
    and a word to the supervisors' consoles, which show whom a waiting case is offered to."""
    frame = offer_frame(offer, case) | extra
    seen = {
        "type": "desk.offers",
        "case_id": case.pk,
        "queue_id": case.queue_id,
        "agent_id": offer.agent_id,
        "state": offer.state,
    }

    def send() -> None:
        broadcast([user_group(offer.agent_id)], frame)
        broadcast([SUPERVISORS_GROUP], seen)

    transaction.on_commit(send)
