"""Cases find agents (issue 17): in a push queue the desk offers each waiting case to a free
online agent of the queue; the agent accepts or declines (cases/services/offers.py), or lets the
offer time out and it goes to the next agent.

The queue's policy: the most urgent waiting case first (priority, then SLA due time, then age:
the queue page's and take-next's order), each to the agent with the most free slots for it,
then the one idle longest (who got a case longest ago). A later case goes to an agent only when
that agent cannot take the earlier ones (they declined it, or only a reserved slot is left and
the earlier case is not VIP or urgent): an older case is never passed over for a newer one.

One offer per case and per agent at a time (the database's partial unique indexes say so too).
Cases are locked ``SKIP LOCKED`` like take-next, then the agent's status row, so concurrent runs
offer different cases to different agents; the assignment itself takes the case's lock and
re-checks its status as a claim does, so a case is assigned once whoever races.

Triggers: a handoff into a push queue, a case freed (released, reassigned), an agent with room
again (a case resolved or returned), an agent coming online; and a sweep every few seconds
(beat) that times out overdue offers and offers whatever is still waiting, so nothing sticks
when a task is lost.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from cases import presence
from cases.live.events import publish_agent_state, publish_offer
from cases.locks import lock_case
from cases.models import OPEN_WORK, AgentStatus, Case, Offer
from cases.services.audit import record_event
from queues import services as queue_services
from queues.models import AssignmentMode, Membership, Queue
from vocabulary import is_high_value_tier

logger = logging.getLogger(__name__)

State = AgentStatus.State
# A case an agent declined or let time out is not offered to them again for this long.
ANSWER_COOLDOWN = timedelta(minutes=5)
# What the "p" shortcut asks for: online ⇄ away, from the state the desk holds.
SWITCH = "switch"
# How many of a queue's waiting cases one run looks at: more than agents can take at once.
CASES_PER_RUN = 200
# A run that skipped a case locked by a short write (the escalation timing written just after
# intake) looks again this soon, a few times, rather than leave it to the next handoff or the
# sweep: that wait made the p99 of commit-to-offer seconds in bench/assignment.py.
LOCKED_RETRY_SECONDS = 0.2
LOCKED_RETRIES = 3
# How long a run waits, in place, for a case such a short write holds (_wait_for_brief_writes).
BRIEF_LOCK_WAIT_MS = 50


class OfferGone(Exception):
    """The offer was answered, timed out or withdrawn already; the message says which."""


def takes_reserved_slot(case: Case) -> bool:
    """VIP (a high-value tier, HANDOFF_HIGH_VALUE_TIERS) and urgent cases may use the slots a
    queue keeps in reserve."""
    return case.priority >= Case.Priority.URGENT or is_high_value_tier(case.customer_tier)


# --- room ----------------------------------------------------------------------------------------


@dataclass
class Room:
    """One agent's free slots for a queue's cases: for any case, and for a case that may not use
    the reserved slots."""

    agent_id: int
    any_case: int
    normal_case: int
    last_assigned_at: datetime | None

    def for_case(self, case: Case) -> int:
        return self.any_case if takes_reserved_slot(case) else self.normal_case


def agent_rooms(queue: Queue, agent_ids: list[int]) -> dict[int, Room]:
    """Three queries: memberships, open cases by queue, and the agents' overall caps."""
    capacity = dict(
        Membership.objects.filter(queue=queue, agent_id__in=agent_ids).values_list(
            "agent_id", "capacity"
        )
    )
    in_queue: dict[int, int] = {}
    overall: dict[int, int] = {}
    for row in (
        Case.objects.filter(assignee_id__in=agent_ids, status__in=OPEN_WORK)
        .values("assignee_id", "queue_id")
        .annotate(n=Count("pk"))
    ):
        overall[row["assignee_id"]] = overall.get(row["assignee_id"], 0) + row["n"]
        if row["queue_id"] == queue.pk:
            in_queue[row["assignee_id"]] = row["n"]
    statuses = AgentStatus.objects.filter(user_id__in=agent_ids).values_list(
        "user_id", "max_open", "last_assigned_at"
    )
    reserve = queue.reserved_slots
    rooms = {}
    for agent_id, max_open, last_assigned_at in statuses:
        if agent_id not in capacity:
            continue
        free = capacity[agent_id] - in_queue.get(agent_id, 0)
        normal = free - reserve
        if max_open is not None:
            free_overall = max_open - overall.get(agent_id, 0)
            free, normal = min(free, free_overall), min(normal, free_overall - reserve)
        rooms[agent_id] = Room(agent_id, free, normal, last_assigned_at)
    return rooms


