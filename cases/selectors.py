"""Reads: querysets with their joins done, and the live queue figures the intake answers with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import median
from typing import Any

from django.db.models import (
    Count,
    F,
    Func,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Lower, Substr
from django.http import Http404
from django.utils import timezone

from cases.models import (
    CLOSED,
    OPEN_WORK,
    Attachment,
    Case,
    CaseEvent,
    Integration,
    Message,
    Presence,
    RiskFlagReview,
)
from cases.permissions import visible_cases
from cases.presence import STALE_AFTER
from queues.models import Membership, Queue


def integration_cases(integration: Integration) -> QuerySet[Case]:
    return Case.objects.filter(integration=integration).select_related("queue", "assignee")


def integration_case(integration: Integration, case_id: int) -> Case:
    """A case of this integration; another integration's case is a 404, so ids do not leak."""
    case = integration_cases(integration).filter(pk=case_id).first()
    if case is None:
        raise Http404(case_id)
    return case


def case_customer_visible_messages(case: Case) -> QuerySet[Message]:
    """What the bot platform may read back: everything but internal notes."""
    return (
        case.messages.exclude(role=Message.Role.NOTE)
        .order_by("seq")
        .prefetch_related("attachments")
    )


REPEAT_CONTACT_WINDOW = timedelta(days=7)


# A conversation handed off again this soon after an agent returned it to the bot bounced back.
BOUNCE_BACK_WINDOW = timedelta(hours=24)


def previous_contact(
    *, integration: Integration, external_id: str, customer_ref: str | None
) -> Case | None:
    """The closed case this handoff follows (resolved, or returned to the bot): the same
    conversation, or the same customer's case closed in the last week (a repeat contact)."""
    same = Q(external_id=external_id)
    if customer_ref:
        recent = timezone.now() - REPEAT_CONTACT_WINDOW
        same |= Q(customer_ref=customer_ref) & (
            Q(resolved_at__gte=recent) | Q(returned_at__gte=recent)
        )
    return (
        Case.objects.filter(same, integration=integration, status__in=CLOSED)
        .annotate(closed_at=Coalesce("resolved_at", "returned_at"))
        .order_by(F("closed_at").desc(nulls_last=True), "-pk")
        .first()
    )


def is_bounce_back(previous: Case | None, now: datetime) -> bool:
    """A handoff that follows a return to the bot within ``BOUNCE_BACK_WINDOW``."""
    return bool(
        previous is not None
        and previous.status == Case.Status.RETURNED
        and previous.returned_at is not None
        and now - previous.returned_at <= BOUNCE_BACK_WINDOW
    )


def queue_position(case: Case) -> int | None:
    """1 for the next case an agent of the queue will take; None once the case is taken."""
    if case.status != Case.Status.WAITING:
        return None
    ties = Q(priority=case.priority, sla_due_at=case.sla_due_at)
    if case.pk is not None:
        ties &= Q(pk__lt=case.pk)
    # (A case not yet stored, whose promise intake writes with it, comes after all its equals.)
    ahead = (
        Case.objects.filter(queue_id=case.queue_id, status=Case.Status.WAITING)
        .filter(
            Q(priority__gt=case.priority)
            | Q(priority=case.priority, sla_due_at__lt=case.sla_due_at)
            | ties
        )
        .count()
    )
    return ahead + 1


@dataclass(frozen=True)
class WaitEstimate:
    """How long a waiting case should wait, and what the figure rests on (``basis``):

    - ``claimed``: an agent has it; no wait.
    - ``agent_free``: an online agent of the queue has room for it now.
    - ``live``: position, agents online and their capacity, recent handling time.
    - ``no_agents_online``: nobody of the queue is online; the SLA target stands in.
    - ``sla_target``: agents are busy and there is no recent handling time to go by.
    """

    seconds: int
    basis: str
    agents_online: int = 0
    handling_seconds: int | None = None


@dataclass(frozen=True)
class Staffing:
    """The queue's members who are online now: how many, their slots and the free ones."""

    agents_online: int = 0
    slots: int = 0
    free_slots: int = 0


# What "free now" and the shortest estimate mean in seconds: an online agent with room still
# has to see the case and take it.
PICKUP_SECONDS = 60
RECENT_HANDLED = 50  # handling times the median is taken over
HANDLING_WINDOW = timedelta(hours=24)
MIN_HANDLED = 3  # fewer is no history


