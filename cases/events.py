"""Live events: published to Channels groups only after the transaction commits.

A failure of the channel layer (Redis down) is logged and survived: the change is already
committed, and pages resync from the case versions when the layer returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from cases.models import Case

logger = logging.getLogger(__name__)

SUPERVISORS_GROUP = "supervisors"


def queue_group(queue_id: int) -> str:
    return f"queue.{queue_id}"


@dataclass(frozen=True)
class LiveEvent:
    kind: str
    case_id: int
    version: int
    groups: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)

    def message(self) -> dict[str, Any]:
        return {
            "type": "desk.event",
            "kind": self.kind,
            "case_id": self.case_id,
            "version": self.version,
            "data": self.data,
        }


def case_event(case: Case, kind: str, *, extra_queue_ids: tuple[int, ...] = ()) -> LiveEvent:
    # Everyone who may see a case is in its queue's group (agents of the queue; supervisors
    # join every queue's group), so one group per queue reaches every page that shows it.
    queue_ids = {case.queue_id, *extra_queue_ids}
    groups = tuple(queue_group(queue_id) for queue_id in sorted(queue_ids))
    return LiveEvent(
        kind=kind,
        case_id=case.pk,
        version=case.version,
        groups=groups,
        data={
            "status": case.status,
            "queue_id": case.queue_id,
            "priority": case.priority,
            "assignee_id": case.assignee_id,
        },
    )


def publish(event: LiveEvent) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send_to_groups)(layer, event)
    except Exception:
        logger.warning(
            "live_event_failed kind=%s case_id=%s", event.kind, event.case_id, exc_info=True
        )


async def _send_to_groups(layer: Any, event: LiveEvent) -> None:
    # One sync→async switch for all groups of the event.
    message = event.message()
    for group in event.groups:
        await layer.group_send(group, message)


def publish_on_commit(event: LiveEvent) -> None:
    transaction.on_commit(lambda: publish(event))
