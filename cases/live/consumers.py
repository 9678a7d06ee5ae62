"""The desk's websocket: one per open page, joined to the groups its user may see.

Frames to the page: ``hello`` (the queues joined and the newest cursor), ``event`` (a case's
new state, see ``cases.live.events``), ``reload`` (too much was missed: load the page again),
``pong`` (the heartbeat went through the channel layer and back; the newest cursor).
Frames from the page: ``{"type": "resync", "since": <cursor>}``; the answer is the current
state of every visible case changed since, oldest first. ``{"type": "ping", "since": <cursor>}``
every few seconds: the heartbeat. It answers what a resync would (so a frame the layer lost in
an outage shorter than the heartbeat still reaches the page), and sends one message to this
socket's own channel through the layer; ``pong`` follows when it comes back. When the layer
refuses it or it does not come back within ``ECHO_TIMEOUT``, the socket is closed with
``LAYER_DOWN``: the page says it is not live, reconnects and resyncs. Redis going away does not
drop the page's socket by itself, so without this a page would stay open, say "Live" and miss
everything published meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from celery import current_app
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from cases import presence
from cases.live.events import (
    SUPERVISORS_GROUP,
    agent_state_frame,
    case_snapshot,
    offer_frame,
    queue_group,
    user_group,
)
from cases.models import AgentStatus, Case, CaseEvent, Offer
from cases.permissions import sees_all_queues, visible_queue_ids
from observability.instruments import WEBSOCKET_CONNECTIONS
from queues.models import AssignmentMode, Membership

logger = logging.getLogger(__name__)

UNAUTHORIZED = 4401
UNSUPPORTED_DATA = 1003  # RFC 6455: a frame of a type this end cannot accept
LAYER_DOWN = 4503  # the channel layer failed a round trip: reconnect (and resync) later
RESYNC_LIMIT = 200
ECHO_TIMEOUT = 5.0  # seconds for the heartbeat's trip through the layer (a local Redis: ~1 ms)
# A reload, or a link to another desk page, closes the socket before the next one opens: the
# agent's pending offer goes back only if no page of theirs is open this long after.
PAGE_GONE_GRACE = 5.0
PRESENCE_TOUCH_EVERY = 20.0  # seconds; presence rows go stale after 75 s
# What a channel layer raises when Redis is away: refused, cut, or too slow to answer.
LAYER_ERRORS = (RedisError, OSError, TimeoutError)


def _dropped_once_gone(send: Any) -> Any:
    """The server's send, for which a frame to a page that has just left is dropped. Raised
    (uvicorn's ClientDisconnected, an OSError), it ended the consumer before disconnect() ran,
    so the agent stayed "online" with no page until their presence lapsed, and got offers."""

    async def to_page(message: dict[str, Any]) -> None:
        try:
            await send(message)
        except OSError:
            logger.debug("ws_send_after_close type=%s", message.get("type"))

    return to_page


class DeskConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]
    queue_ids: set[int]
    member_queue_ids: set[int]
    viewing: tuple[int, int] | None
    echo_due: asyncio.TimerHandle | None = None
    closing: asyncio.Task[None] | None = None
    touched_at: float = 0.0
    newest: int = 0
    counted: bool = False  # in the open-connections gauge

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # With Redis away, Channels' own subscription of this socket's channel fails before
        # connect() runs: refuse the socket with one log line (the page retries), not a traceback.
        try:
            await super().__call__(scope, receive, _dropped_once_gone(send))
        except LAYER_ERRORS as error:
            logger.warning("ws_layer_unavailable error=%s", type(error).__name__)
            with contextlib.suppress(RuntimeError, OSError):  # the socket may be gone already
                await send({"type": "websocket.close", "code": LAYER_DOWN})
        finally:
            # Here rather than in disconnect(): the consumer ends here however it ends.
            if self.counted:
                WEBSOCKET_CONNECTIONS.dec()

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORIZED)
            return
        cursor = await self._join_visible_groups()
        await self.accept()
        WEBSOCKET_CONNECTIONS.inc()
        self.counted = True
        await self.send_json({"type": "hello", "queues": sorted(self.queue_ids), "cursor": cursor})
        self.viewing = await self._present(user, self._requested_case())
        await self._announce_presence()
        await self._agent_seen(connected=True)

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

    async def _agent_seen(self, *, connected: bool) -> None:
        """The agent's state rides on their pages (cases/presence.py): back from offline, their
        pages and the console hear it and their push queues offer them work; a page opening
        shows the offer they have not answered yet."""
        try:
            back, frames = await self._agent_seen_sync(connected)
            for frame in frames:
                await self.send_json(frame | {"type": "offer"})
            if back is not None:
                await self._agent_state_send(back)
        except Exception:
            logger.exception("agent_seen_failed user_id=%s", self.scope["user"].pk)

    async def _agent_state_send(self, state: str) -> None:
        """The agent's own pages and the console hear their new state."""
        user_id = self.scope["user"].pk
        queue_ids = sorted(self.member_queue_ids)
        frame = agent_state_frame(user_id, state, queue_ids)
        try:
            # Supervisors join every queue's group too: theirs alone, so they hear it once.
            for group in [user_group(user_id), SUPERVISORS_GROUP]:
                await self.channel_layer.group_send(group, frame)
        except Exception:
            logger.exception("agent_state_send_failed user_id=%s", user_id)

    @database_sync_to_async
    def _agent_seen_sync(self, connected: bool) -> tuple[str | None, list[dict[str, Any]]]:
        user_id = self.scope["user"].pk
        back = presence.agent_page_seen(user_id=user_id)
        frames = []
        if connected:
            offer = (
                Offer.objects.filter(agent_id=user_id, state=Offer.State.PENDING)
                .select_related("case__queue")
                .first()
            )
            if offer is not None:
                frames.append(offer_frame(offer, offer.case))
        if back == AgentStatus.State.ONLINE and self._has_push_queue():
            try:  # by name: the assignment service sits above this layer
                current_app.send_task("cases.tasks.assign_for_agent", args=[user_id])
            except Exception:  # broker down: beat's sweep offers within its period
                logger.warning("assign_for_agent_enqueue_failed user_id=%s", user_id)
        return back, frames

    def _has_push_queue(self) -> bool:
        return Membership.objects.filter(
            agent_id=self.scope["user"].pk,
            queue__assignment_mode=AssignmentMode.PUSH,
            queue__is_active=True,
        ).exists()

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
            frames.append((queue_group(queue_id), presence.queue_presence_frame(queue_id)))
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
            # Its groups may be half joined: a new socket joins them all and resyncs.
            await self.close(code=LAYER_DOWN)

    @database_sync_to_async
    def _access(self, user: Any) -> tuple[set[int], bool, int]:
        cursor = CaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        return visible_queue_ids(user), sees_all_queues(user), cursor

    async def disconnect(self, code: int) -> None:
        if self.echo_due is not None:
            self.echo_due.cancel()
        try:
            for group in getattr(self, "groups_joined", []):
                await self.channel_layer.group_discard(group, self.channel_name)
        except LAYER_ERRORS as error:  # Redis is away; its subscriptions went with it
            logger.warning("ws_group_discard_failed error=%s", type(error).__name__)
        if hasattr(self, "viewing"):
            gone = await database_sync_to_async(self._leave)()
            await self._announce_presence()
            if gone:
                await self._agent_state_send(AgentStatus.State.OFFLINE)

    def _leave(self) -> bool:
        user_id = self.scope["user"].pk
        presence.presence_leave(channel_name=self.channel_name)
        gone = presence.agent_page_left(user_id=user_id)
        if gone and Offer.objects.filter(agent_id=user_id, state=Offer.State.PENDING).exists():
            try:  # by name: the assignment service sits above this layer
                current_app.send_task(
                    "cases.tasks.agent_left", args=[user_id], countdown=PAGE_GONE_GRACE
                )
            except Exception:  # broker down: the offer times out and goes on as before
                logger.warning("agent_left_enqueue_failed user_id=%s", user_id)
        return gone

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        # The page only sends JSON text. Anything else (a binary frame, text that is not JSON)
        # closes this socket with 1003 "unsupported data" and one log line, not a traceback.
        if text_data is None:
            await self._refuse("binary")
            return
        try:
            content = await self.decode_json(text_data)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
            await self._refuse("not_json")
            return
        await self.receive_json(content, **kwargs)

    async def _refuse(self, reason: str) -> None:
        user = self.scope.get("user")
        logger.warning("ws_frame_refused reason=%s user_id=%s", reason, getattr(user, "pk", None))
        await self.close(code=UNSUPPORTED_DATA)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") not in ("ping", "resync"):
            return
        if content["type"] == "ping":
            # A page's first ping has no cursor yet (its hello is on the way): nothing to catch up.
            since = content.get("since")
            valid = isinstance(since, int) and not isinstance(since, bool)
            await self._heartbeat(since if valid else None)
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

    async def _heartbeat(self, since: int | None) -> None:
        """The page's ping: a trip through the layer to this socket's own channel (``desk_echo``
        answers it), what the page missed since its cursor, and its presence kept fresh.

        The echo's clock starts once this handler's database work is done: the consumer handles
        one message at a time, so the echo waits behind that work, and on a busy server (the
        sync thread seconds behind) timing it from the send closed every page as "layer down"
        (bench/assignment.py: 170-193 of 200 agents' sockets at 5-20 handoffs/s)."""
        echo_sent = False
        if self.echo_due is None:  # one trip at a time: a page pinging faster gains nothing
            try:
                message = {"type": "desk.echo"}
                await asyncio.wait_for(
                    self.channel_layer.send(self.channel_name, message), ECHO_TIMEOUT
                )
            except LAYER_ERRORS as error:
                await self._layer_lost(f"send_{type(error).__name__}")
                return
            echo_sent = True
        try:
            await self._catch_up(since)
        finally:
            if echo_sent:
                loop = asyncio.get_running_loop()
                self.echo_due = loop.call_later(ECHO_TIMEOUT, self._echo_missing)

    async def _catch_up(self, since: int | None) -> None:
        touch = time.monotonic() - self.touched_at >= PRESENCE_TOUCH_EVERY
        if touch:
            self.touched_at = time.monotonic()
        try:
            frames, back = await self._beat(since, touch=touch)
        except Exception:
            logger.exception("heartbeat_failed since=%s", since)
            return
        for frame in frames:
            await self.send_json(frame)
        if back:
            await self._announce_presence()
        if touch:
            await self._agent_seen(connected=False)

    @database_sync_to_async
    def _beat(self, since: int | None, *, touch: bool) -> tuple[list[dict[str, Any]], bool]:
        """What the page missed since its cursor (none on its first ping: nothing to look for), and
        whether its presence had lapsed and now counts again. One switch to the database."""
        back = False
        if touch:
            viewing = getattr(self, "viewing", None)
            back = presence.presence_touch(
                channel_name=self.channel_name,
                user=self.scope["user"],
                case_id=viewing[0] if viewing else None,
            )
        newest = CaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        frames = self._missed_frames(since) if since is not None and since < newest else []
        # The pong hands the page this cursor, so events of queues it cannot see do not make
        # it look further back on every ping.
        self.newest = newest
        return frames, back

    async def desk_echo(self, message: dict[str, Any]) -> None:
        """The heartbeat came back through the layer: the page is live."""
        if self.echo_due is not None:
            self.echo_due.cancel()
            self.echo_due = None
        await self.send_json({"type": "pong", "cursor": self.newest})

    def _echo_missing(self) -> None:
        self.echo_due = None
        self.closing = asyncio.ensure_future(self._layer_lost("no_echo"))

    async def _layer_lost(self, reason: str) -> None:
        """The layer cannot carry this socket's events: close it, so that the page says it is
        not live and reconnects (and resyncs) until the layer takes it again."""
        user = self.scope.get("user")
        logger.warning("ws_layer_lost reason=%s user_id=%s", reason, getattr(user, "pk", None))
        with contextlib.suppress(RuntimeError, OSError):  # the page may have left meanwhile
            await self.close(code=LAYER_DOWN)

    @database_sync_to_async
    def _missed(self, since: int) -> list[dict[str, Any]]:
        return self._missed_frames(since)

    def _missed_frames(self, since: int) -> list[dict[str, Any]]:
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

    async def desk_agent(self, message: dict[str, Any]) -> None:
        await self.send_json(message | {"type": "agent"})

    async def desk_offer(self, message: dict[str, Any]) -> None:
        await self.send_json(message | {"type": "offer"})

    async def desk_offers(self, message: dict[str, Any]) -> None:
        """An offer made or ended, for the supervisors' consoles (whom a case is offered to)."""
        await self.send_json(message | {"type": "offers"})

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