def queue_staffing(queue_id: int) -> Staffing:
    """Online members (a live presence row) with their capacity here and the open cases they
    hold from this queue: two indexed queries, the second only when someone is online."""

    live_users = Presence.objects.filter(seen_at__gte=timezone.now() - STALE_AFTER).values(
        "user_id"
    )
    capacity = dict(
        Membership.objects.filter(queue_id=queue_id, agent_id__in=live_users).values_list(
            "agent_id", "capacity"
        )
    )
    if not capacity:
        return Staffing()
    held = dict(
        Case.objects.filter(queue_id=queue_id, assignee_id__in=list(capacity), status__in=OPEN_WORK)
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .values_list("assignee_id", "n")
    )
    return Staffing(
        agents_online=len(capacity),
        slots=sum(capacity.values()),
        free_slots=sum(max(c - held.get(agent, 0), 0) for agent, c in capacity.items()),
    )


def recent_handling_seconds(queue_id: int) -> int | None:
    """Median time from claim to resolution of the queue's most recent cases (claimed in the
    last day, already resolved); None with fewer than three. Cases still open are not counted,
    so a day of long cases reads a little short."""
    since = timezone.now() - HANDLING_WINDOW
    spans = sorted(
        (resolved - claimed).total_seconds()
        for claimed, resolved in Case.objects.filter(
            queue_id=queue_id, first_claimed_at__gte=since, resolved_at__isnull=False
        )
        .order_by("-first_claimed_at")
        .values_list("first_claimed_at", "resolved_at")[:RECENT_HANDLED]
        if claimed is not None and resolved is not None
    )
    if len(spans) < MIN_HANDLED:
        return None
    return round(median(spans))


def wait_estimate(queue: Queue, position: int | None) -> WaitEstimate:
    """Live: the cases ahead of this one that no free slot absorbs, times the recent handling
    time, over the online agents' slots (each slot frees once per handling time).

    With S slots online, F of them free, median handling time H and position p:
    ``wait = H * (p - F) / S``, at least a minute; a minute when ``p ≤ F``.
    """
    if position is None:
        return WaitEstimate(0, "claimed")
    return WaitEstimator(queue).estimate(position)


class WaitEstimator:
    """``wait_estimate`` for many places of one queue: its staffing is read once, its recent
    handling time once and only if a place needs it (a queue update estimates every waiting
    case of the queue)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.staffing = queue_staffing(queue.pk)
        self._handling: tuple[int | None] | None = None

    def handling(self) -> int | None:
        if self._handling is None:
            self._handling = (recent_handling_seconds(self.queue.pk),)
        return self._handling[0]

    def estimate(self, position: int) -> WaitEstimate:
        staffing, queue = self.staffing, self.queue
        if staffing.agents_online == 0:
            return WaitEstimate(queue.sla_seconds, "no_agents_online")
        online = staffing.agents_online
        ahead = position - staffing.free_slots
        if ahead <= 0:
            return WaitEstimate(PICKUP_SECONDS, "agent_free", online)
        handling = self.handling()
        if handling is None:
            return WaitEstimate(queue.sla_seconds, "sla_target", online)
        seconds = max(round(handling * ahead / max(staffing.slots, 1)), PICKUP_SECONDS)
        return WaitEstimate(seconds, "live", online, handling)


# --- the agent workspace ----------------------------------------------------------------------


@dataclass(frozen=True)
class QueueStats:
    waiting: int = 0
    assigned: int = 0
    breached: int = 0
    oldest: datetime | None = None


def queue_stats(queue_ids: list[int]) -> dict[int, QueueStats]:
    """Live figures of each queue: waiting cases from the partial index that holds only them
    (an index-only scan), assigned ones counted apart."""
    now = timezone.now()
    waiting = (
        Case.objects.filter(queue_id__in=queue_ids, status=Case.Status.WAITING)
        .values("queue_id")
        .annotate(
            waiting=Count("pk"),
            breached=Count("pk", filter=Q(sla_due_at__lt=now)),
            oldest=Min("handed_off_at"),
        )
        .order_by()
    )
    # COUNT(*), not COUNT(id): the (queue, status, ...) index has no id, and counting ids sent
    # PostgreSQL to the table (or to a three-index BitmapAnd), 20-50 ms at 100,000 cases
    # against 0.3 ms from the index alone.
    assigned = dict(
        Case.objects.filter(queue_id__in=queue_ids, status=Case.Status.ASSIGNED)
        .values("queue_id")
        .annotate(assigned=Count("*"))
        .order_by()
        .values_list("queue_id", "assigned")
    )
    stats = {
        row["queue_id"]: QueueStats(
            row["waiting"], assigned.pop(row["queue_id"], 0), row["breached"], row["oldest"]
        )
        for row in waiting
    }
    stats.update((queue_id, QueueStats(assigned=count)) for queue_id, count in assigned.items())
    return stats


def my_open_cases(user: Any) -> QuerySet[Case]:
    return (
        Case.objects.filter(
            assignee=user,
            status__in=OPEN_WORK,
        )
        .select_related("queue")
        .annotate(last_customer_text=LastCustomerText())
        .order_by("status", "-priority", "sla_due_at")
    )


@dataclass(frozen=True)
class QueueFilters:
    intent: str = ""
    trigger: str = ""
    flag: str = ""
    tier: str = ""
    q: str = ""

    @property
    def active(self) -> bool:
        return any((self.intent, self.trigger, self.flag, self.tier, self.q))


# Enough of the latest customer message for a one-line preview (cases/live/rows.py cuts
# it at a word); a long message is not read whole for every row.
PREVIEW_READ_CHARS = 200


class LastCustomerText(Subquery):
    """The start of the case's latest customer message: one probe per listed row of the
    (case, seq) index, read backwards (``tests/cases/test_selectors.py`` checks the plan)."""

    def __init__(self) -> None:
        super().__init__(
            Message.objects.filter(case=OuterRef("pk"), role=Message.Role.CUSTOMER)
            .order_by("-seq")
            .values(start=Substr("text", 1, PREVIEW_READ_CHARS))[:1]
        )


def last_customer_text(case_id: int) -> str | None:
    """The same for one case (a row pushed live)."""
    return (
        Message.objects.filter(case_id=case_id, role=Message.Role.CUSTOMER)
        .order_by("-seq")
        .values_list(Substr("text", 1, PREVIEW_READ_CHARS), flat=True)
        .first()
    )


def waiting_cases(queue: Queue, filters: QueueFilters) -> QuerySet[Case]:
    """The queue page's list: waiting cases by priority, then SLA due time."""
    cases = _filtered(Case.objects.filter(queue=queue, status=Case.Status.WAITING), filters)
    return (
        cases.only(*QUEUE_ROW_FIELDS)
        .annotate(last_customer_text=LastCustomerText())
        .order_by("-priority", "sla_due_at", "pk")
    )