def room_for(case: Case, agent_id: int) -> int:
    """The agent's free slots for this case now (read under the caller's locks)."""
    room = agent_rooms(case.queue, [agent_id]).get(agent_id)
    return room.for_case(case) if room is not None else 0


# --- offering ------------------------------------------------------------------------------------


def _available_agents(queue: Queue, now: datetime) -> list[int]:
    """Online agents of the queue with an open page and no pending offer."""
    return list(
        AgentStatus.objects.filter(
            state=State.ONLINE,
            online_until__gt=now,
            user__is_active=True,
            user__memberships__queue=queue,
        )
        .exclude(user_id__in=Offer.objects.filter(state=Offer.State.PENDING).values("agent_id"))
        .values_list("user_id", flat=True)
    )


def _policy_order(room: Room, case: Case) -> tuple[int, float, int]:
    # Most free slots first, then idle longest (never assigned: idlest of all), then by id.
    idle = room.last_assigned_at.timestamp() if room.last_assigned_at else float("-inf")
    return (-room.for_case(case), idle, room.agent_id)


def queue_assign(*, queue_id: int, retry: int = 0) -> list[Offer]:
    """Offer the queue's waiting cases to its free online agents, most urgent first."""
    queue = Queue.objects.filter(pk=queue_id, is_active=True).first()
    if queue is None or queue.assignment_mode != AssignmentMode.PUSH:
        return []
    with transaction.atomic():
        offers, skipped_locked = _offer_waiting(queue)
        if skipped_locked and retry < LOCKED_RETRIES:
            look_again = functools.partial(
                _enqueue, assign_queue, queue.pk, retry + 1, countdown=LOCKED_RETRY_SECONDS
            )
            transaction.on_commit(look_again)
        return offers


def _offer_waiting(queue: Queue) -> tuple[list[Offer], bool]:
    """The offers made, and whether a waiting case was skipped (locked) while an agent had
    room for it."""
    now = timezone.now()
    waiting = (
        Case.objects.select_related("queue")
        .filter(queue=queue, status=Case.Status.WAITING)
        .exclude(offers__state=Offer.State.PENDING)
        .order_by("-priority", "sla_due_at", "pk")
    )
    # A push queue's line is mostly empty (its cases are offered as they come): most runs, those
    # after a resolve or an accept, end here on one query instead of five.
    if not waiting.exists():
        return [], False
    agent_ids = _available_agents(queue, now)
    if not agent_ids:
        return [], False
    rooms = agent_rooms(queue, agent_ids)
    if not _room_left(rooms):
        return [], False
    cases = list(waiting.select_for_update(skip_locked=True, of=("self",))[:CASES_PER_RUN])
    offers = _offer_in_order(cases, rooms, queue, now)
    if not _room_left(rooms) or len(cases) >= CASES_PER_RUN:
        return offers, False
    held = _wait_for_brief_writes(waiting.exclude(pk__in=[case.pk for case in cases]), len(rooms))
    offers += _offer_in_order(held, rooms, queue, now)
    return offers, _room_left(rooms) and _waiting_but_locked(queue, cases + held)


def _room_left(rooms: dict[int, Room]) -> bool:
    return any(room.any_case > 0 for room in rooms.values())


def _offer_in_order(
    cases: list[Case], rooms: dict[int, Room], queue: Queue, now: datetime
) -> list[Offer]:
    """Each case, most urgent first, to the agent the policy picks among those with room who
    did not just refuse it; an agent offered a case leaves ``rooms`` (one offer at a time)."""
    refused: dict[int, set[int]] = {}
    for case_id, agent_id in Offer.objects.filter(
        case__in=cases,
        state__in=(Offer.State.DECLINED, Offer.State.TIMED_OUT),
        answered_at__gte=now - ANSWER_COOLDOWN,
    ).values_list("case_id", "agent_id"):
        refused.setdefault(case_id, set()).add(agent_id)
    offers = []
    for case in cases:
        if not rooms:
            break
        fits = [
            room
            for room in rooms.values()
            if room.for_case(case) > 0 and room.agent_id not in refused.get(case.pk, ())
        ]
        for room in sorted(fits, key=functools.partial(_policy_order, case=case)):
            offer = _offer(case, room.agent_id, queue, now)
            del rooms[room.agent_id]  # one pending offer per agent, taken or not
            if offer is not None:
                offers.append(offer)
                break
    return offers


