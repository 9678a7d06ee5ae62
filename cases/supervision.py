"""The supervisor console: every queue's live figures, its agents, their load and who is on."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from django.contrib.auth.models import User
from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from cases.models import CLOSED, OPEN_WORK, Case, Offer
from cases.presence import agent_state_now
from cases.selectors import QueueStats, queue_stats
from queues.hours import HoursNow, hours_now
from queues.models import Membership, Queue


@dataclass
class AgentLoad:
    membership: Membership
    open_cases: int
    state: str  # online, away or offline (cases/presence.py)
    open_overall: int = 0
    max_open: int | None = None  # the agent's cap across queues

    @property
    def online(self) -> bool:
        return self.state == "online"

    @property
    def present(self) -> bool:
        """Online or away: a page of theirs is open."""
        return self.state != "offline"

    @property
    def full(self) -> bool:
        overall = self.max_open is not None and self.open_overall >= self.max_open
        return overall or self.open_cases >= self.membership.capacity

    @property
    def name(self) -> str:
        agent = self.membership.agent
        return agent.get_full_name() or agent.username

    @property
    def percent(self) -> int:
        """How full the agent is, for the load bar (0-100)."""
        return min(100, round(100 * self.open_cases / max(self.membership.capacity, 1)))


@dataclass
class QueueRow:
    queue: Queue
    stats: QueueStats
    agents: list[AgentLoad] = field(default_factory=list)

    @property
    def online(self) -> int:
        return sum(agent.online for agent in self.agents)

    @property
    def capacity(self) -> int:
        return sum(agent.membership.capacity for agent in self.agents if agent.online)

    @property
    def hours(self) -> HoursNow:
        return hours_now(self.queue.schedule, timezone.now())


def console_rows(queues: list[Queue] | None = None) -> list[QueueRow]:
    """Four queries whatever the number of queues and agents."""
    queues = queues if queues is not None else list(Queue.objects.filter(is_active=True))
    stats = queue_stats([q.pk for q in queues])
    memberships = list(
        Membership.objects.filter(queue__in=queues)
        .select_related("agent", "agent__desk")
        .order_by("agent__first_name", "agent__username")
    )
    agent_ids = sorted({m.agent_id for m in memberships})
    # Every open case of these agents, in any queue: their load here and overall.
    load: dict[tuple[int, int], int] = {
        (row["assignee_id"], row["queue_id"]): row["n"]
        for row in Case.objects.filter(status__in=OPEN_WORK, assignee_id__in=agent_ids)
        .values("assignee_id", "queue_id")
        .annotate(n=Count("pk"))
    }
    overall: dict[int, int] = defaultdict(int)
    for (agent_id, _), n in load.items():
        overall[agent_id] += n
    now = timezone.now()
    members: dict[int, list[AgentLoad]] = defaultdict(list)
    for membership in memberships:
        status = getattr(membership.agent, "desk", None)
        members[membership.queue_id].append(
            AgentLoad(
                membership,
                load.get((membership.agent_id, membership.queue_id), 0),
                agent_state_now(status, now),
                overall[membership.agent_id],
                status.max_open if status is not None else None,
            )
        )
    return [QueueRow(q, stats.get(q.pk, QueueStats()), members[q.pk]) for q in queues]


def open_cases_of(queue: Queue) -> QuerySet[Case]:
    """The queue's open cases by status, the most urgent first in each; the view pages them.
    A waiting case of a push queue carries its pending offer (``pending_offers``: none or
    one), so the console says whom it is offered to rather than only "Waiting"."""
    pending = Offer.objects.filter(state=Offer.State.PENDING).select_related("agent")
    return (
        Case.objects.filter(queue=queue)
        .exclude(status__in=CLOSED)
        .select_related("assignee")
        .prefetch_related(Prefetch("offers", queryset=pending, to_attr="pending_offers"))
        .only(
            "pk",
            "status",
            "priority",
            "customer_name",
            "customer_tier",
            "current_intent",
            "handed_off_at",
            "sla_due_at",
            "sla_breached",
            "unavailable_reason",
            "assignee__first_name",
            "assignee__last_name",
            "assignee__username",
            "queue_id",
            "version",
        )
        .order_by("status", "-priority", "sla_due_at", "pk")
    )


@dataclass(frozen=True)
class ReassignChoices:
    """Where a supervisor can send a queue's cases, for the reassign form of the console and of
    the queue page."""

    queues: list[Queue]  # the other active queues
    agents: list[AgentChoice]  # every agent of an active queue, with the queues they work


class AgentChoice(NamedTuple):
    agent: User
    works: str  # the names of the queues they work, for the option's text
    queue_ids: str  # their ids, "3,7": the form offers them only for a queue they work


def reassign_choices(queue: Queue) -> ReassignChoices:
    """Two queries. Agents come with their queues because a case only goes to an agent of the
    queue it ends up in (``case_reassign`` refuses the rest)."""
    queues = list(Queue.objects.filter(is_active=True).exclude(pk=queue.pk).order_by("name"))
    works: dict[User, list[Queue]] = defaultdict(list)
    for membership in (
        Membership.objects.filter(agent__is_active=True, queue__is_active=True)
        .select_related("agent", "queue")
        .order_by("agent__first_name", "agent__username", "queue__name")
    ):
        works[membership.agent].append(membership.queue)
    return ReassignChoices(
        queues,
        [
            AgentChoice(agent, ", ".join(q.name for q in their), ",".join(str(q.pk) for q in their))
            for agent, their in works.items()
        ],
    )