class QueueView(StrEnum):
    """The queue page's tabs: who is waiting, and what teammates are working on."""

    WAITING = "waiting"
    ASSIGNED = "assigned"
    AWAITING = "awaiting"


IN_WORK_STATUS = {
    QueueView.ASSIGNED: Case.Status.ASSIGNED,
    QueueView.AWAITING: Case.Status.AWAITING_CUSTOMER,
}


def cases_in_work(queue: Queue, view: QueueView, filters: QueueFilters) -> QuerySet[Case]:
    """The queue's cases that agents hold (``assigned``) or that wait on the customer
    (``awaiting``), with their assignee; the longest without activity first, as those are
    the ones a teammate or supervisor should look at."""
    cases = _filtered(Case.objects.filter(queue=queue, status=IN_WORK_STATUS[view]), filters)
    return (
        cases.select_related("assignee")
        .only(*QUEUE_ROW_FIELDS, "updated_at", *(f"assignee__{f}" for f in ASSIGNEE_NAME))
        .annotate(last_customer_text=LastCustomerText())
        .order_by("updated_at", "pk")
    )


ASSIGNEE_NAME = ("first_name", "last_name", "username")


def _filtered(cases: QuerySet[Case], filters: QueueFilters) -> QuerySet[Case]:
    if filters.intent:
        cases = cases.filter(current_intent=filters.intent)
    if filters.trigger:
        cases = cases.filter(trigger_reason=filters.trigger)
    if filters.flag:
        # JSON containment is not portable to SQLite; the quoted name is exact enough.
        cases = cases.filter(risk_flags__icontains=f'"{filters.flag}"')
    if filters.tier:
        cases = cases.filter(customer_tier__iexact=filters.tier)
    if filters.q:
        # The term is lower-cased by the database too: Python and SQL fold some letters
        # differently (SQLite's LOWER only folds ASCII; Python turns "İ" into two characters).
        cases = cases.alias(search_text=SearchText()).filter(
            search_text__contains=Lower(Value(filters.q))
        )
    return cases


class SearchText(Func):
    """What the queue's search box looks in, as one lower-cased text: the customer's name,
    email and id, the conversation's external id and the facts (values and keys).

    On PostgreSQL this is, term for term, the expression of the trigram index
    ``case_waiting_search`` (migration 0012), so a search among thousands of waiting cases reads
    that index instead of every row; ``tests/cases/test_selectors.py`` checks the plan uses it.
    Separators are written into the SQL, not passed as parameters, for the same reason; they are
    newlines, which a search box cannot send, so a term never matches across two fields.
    """

    template = "LOWER(%(expressions)s)"
    arg_joiner = " || '\n' || "
    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(
            F("customer_name"),
            F("customer_email"),
            F("external_id"),
            F("customer_ref"),
            Cast("facts", TextField()),
        )