def _wait_for_brief_writes(passed_over: QuerySet[Case], limit: int) -> list[Case]:
    """The waiting cases SKIP LOCKED passed over, locked after waiting at most
    BRIEF_LOCK_WAIT_MS for each: most are held by a write of a millisecond or two (the
    escalation timing, just after intake), and waiting for it in place offers the case now
    rather than in a second look LOCKED_RETRY_SECONDS later. A case held longer (another
    run's transaction) is left to that second look. PostgreSQL only: elsewhere nothing skips."""
    if connection.vendor != "postgresql" or limit <= 0:
        return []
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a timeout undoes only this
            cursor.execute(f"SET LOCAL lock_timeout = '{BRIEF_LOCK_WAIT_MS}ms'")
            held = list(passed_over.select_for_update(of=("self",))[:limit])
            cursor.execute("SET LOCAL lock_timeout = DEFAULT")
            return held
    except OperationalError:  # lock_timeout: still held
        return []


def _waiting_but_locked(queue: Queue, seen: list[Case]) -> bool:
    # What SKIP LOCKED left out: waiting, not on offer, and not among the cases the run read.
    return (
        Case.objects.filter(queue=queue, status=Case.Status.WAITING)
        .exclude(offers__state=Offer.State.PENDING)
        .exclude(pk__in=[case.pk for case in seen])
        .exists()
    )


def _offer(case: Case, agent_id: int, queue: Queue, now: datetime) -> Offer | None:
    """The offer, or None when another run got to the agent first."""
    status = (
        AgentStatus.objects.select_for_update(skip_locked=True)
        .filter(user_id=agent_id, state=State.ONLINE)
        .first()
    )
    if status is None or Offer.objects.filter(agent_id=agent_id, state="pending").exists():
        return None
    try:
        with transaction.atomic():  # the unique pending offer per case and agent, the backstop
            offer = Offer.objects.create(
                case=case,
                agent_id=agent_id,
                queue=queue,
                offered_at=now,
                expires_at=now + timedelta(seconds=queue.offer_seconds),
            )
    except IntegrityError:
        return None
    record_event(
        case,
        kind="offered",
        actor_label="desk",
        data={"offer": offer.pk, "agent": agent_id, "seconds": queue.offer_seconds},
    )
    publish_offer(offer, case)
    transaction.on_commit(functools.partial(_expire_later, offer.pk, queue.offer_seconds))
    logger.info("case_offered case_id=%s agent_id=%s offer_id=%s", case.pk, agent_id, offer.pk)
    return offer


def offer_end_publish(offer: Offer, case: Case, *, set_away: bool = False) -> None:
    """After the commit, the agent's banner hears how the offer ended (and, for a time-out,
    whether it set them away: the page says why no more offers come)."""
    publish_offer(offer, case, set_away=set_away)


def pending_offers_withdraw(case: Case, *, reason: str, keep: Offer | None = None) -> None:
    """The case left the line another way (claimed, reassigned, resolved): its pending offer
    ends. Called under the case's lock."""
    pending = Offer.objects.filter(case=case, state=Offer.State.PENDING)
    if keep is not None:
        pending = pending.exclude(pk=keep.pk)
    for offer in pending:
        offer.state, offer.answered_at = Offer.State.WITHDRAWN, timezone.now()
        offer.save(update_fields=["state", "answered_at"])
        record_event(
            case,
            kind="offer_withdrawn",
            actor_label="desk",
            data={"offer": offer.pk, "agent": offer.agent_id, "reason": reason},
        )
        offer_end_publish(offer, case)


# --- time-outs -----------------------------------------------------------------------------------


