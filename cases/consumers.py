"""The desk's websocket: one per open page, joined to the groups its user may see.

Frames to the page: ``hello`` (the queues joined and the newest cursor), ``event`` (a case's
new state, see ``cases.events``), ``reload`` (too much was missed: load the page again).
Frames from the page: ``{"type": "resync", "since": <cursor>}`` after a reconnect; the answer
is the current state of every visible case changed since, oldest first.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from cases import presence
from cases.events import SUPERVISORS_GROUP, case_snapshot, queue_group, user_group
from cases.models import Case, CaseEvent
from cases.permissions import sees_all_queues, visible_queue_ids
from queues.models import Membership

logger = logging.getLogger(__name__)

UNAUTHORIZED = 4401
RESYNC_LIMIT = 200


class DeskConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]
    queue_ids: set[int]
    member_queue_ids: set[int]
    viewing: tuple[int, int] | None

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORIZED)
            return
        cursor = await self._join_visible_groups()
        await self.accept()
        await self.send_json({"type": "hello", "queues": sorted(self.queue_ids), "cursor": cursor})
        self.viewing = await self._present(user, self._requested_case())
        await self._announce_presence()

    def _requested_case(self) -> int | None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            return int(query["case"][0])
        except (KeyError, ValueError):
            return None

    @database_sync_to_async
    def _present(self, user: Any, case_id: int | None) -> tuple[int, int] | None:
        """Record this page; returns (case, queue) when it shows a case the user may see."""
        case = (
            Case.objects.filter(pk=case_id, queue_id__in=self.queue_ids)
            .values_list("pk", "queue_id")
            .first()
            if case_id
            else None
        )
        presence.presence_join(
            channel_name=self.channel_name, user=user, case_id=case[0] if case else None
        )
        self.member_queue_ids = set(
            Membership.objects.filter(agent=user).values_list("queue_id", flat=True)
        )
        return case

    async def _announce_presence(self) -> None:
        """Tell the pages that show them: the case's viewers, the queues' online agents."""
        try:
            frames = await self._presence_frames()
            for group, frame in frames:
                await self.channel_layer.group_send(group, frame)
        except Exception:
            logger.exception("presence_announce_failed user_id=%s", self.scope["user"].pk)

    @database_sync_to_async
    def _presence_frames(self) -> list[tuple[str, dict[str, Any]]]:
        frames = []
        if self.viewing:
            case_id, queue_id = self.viewing
            frames.append(
                (
                    queue_group(queue_id),
                    {
                        "type": "desk.presence",
                        "case_id": case_id,
                        "viewers": presence.case_viewers(case_id),
                    },
                )
            )
        for queue_id in sorted(self.member_queue_ids):
            frames.append(
                (
                    queue_group(queue_id),
                    {
                        "type": "desk.presence",
                        "queue_id": queue_id,
                        "online": presence.queue_online(queue_id),
                    },
                )
            )
        return frames

    async def desk_presence(self, message: dict[str, Any]) -> None:
        await self.send_json(message | {"type": "presence"})

    async def _join_visible_groups(self) -> int:
        """Join the groups of what the user may see now, leave the others; returns the cursor."""
        user = self.scope["user"]
        self.queue_ids, supervisor, cursor = await self._access(user)
        groups = [user_group(user.pk), *(queue_group(q) for q in sorted(self.queue_ids))]
        if supervisor:
            groups.append(SUPERVISORS_GROUP)
        for group in set(self.groups_joined) - set(groups):
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in groups:
            if group not in self.groups_joined:
                await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups
        return cursor

    async def access_changed(self, message: dict[str, Any]) -> None:
        try:
            await self._join_visible_groups()
            await self.send_json({"type": "access", "queues": sorted(self.queue_ids)})
        except Exception:
            logger.exception("access_change_failed user_id=%s", message.get("user_id"))

    @database_sync_to_async
    def _access(self, user: Any) -> tuple[set[int], bool, int]:
        cursor = CaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        return visible_queue_ids(user), sees_all_queues(user), cursor

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        if hasattr(self, "viewing"):
            await database_sync_to_async(presence.presence_leave)(channel_name=self.channel_name)
            await self._announce_presence()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await database_sync_to_async(presence.presence_touch)(channel_name=self.channel_name)
            return
        if not isinstance(content, dict) or content.get("type") != "resync":
            return
        try:
            since = int(content.get("since", 0))
        except (TypeError, ValueError):
            return
        try:
            frames = await self._missed(since)
        except Exception:
            logger.exception("resync_failed since=%s", since)
            frames = [{"type": "reload"}]
        for frame in frames:
            await self.send_json(frame)

    @database_sync_to_async
    def _missed(self, since: int) -> list[dict[str, Any]]:
        """The current state of each visible case changed after ``since``, oldest change first."""
        changed = list(
            CaseEvent.objects.filter(pk__gt=since, case__queue_id__in=self.queue_ids)
            .order_by("pk")
            .values_list("case_id", "pk", "kind")[: RESYNC_LIMIT + 1]
        )
        if len(changed) > RESYNC_LIMIT:
            return [{"type": "reload"}]
        last: dict[int, tuple[int, str]] = {}
        for case_id, pk, kind in changed:
            last.pop(case_id, None)  # keep the order of each case's latest change
            last[case_id] = (pk, kind)
        cases = Case.objects.select_related("queue", "assignee").in_bulk(list(last))
        frames = []
        for case_id, (pk, kind) in last.items():
            case = cases.get(case_id)
            if case is not None:
                frame = case_snapshot(case, kind=f"case.{kind}", cursor=pk)
                frames.append(frame | {"type": "event", "resync": True})
        return frames

    async def desk_alert(self, message: dict[str, Any]) -> None:
        try:
            await self.send_json(message | {"type": "alert"})
        except Exception:
            logger.exception("desk_alert_send_failed case_id=%s", message.get("case_id"))

    async def desk_event(self, message: dict[str, Any]) -> None:
        try:
            await self.send_json(message | {"type": "event"})
        except Exception:
            logger.exception("desk_event_send_failed case_id=%s", message.get("case_id"))