QUEUE_ROW_FIELDS = (
    "pk",
    "queue_id",
    "status",
    "priority",
    "customer_name",
    "customer_tier",
    "current_intent",
    "detected_intent",
    "detected_confidence",
    "trigger_reason",
    "risk_flags",
    "missing_context",
    "handed_off_at",
    "sla_due_at",
    "unavailable_reason",
    "external_id",
    "channel",
    "is_repeat_contact",
    "version",
)


def queue_filter_choices(queue: Queue) -> dict[str, list[str]]:
    """Values the queue's waiting cases actually have, for the filter menus."""
    waiting = Case.objects.filter(queue=queue, status=Case.Status.WAITING)
    intents = waiting.order_by().values_list("current_intent", flat=True).distinct()
    tiers = waiting.order_by().values_list("customer_tier", flat=True).distinct()
    return {
        "intents": sorted(i for i in intents[:200] if i),
        "tiers": sorted(t for t in tiers[:50] if t),
    }


def case_for_page(user: Any, case_id: int) -> Case:
    # Not the previous case: the page links it by id, and joining a second wide case row cost
    # more to plan than to run.
    case = (
        visible_cases(user)
        .select_related("queue", "assignee", "integration", "routed_queue")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise Http404("No such case")
    return case


# The case page reads its long lists as plain rows: building 500 model instances (and their
# authors) cost twice the query itself.
NAME = ("first_name", "last_name", "username")
TRANSCRIPT_FIELDS = (
    "id",
    "seq",
    "role",
    "phase",
    "text",
    "sent_at",
    *(f"author__{f}" for f in NAME),
)
ATTACHMENT_FIELDS = (
    "id",
    "message_id",
    "message__case_id",
    "name",
    "content_type",
    "size",
    "url",
    "file",
)
TIMELINE_FIELDS = ("kind", "created_at", "actor_label", *(f"actor__{f}" for f in NAME))


def case_transcript(case: Case) -> list[dict[str, Any]]:
    """The messages as rows, each with its ``attachments`` (rows too: one query for all)."""
    return with_attachments(list(case.messages.order_by("seq").values(*TRANSCRIPT_FIELDS)))


def with_attachments(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_message: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
    if by_message:
        found = Attachment.objects.filter(message_id__in=list(by_message)).order_by(
            "message_id", "position"
        )
        for attachment in found.values(*ATTACHMENT_FIELDS):
            by_message[attachment["message_id"]].append(attachment)
    for row in rows:
        row["attachments"] = by_message[row["id"]]
    return rows


def case_attachment(case: Case, attachment_id: int) -> Attachment:
    """A file stored with one of the case's messages (a link has nothing to serve)."""
    attachment = (
        Attachment.objects.filter(pk=attachment_id, message__case=case).exclude(file="").first()
    )
    if attachment is None:
        raise Http404("No such attachment")
    return attachment


def case_timeline(case: Case) -> list[dict[str, Any]]:
    return list(case.events.order_by("id").values(*TIMELINE_FIELDS))


def related_cases(case: Case, limit: int = 10) -> QuerySet[Case]:
    """Earlier and later cases of the same conversation or the same customer."""
    same = Q(integration_id=case.integration_id, external_id=case.external_id)
    if case.customer_ref:
        same |= Q(integration_id=case.integration_id, customer_ref=case.customer_ref)
    return (
        Case.objects.filter(same)
        .exclude(pk=case.pk)
        .select_related("queue")
        .only("pk", "status", "handed_off_at", "current_intent", "resolution_code", "queue__name")
        .order_by("-handed_off_at")[:limit]
    )


@dataclass(frozen=True)
class CustomerPromise:
    """What the customer was told at handoff: their place in line, the wait, what to have
    ready. The agent keeps to it, so the handoff does not contradict itself."""

    told_at: datetime
    message: str
    position: int | None
    wait_seconds: int | None
    basis: str
    ready: str
    # Set when the customer was told the team is away ("closed" or "unstaffed"), and when back.
    away: str = ""
    back_at: datetime | None = None


def customer_promise(case: Case) -> CustomerPromise | None:
    row = (
        case.events.filter(kind__in=["customer_told", "team_away"])
        .order_by("-id")
        .values("created_at", "data")
    )
    told = row.first()
    if told is None:
        return None
    data = told["data"] or {}
    return CustomerPromise(
        told_at=told["created_at"],
        message=str(data.get("message", "")),
        position=data.get("position"),
        wait_seconds=data.get("wait_seconds"),
        basis=str(data.get("basis", "")),
        ready=str(data.get("ready", "")),
        away=str(data.get("reason") or ""),
        back_at=_moment(data.get("back_at")),
    )


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class BotReturn:
    """How an agent handed a case back to the bot: when, who, the note and intent they gave."""

    at: datetime
    agent: str
    note: str
    intent: str


def case_return(case_id: int) -> BotReturn | None:
    """The case's return to the bot (its audit event), if it was returned."""
    event = (
        CaseEvent.objects.filter(case_id=case_id, kind="returned_to_bot")
        .select_related("actor")
        .order_by("-id")
        .first()
    )
    if event is None:
        return None
    data = event.data or {}
    return BotReturn(
        at=event.created_at,
        agent=event.actor_name,
        note=str(data.get("note") or ""),
        intent=str(data.get("intent") or ""),
    )


@dataclass(frozen=True)
class PreviousCase:
    """The case a repeat contact follows, as the agent needs it: what it was about (after any
    correction), how it ended, and how its conversation ended."""

    case: Case
    corrected_to: str
    corrected_by: str
    last_messages: list[dict[str, Any]]
    message_count: int
    returned: BotReturn | None = None


PREVIOUS_TAIL = 6


def previous_case(case: Case) -> PreviousCase | None:
    if case.previous_case_id is None:
        return None
    earlier = (
        Case.objects.select_related("queue", "assignee")
        .only(
            "pk",
            "status",
            "queue__name",
            "current_intent",
            "detected_intent",
            "resolution_code",
            "resolved_at",
            "returned_at",
            "handed_off_at",
            "summary",
            "assignee__first_name",
            "assignee__last_name",
            "assignee__username",
        )
        .filter(pk=case.previous_case_id)
        .first()
    )
    if earlier is None:
        return None
    correction = earlier.intent_corrections.select_related("agent").order_by("-id").first()
    messages = with_attachments(
        list(earlier.messages.order_by("-seq").values(*TRANSCRIPT_FIELDS)[:PREVIOUS_TAIL])
    )
    return PreviousCase(
        case=earlier,
        corrected_to=correction.to_intent if correction else "",
        corrected_by=(correction.agent_name if correction else ""),
        last_messages=messages[::-1],
        message_count=earlier.messages.count(),
        returned=case_return(earlier.pk) if earlier.status == Case.Status.RETURNED else None,
    )


@dataclass(frozen=True)
class RiskItem:
    """One risk flag of a case as the case page shows it: who raised it, on what evidence, and
    an agent's verdict on it if one was given."""

    flag: str
    raised_by: str  # "bot" or "derived" (the desk's detectors)
    evidence: str
    review: RiskFlagReview | None


def case_risk_items(case: Case) -> list[RiskItem]:
    reviews = {review.flag: review for review in case.flag_reviews.select_related("agent")}
    evidence = {item.get("flag"): item for item in case.risk_evidence if isinstance(item, dict)}
    return [
        RiskItem(
            flag=flag,
            raised_by=str(evidence.get(flag, {}).get("source", "bot")),
            evidence=str(evidence.get(flag, {}).get("evidence", "")),
            review=reviews.get(flag),
        )
        for flag in case.risk_flags
    ]


@dataclass(frozen=True)
class InLine:
    """A waiting case as a queue update reads the whole line: what it was last told, and
    whether its bot can be told anything (a callback URL)."""

    pk: int
    told_at: datetime | None
    told_position: int | None
    told_wait_seconds: int | None
    callback_url: str


def waiting_line(queue_id: int) -> list[InLine]:
    """The queue's waiting cases in the order agents take them (``queue_position``'s order), as
    plain rows: a case and integration instance for each row of 1,000 waiting took the
    recompute from ~25 to ~100 ms (SQLite, a loaded machine), where only the few to be told
    need one (``cases_to_tell``)."""
    rows = (
        Case.objects.filter(queue_id=queue_id, status=Case.Status.WAITING)
        .order_by("-priority", "sla_due_at", "pk")
        .values_list(
            "pk",
            "queue_told_at",
            "queue_told_position",
            "queue_told_wait_seconds",
            "integration__callback_url",
        )
    )
    return [InLine(*row) for row in rows]


def cases_to_tell(case_ids: list[int]) -> dict[int, Case]:
    return Case.objects.select_related("integration", "queue").in_bulk(case_ids)