@transaction.atomic
def offer_time_out(*, offer_id: int) -> bool:
    """End an offer not answered in time; the next agent gets the case. After the queue's limit
    of offers let time out in a row, the agent is set away. True when it timed out now."""
    case_id = Offer.objects.filter(pk=offer_id).values_list("case_id", flat=True).first()
    if case_id is None:
        return False
    case = lock_case(case_id)
    offer = Offer.objects.select_for_update().select_related("queue").get(pk=offer_id)
    now = timezone.now()
    if offer.state != Offer.State.PENDING or offer.expires_at > now:
        return False
    offer.state, offer.answered_at = Offer.State.TIMED_OUT, now
    offer.save(update_fields=["state", "answered_at"])
    status = AgentStatus.objects.select_for_update().get(user_id=offer.agent_id)
    status.missed_offers += 1
    set_away = status.missed_offers >= max(offer.queue.misses_before_away, 1)
    fields = ["missed_offers"]
    if set_away:
        status.missed_offers = 0
        status.chosen = State.AWAY
        fields.append("chosen")
        if status.state == State.ONLINE:
            status.state, status.state_since = State.AWAY, now
            fields += ["state", "state_since"]
    status.save(update_fields=fields)
    record_event(
        case,
        kind="offer_timed_out",
        actor_label="desk",
        data={"offer": offer.pk, "agent": offer.agent_id, "set_away": set_away},
    )
    offer_end_publish(offer, case, set_away=set_away)
    if set_away:
        publish_agent_state(offer.agent_id, status.state, _queue_ids_of(offer.agent_id))
    assignment_on_commit(case.queue)
    return True


def _expire_later(offer_id: int, seconds: int) -> None:
    try:
        expire_offer.apply_async((offer_id,), countdown=seconds)
    except Exception:  # broker down: the sweep times it out
        logger.warning("offer_expiry_enqueue_failed offer_id=%s", offer_id, exc_info=True)


# --- the agent's state ---------------------------------------------------------------------------


def _queue_ids_of(user_id: int) -> list[int]:
    return sorted(Membership.objects.filter(agent_id=user_id).values_list("queue_id", flat=True))


@transaction.atomic
def agent_state_choose(*, user: Any, state: str) -> AgentStatus:
    """The agent picks online, away or offline (the top bar's control), or ``SWITCH``es online ⇄
    away (its shortcut). It holds while a page of theirs is open, and again when they come back
    after being offline."""
    if state not in (*State.values, SWITCH):
        raise ValueError(state)
    presence.agent_status(user.pk)  # the row, made once
    status = AgentStatus.objects.select_for_update().get(user_id=user.pk)
    if state == SWITCH:  # from the state held now: the desk may have set them away since
        state = State.AWAY if status.chosen == State.ONLINE else State.ONLINE
    now = timezone.now()
    status.chosen = state
    status.missed_offers = 0
    fields = ["chosen", "missed_offers"]
    shown = state if status.online_until and status.online_until > now else State.OFFLINE
    if shown != status.state:
        status.state, status.state_since = shown, now
        fields += ["state", "state_since"]
    status.save(update_fields=fields)
    queue_ids = _queue_ids_of(user.pk)
    publish_agent_state(user.pk, status.state, queue_ids)
    if status.state != State.ONLINE:
        # An agent who steps away hands back the offer they have not answered: withdrawn, not a
        # miss. After the commit, in a transaction of its own: it locks cases, and a time-out
        # locks a case before an agent's status, never the other way round.
        hand_back = functools.partial(agent_offers_hand_back, user_id=user.pk, reason=state)
        transaction.on_commit(hand_back)
    else:
        agent_assignment_on_commit(user.pk)
    return status


@transaction.atomic
def agent_offers_hand_back(*, user_id: int, reason: str) -> int:
    """The agent stepped away, or their last page closed: each offer they have not answered is
    withdrawn (no miss counted) and goes to the next agent. How many there were."""
    pending = Offer.objects.filter(agent_id=user_id, state=Offer.State.PENDING)
    handed_back = 0
    for case_id in list(pending.values_list("case_id", flat=True)):
        case = lock_case(case_id)
        if pending.filter(case_id=case_id).exists():  # not answered meanwhile
            pending_offers_withdraw(case, reason=f"agent_{reason}")
            assignment_on_commit(case.queue)
            handed_back += 1
    return handed_back


@transaction.atomic
def agent_overall_cap_set(*, agent: Any, max_open: int | None) -> AgentStatus:
    """A supervisor caps the agent's open cases across all queues (None: no cap)."""
    presence.agent_status(agent.pk)
    AgentStatus.objects.filter(user_id=agent.pk).update(max_open=max_open)
    if max_open is None or max_open > 0:
        agent_assignment_on_commit(agent.pk)  # a higher cap may make room
    return AgentStatus.objects.get(user_id=agent.pk)


