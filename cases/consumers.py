"""The desk's websocket: one per open page, joined to the groups its user may see."""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from cases.events import SUPERVISORS_GROUP, queue_group
from cases.permissions import sees_all_queues, visible_queue_ids

logger = logging.getLogger(__name__)

UNAUTHORIZED = 4401


class DeskConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORIZED)
            return
        queue_ids, supervisor = await self._access(user)  # a supervisor's: every queue
        groups = [queue_group(queue_id) for queue_id in sorted(queue_ids)]
        if supervisor:
            groups.append(SUPERVISORS_GROUP)
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups
        await self.accept()
        await self.send_json({"type": "hello", "queues": sorted(queue_ids)})

    @database_sync_to_async
    def _access(self, user: Any) -> tuple[set[int], bool]:
        return visible_queue_ids(user), sees_all_queues(user)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def desk_event(self, message: dict[str, Any]) -> None:
        try:
            await self.send_json(
                {key: value for key, value in message.items() if key != "type"} | {"type": "event"}
            )
        except Exception:
            logger.exception("desk_event_send_failed case_id=%s", message.get("case_id"))