@transaction.atomic
def queue_assignment_change(
    *, queue: Queue, mode: str, offer_seconds: int, misses_before_away: int, reserved_slots: int
) -> Queue:
    """A supervisor sets how the queue's cases find agents. Turned to push, what waits is
    offered at once."""
    queue = queue_services.queue_assignment_set(
        queue=queue,
        mode=mode,
        offer_seconds=offer_seconds,
        misses_before_away=misses_before_away,
        reserved_slots=reserved_slots,
    )
    if mode != AssignmentMode.PUSH:
        # Back to pull: the offers out stop counting down; agents pull the cases.
        for offer in Offer.objects.filter(queue=queue, state=Offer.State.PENDING):
            case = lock_case(offer.case_id)
            pending_offers_withdraw(case, reason="queue_pull")
    assignment_on_commit(queue)
    return queue


# --- triggers ------------------------------------------------------------------------------------


def assignment_on_commit(queue: Queue) -> None:
    """Called by a service that put a case in the queue's line or made room: offer after the
    commit, in a push queue."""
    if queue.assignment_mode == AssignmentMode.PUSH:
        transaction.on_commit(functools.partial(_enqueue, assign_queue, queue.pk))


def agent_assignment_on_commit(user_id: int) -> None:
    """The agent came online or has room again: offer them work from their push queues."""
    transaction.on_commit(functools.partial(_enqueue, assign_for_agent, user_id))


def _enqueue(task: Any, *args: int, countdown: float | None = None) -> None:
    try:
        task.apply_async(args, countdown=countdown)
    except Exception:  # broker down: the sweep offers the case within its period
        logger.warning("assignment_enqueue_failed task=%s args=%s", task.name, args)


def push_queue_ids_of(user_id: int) -> list[int]:
    return list(
        Membership.objects.filter(
            agent_id=user_id, queue__assignment_mode=AssignmentMode.PUSH, queue__is_active=True
        ).values_list("queue_id", flat=True)
    )


def assignment_sweep() -> int:
    """Beat's pass: time out overdue offers, set offline the agents whose pages are gone, and
    offer what still waits in every push queue. How many offers it made."""
    now = timezone.now()
    for offer_id in Offer.objects.filter(
        state=Offer.State.PENDING, expires_at__lte=now
    ).values_list("pk", flat=True):
        offer_time_out(offer_id=offer_id)
    for user_id in presence.agents_lapsed():
        with transaction.atomic():
            publish_agent_state(user_id, State.OFFLINE, _queue_ids_of(user_id))
        agent_offers_hand_back(user_id=user_id, reason="offline")
    queue_ids = (
        Case.objects.filter(
            status=Case.Status.WAITING,
            queue__assignment_mode=AssignmentMode.PUSH,
            queue__is_active=True,
        )
        .order_by()
        .values_list("queue_id", flat=True)
        .distinct()
    )
    return sum(len(queue_assign(queue_id=queue_id)) for queue_id in list(queue_ids))


# Named like the desk's other tasks, so the beat schedule, the consumer and the worker agree.
@shared_task(name="cases.tasks.assign_queue", ignore_result=True, expires=60)
def assign_queue(queue_id: int, retry: int = 0) -> None:
    queue_assign(queue_id=queue_id, retry=retry)


@shared_task(name="cases.tasks.assign_for_agent", ignore_result=True, expires=60)
def assign_for_agent(user_id: int) -> None:
    for queue_id in push_queue_ids_of(user_id):
        offers = queue_assign(queue_id=queue_id)
        if any(offer.agent_id == user_id for offer in offers):
            return  # one offer at a time: their other queues have nothing more for them now


@shared_task(name="cases.tasks.agent_left", ignore_result=True)
def agent_left(user_id: int) -> None:
    """The agent's last page closed a moment ago (the websocket consumer sends this by name,
    after a grace): unless a page of theirs is open again (a reload, a link to another desk
    page), their pending offer goes back."""
    if presence.agent_states([user_id]).get(user_id, State.OFFLINE) == State.OFFLINE:
        agent_offers_hand_back(user_id=user_id, reason="offline")


@shared_task(name="cases.tasks.expire_offer", ignore_result=True)
def expire_offer(offer_id: int) -> None:
    offer_time_out(offer_id=offer_id)
