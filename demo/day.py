"""The demo's day of work: the days before today and today's shift, made through the services.

Each case of the history is handed off (``handoff_receive``), reassigned, claimed, answered,
corrected, left waiting for the customer, resolved and rated by the same services the desk and
the API call, so its audit trail and metrics are the real ones (its callbacks are not sent: they
belong to the past, see ``seed_day``). Services date what they write ``now``; each step's rows
are then dated at the moment the day says it happened (``_Stamps``), so resolution times, SLA
figures and the trend by day read as a working week.

The conversations are the support scenarios of ``day.jsonl`` and, when the STAR corpus is at
hand, recorded STAR support dialogues (``demo.replay.support_dialogues``). A random generator
with a fixed seed plans the day, so every seeding reads alike.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Max, Model
from django.utils import timezone

from cases.models import (
    CannedReply,
    CannedReplyUse,
    Case,
    CaseEvent,
    CsatResponse,
    Integration,
    IntentCorrection,
    Message,
)
from cases.package import HandoffPackage
from cases.services import agent_work as actions
from cases.services import reassignment
from cases.services.canned import canned_fill
from cases.services.intake import case_csat_record, case_customer_message_add, handoff_receive
from cases.services.sla import case_sla_breaches_mark
from demo.replay import (
    REDACTED,
    SUPPORT_INTENTS,
    as_recent,
    read_star,
    star_task,
    star_to_package,
    support_dialogues,
)
from queues.models import Membership, Queue

SCENARIOS = Path(__file__).with_name("day.jsonl")
HISTORY_PREFIX = "day-"  # external ids of the history: a second seeding finds them, adds none
SEED = 20261204

# Customers of the history. A few share an id with a customer of the live demo handoffs, whose
# case then arrives as a repeat contact.
FIRST = ["Amara", "Jonas", "Lucia", "Kenji", "Fatima", "Oliver", "Zofia", "Mateo", "Ines",
         "Hugo", "Noor", "Erik", "Chloe", "Tariq", "Mei", "Pavel", "Aisha", "Liam", "Sofia",
         "Dmitri", "Grace", "Yusuf", "Hanna", "Marco"]  # fmt: skip
LAST = ["Osei", "Weber", "Romano", "Sato", "Haddad", "Brennan", "Kowalska", "Silva", "Duarte",
        "Lefevre", "Rahman", "Lund", "Martin", "Aziz", "Wong", "Novak", "Bello", "Murphy",
        "Rossi", "Ivanov", "Kim", "Demir", "Berg", "Conti"]  # fmt: skip
RETURNING = {"account.password_reset": ("cus_22871", "Tom Becker", "t.becker@example.net")}

# How the desk's agents answer STAR's support conversations (day.jsonl carries its own).
STAR_WORK: dict[str, dict[str, Any]] = {
    "security.fraud_report": {
        "reply": "I've blocked the card and opened a dispute for the payments you don't "
        "recognise; a replacement card is on its way.",
        "resolution": "refund_issued",
        "comments": ["Quick to lock everything down.", "Thank you for acting so fast."],
    },
    "billing.balance": {
        "reply": "I've checked your account: your balance and the last five transactions are "
        "in the secure message I just sent you.",
        "resolution": "information_given",
        "comments": ["Got what I needed."],
    },
    "orders.ride_status": {
        "reply": "Your driver is 6 minutes away; I've sent the live tracking link to your phone.",
        "resolution": "information_given",
        "comments": [],
        "correct_to": "orders.change_booking",
    },
    "orders.change_booking": {
        "reply": "Done: the booking now has the new details, and there is no change fee.",
        "resolution": "solved",
        "comments": ["Easy, thanks."],
    },
    "orders.new_booking": {
        "reply": "You're booked; the confirmation with your reference is in your inbox.",
        "resolution": "solved",
        "comments": [],
    },
    "technical.service_request": {
        "reply": "A technician is on the way and will be with you within the hour.",
        "resolution": "solved",
        "comments": ["Fixed the same afternoon."],
    },
}
HOLDING_REPLY = "Hi, I'm {name} and I've picked this up. I'm checking it now, one moment."
CSAT_SCORES = [5, 5, 5, 5, 5, 4, 4, 4, 4, 3, 3, 2, 1]
NOTE = "Checked the history: nothing similar on this account before."


@dataclass
class Plan:
    """One case of the day: what arrives when, and how far its work gets by now."""

    package: dict[str, Any]
    work: dict[str, Any]
    at: datetime
    fate: str  # resolved | assigned | awaiting | waiting
    pace: float  # the wait until an agent claims it, as a share of the queue's SLA
    handling: timedelta  # from the claim to the resolution
    repeat: bool = False  # the customer restates what they told the bot
    rating: bool = True
    greet: bool = False  # the first reply is the team's saved greeting
    by_supervisor: bool = False  # the supervisor hands it to an agent instead
    moments: dict[str, datetime] = field(default_factory=dict)


@dataclass
class DayReport:
    cases: int = 0
    resolved: int = 0
    rated: int = 0
    corrected: int = 0
    reassigned: int = 0
    live: int = 0


def scenarios() -> list[dict[str, Any]]:
    with SCENARIOS.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


# The turns STAR's support conversations are taken in, so that with the demo's own handoffs
# each queue their intents route to (billing, technical, compliance, general) has a handful.
QUEUE_TURNS = (
    ("billing.balance",),
    ("technical.service_request",),
    ("security.fraud_report", "orders.ride_status"),
    ("orders.change_booking", "orders.new_booking"),
)


def star_selection(path: Path, count: int) -> list[dict[str, Any]]:
    """``count`` STAR support conversations as packages, taken in ``QUEUE_TURNS``."""
    rounds = count // len(QUEUE_TURNS) + 1
    buckets: dict[str, list[dict[str, Any]]] = {}
    for dialogue in support_dialogues(read_star(path)):
        intent = SUPPORT_INTENTS[star_task(dialogue)]
        bucket = buckets.setdefault(intent, [])
        if len(bucket) < rounds:
            bucket.append(dialogue)
        if all(len(buckets.get(i, [])) >= rounds for turn in QUEUE_TURNS for i in turn):
            break
    picked = []
    for number in range(rounds):
        for turn in QUEUE_TURNS:
            bucket = buckets.get(turn[number % len(turn)], [])
            if number // len(turn) < len(bucket):
                picked.append(bucket[number // len(turn)])
    packages = [_at_the_handoff(star_to_package(d)) for d in picked[:count]]
    return [_demo_customer(package, i) for i, package in enumerate(packages)]


CLOSING = re.compile(
    r"(?i)\b(?:thanks?|thank you|bye|goodbye|that'?s all|that is all|that'?s it|great|perfect"
    r"|excellent|lovely|awesome|nah|enjoy|have a nice day)\b"
)


def _closing(message: dict[str, Any]) -> bool:
    text = message["text"]
    if message["role"] == "bot" or text == REDACTED:
        return True
    return len(text.split()) <= 12 and bool(CLOSING.search(text))


def _at_the_handoff(package: dict[str, Any]) -> dict[str, Any]:
    """A recorded dialogue ends with goodbyes once the bot was done; a handoff happens before
    them. The closing lines are cut (the customer's thanks, a PIN they typed, what the bot said
    after), so the last message is what the customer still needs."""
    transcript = package["transcript"]
    end = len(transcript)
    while end > 1 and _closing(transcript[end - 1]):
        end -= 1
    if any(m["role"] == "customer" for m in transcript[:end]):
        package["transcript"] = transcript[:end]
    return package


def _demo_customer(package: dict[str, Any], index: int) -> dict[str, Any]:
    """STAR has no account data: every fifth customer is given a gold tier, so the VIP queue
    has its share of the recorded conversations."""
    if index % 5 == 4:
        package.setdefault("customer", {"language": "en"})["tier"] = "gold"
    return package


def write_live(packages: Iterable[dict[str, Any]], path: Path) -> int:
    """The packages the Quickstart replays over HTTP once the desk is up, one JSON a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for package in packages:
            out.write(json.dumps(package, ensure_ascii=False) + "\n")
            count += 1
    return count


def _star_source(package: dict[str, Any], number: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A STAR conversation with the work STAR_WORK gives its intent: a third of those with a
    correction get it (the bot was not always wrong), and a balance question the bot could not
    verify goes to Account access."""
    work = dict(STAR_WORK[package["intent"]["name"]])
    if number % 3:
        work.pop("correct_to", None)
    failed = (package.get("trigger") or {}).get("reason") == "repeated_failure"
    if failed and package["intent"]["name"] == "billing.balance":
        work["reassign_to"] = "account_access"
        work["reassign_reason"] = "The customer cannot pass verification: Account access."
    return package, work


def _worked(package: dict[str, Any]) -> bool:
    return (package.get("intent") or {}).get("name") in STAR_WORK


def history_exists() -> bool:
    return Case.objects.filter(external_id__startswith=HISTORY_PREFIX).exists()


# --- planning -----------------------------------------------------------------------------


def _arrivals(rng: random.Random, now: datetime, days: int) -> Iterator[datetime]:
    """Handoff times: office hours of the ``days`` days before today, then the last nine hours
    (busier mid-morning and after lunch)."""
    zone = timezone.get_current_timezone()
    today = timezone.localtime(now).date()
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        opening = datetime.combine(day, time(8, 30), tzinfo=zone)
        for _ in range(rng.randint(13, 19)):
            yield opening + timedelta(minutes=rng.triangular(0, 570, 150))
    for _ in range(36):
        yield now - timedelta(minutes=rng.triangular(3, 540, 40))


def _fate(rng: random.Random, age: timedelta) -> str:
    if age > timedelta(hours=3):
        return "resolved"
    if age > timedelta(minutes=40):
        return rng.choices(["resolved", "assigned", "awaiting"], [5, 3, 2])[0]
    return rng.choices(["resolved", "assigned", "awaiting", "waiting"], [1, 4, 2, 3])[0]


def plan_day(
    now: datetime, sources: list[tuple[dict[str, Any], dict[str, Any]]], days: int = 4
) -> list[Plan]:
    rng = random.Random(SEED)
    plans = []
    arrivals = sorted(_arrivals(rng, now, days))
    cycle = itertools.cycle(sources)
    for number, at in enumerate(arrivals, start=1):
        package, work = next(cycle)
        package = copy.deepcopy(package)
        origin = package.pop("external_id", "") or f"s{number}"
        package["external_id"] = f"{HISTORY_PREFIX}{number:03d}-{origin}"[:200]
        _customer(package, rng, number)
        fate = _fate(rng, now - at)
        pace = rng.triangular(0.05, 0.95, 0.3)
        if rng.random() < 0.08:
            pace = rng.uniform(1.2, 2.5)  # a few are claimed after their SLA
        handling = timedelta(minutes=rng.triangular(6, 95, 18))
        if fate == "resolved" and at + handling > now - timedelta(minutes=25):
            fate = "assigned"
        plans.append(
            Plan(
                package=package,
                work=work,
                at=at,
                fate=fate,
                pace=pace,
                handling=handling,
                repeat=rng.random() < 0.15,
                rating=rng.random() < 0.7,
                by_supervisor=rng.random() < 0.08,
                greet=rng.random() < 0.5,
            )
        )
    for plan in plans[-3:]:
        plan.fate = "waiting"  # the newest are still in their queues, some past their SLA
    return plans


def _customer(package: dict[str, Any], rng: random.Random, number: int) -> None:
    customer = package.setdefault("customer", {"language": "en"})
    if customer.get("name") and str(customer.get("id", "")).startswith("star-"):
        customer["id"] = f"{HISTORY_PREFIX}{customer['id']}"  # STAR's own, kept per dialogue
        return
    intent = (package.get("intent") or {}).get("name", "")
    if intent in RETURNING and number < 20:
        ref, name, email = RETURNING.pop(intent)
    else:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name, ref = f"{first} {last}", f"cus_{30000 + number * 37}"
        email = f"{first}.{last}@example.com".lower()
    customer.update({"id": ref, "name": name, "email": email})


# --- doing the work -------------------------------------------------------------------------


class _Stamps:
    """Dates the rows the service calls wrote for a case at the moments the plan says they
    happened. ``at`` closes a step (what was written since the previous one happened at
    ``moment``); ``write`` then tells each row's step by the clock time it was written at and
    saves the dates, one query a table."""

    # each table, the column that tells when a row was written, and the columns to date
    DATED: tuple[tuple[type[Model], str, tuple[str, ...]], ...] = (
        (CaseEvent, "created_at", ("created_at",)),
        (IntentCorrection, "created_at", ("created_at",)),
        (CsatResponse, "created_at", ("created_at", "updated_at")),
        (Message, "created_at", ("created_at",)),
        (CannedReplyUse, "used_at", ("used_at",)),
    )

    def __init__(self, case_id: int) -> None:
        self.case_id = case_id
        self.steps: list[tuple[datetime, datetime]] = []  # (written by, happened at)

    def at(self, moment: datetime) -> None:
        self.steps.append((timezone.now(), moment))

    def _moment(self, written: datetime) -> datetime | None:
        index = bisect.bisect_left(self.steps, written, key=lambda step: step[0])
        return self.steps[index][1] if index < len(self.steps) else None

    def write(self) -> None:
        for model, written, names in self.DATED:
            rows = list(model._default_manager.filter(case_id=self.case_id))
            changed = []
            for row in rows:
                moment = self._moment(getattr(row, written))
                if moment is None:
                    continue
                for name in names:
                    setattr(row, name, moment)
                if isinstance(row, Message) and row.phase == Message.Phase.AFTER_HANDOFF:
                    row.sent_at = moment  # the transcript keeps the times the bot sent
                changed.append(row)
            fields = [*names, "sent_at"] if model is Message else list(names)
            if changed:
                model._default_manager.bulk_update(changed, fields)


def _stamped_transcript(package: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Messages without times are spaced 40 s apart up to the handoff; recorded ones keep
    their pace, moved to end there."""
    transcript = package.get("transcript") or []
    for index, message in enumerate(transcript):
        if "at" not in message:
            moment = at - timedelta(seconds=40 * (len(transcript) - index))
            message["at"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return as_recent(package, at - timedelta(seconds=20))


class _Team:
    """Who works which queue, and who has room for one more open case."""

    def __init__(self, greeting: CannedReply | None) -> None:
        self.greeting = greeting
        self.members: dict[int, list[User]] = {}
        for membership in Membership.objects.select_related("agent").order_by("agent_id"):
            self.members.setdefault(membership.queue_id, []).append(membership.agent)
        self.turn = itertools.count()

    def pick(self, queue_id: int) -> list[User]:
        people = self.members.get(queue_id, [])
        start = next(self.turn) % len(people) if people else 0
        return people[start:] + people[:start]


def _claim(plan: Plan, case: Case, team: _Team, supervisor: User) -> User | None:
    for agent in team.pick(case.queue_id):
        try:
            if plan.by_supervisor:
                reassignment.case_reassign(
                    case_id=case.pk,
                    supervisor=supervisor,
                    agent=agent,
                    reason="Sharing out the queue: this one needs an answer soon.",
                )
            else:
                actions.case_claim(case_id=case.pk, agent=agent)
        except actions.CaseActionError:
            continue
        return agent
    return None


def _work(
    plan: Plan, integration: Integration, team: _Team, supervisor: User, report: DayReport
) -> int:
    """The plan's case, worked as far as its fate: returns its id."""
    validated = HandoffPackage.model_validate(_stamped_transcript(plan.package, plan.at))
    case = handoff_receive(integration=integration, package=validated).case
    stamps = _Stamps(case.pk)
    stamps.at(plan.at)
    try:
        _steps(plan, case, stamps, team, supervisor, report)
    finally:
        stamps.write()
    return case.pk


def _steps(
    plan: Plan, case: Case, stamps: _Stamps, team: _Team, supervisor: User, report: DayReport
) -> None:
    due = plan.at + (case.sla_due_at - case.handed_off_at)
    dated = {"handed_off_at": plan.at, "created_at": plan.at, "sla_due_at": due}
    Case.objects.filter(pk=case.pk).update(**dated)
    report.cases += 1
    claimed = plan.at + (due - plan.at) * plan.pace
    if claimed > timezone.now() - timedelta(minutes=1):
        plan.fate = "waiting"
    elif plan.fate == "resolved" and claimed + plan.handling > timezone.now():
        plan.fate = "assigned"

    target = plan.work.get("reassign_to")
    if target and target != case.queue.slug:
        queue = Queue.objects.get(slug=target)
        reassignment.case_reassign(
            case_id=case.pk,
            supervisor=supervisor,
            queue=queue,
            reason=plan.work.get("reassign_reason")
            or f"Belongs in {queue.name}: the bot's guess sent it to {case.queue.name}.",
        )
        moved = plan.at + timedelta(minutes=2)
        stamps.at(moved)
        claimed = max(claimed, moved + timedelta(minutes=1))
        report.reassigned += 1
    if plan.fate == "waiting":
        return
    if claimed > due:
        case_sla_breaches_mark()  # the sweep marked it while it waited (dated at the end)
        stamps.at(due)
    case.refresh_from_db()
    agent = _claim(plan, case, team, supervisor)
    if agent is None:
        return  # everyone who works this queue is at capacity: it waits
    stamps.at(claimed)
    report.reassigned += int(plan.by_supervisor)
    plan.moments["first_claimed_at"] = claimed

    correct_to = plan.work.get("correct_to")
    if correct_to and correct_to != case.current_intent:
        actions.case_intent_correct(
            case_id=case.pk,
            agent=agent,
            to_intent=correct_to,
            reason="What the customer actually asked for.",
        )
        stamps.at(claimed + timedelta(seconds=50))
        report.corrected += 1

    if plan.repeat:
        # the customer says it again while the agent reads up: the desk's detector notices
        said = case.messages.filter(role=Message.Role.CUSTOMER).values_list("text", flat=True)
        first = next(iter(said), "")
        if first:
            case_customer_message_add(case_id=case.pk, text=f"Hello? Again: {first}")
            stamps.at(claimed + timedelta(seconds=70))

    finishing = plan.fate == "resolved"
    replied = claimed + min(timedelta(minutes=2), plan.handling / 3)
    greeting = team.greeting if plan.greet or not finishing else None
    filled = canned_fill(greeting.body, case=case, agent=agent) if greeting else None
    if greeting is not None and filled is not None and not filled.missing:
        # the agent opens with the team's saved greeting (a counted use), then answers
        actions.case_compose(
            case_id=case.pk, agent=agent, mode="reply", text=filled.text, canned_id=greeting.pk
        )
        stamps.at(replied)
        if finishing:
            actions.case_reply(case_id=case.pk, agent=agent, text=plan.work["reply"])
            stamps.at(replied + timedelta(minutes=2))
    else:
        text = plan.work["reply"] if finishing else HOLDING_REPLY.format(name=agent.first_name)
        actions.case_reply(case_id=case.pk, agent=agent, text=text)
        stamps.at(replied)
    plan.moments["first_human_reply_at"] = replied

    if plan.fate == "awaiting":
        actions.case_await_customer(case_id=case.pk, agent=agent)
        stamps.at(replied + timedelta(minutes=2))
    if not finishing:
        return
    no_answer = plan.handling > timedelta(minutes=80)
    if no_answer:
        actions.case_await_customer(case_id=case.pk, agent=agent)
        stamps.at(replied + timedelta(minutes=3))
    resolved = claimed + plan.handling
    actions.case_resolve(
        case_id=case.pk,
        agent=agent,
        resolution_code="no_response" if no_answer else plan.work["resolution"],
        customer_repeated=plan.repeat,
    )
    stamps.at(resolved)
    plan.moments["resolved_at"] = resolved
    report.resolved += 1
    rng = random.Random(case.external_id)
    rated = resolved + timedelta(minutes=rng.uniform(3, 25))
    if plan.rating and not no_answer and rated < timezone.now():
        score = rng.choice(CSAT_SCORES)
        comments = plan.work.get("comments") or []
        comment = rng.choice(comments) if comments and score >= 4 and rng.random() < 0.5 else ""
        if score <= 2:
            comment = "Took too long to get a real answer."
        case_csat_record(case_id=case.pk, score=score, comment=comment)
        stamps.at(rated)
        report.rated += 1


def seed_day(
    *,
    integration: Integration,
    supervisor: User,
    star: Path | None = None,
    live_file: Path | None = None,
    live: int = 0,
    days: int = 4,
    greeting: CannedReply | None = None,
) -> DayReport:
    """The days before today and today's shift as cases; with STAR at hand, also the file of
    recorded support conversations that arrive live once the desk is up."""
    report = DayReport()
    recorded: list[dict[str, Any]] = []
    if star is not None and star.is_file():
        recorded = star_selection(star, live + 75)
        if live_file is not None:
            report.live = write_live(recorded[:live], live_file)
        recorded = recorded[live:]
    if history_exists():
        return report
    sources = [(line["package"], line["work"]) for line in scenarios()]
    if recorded:
        # one of day.jsonl's for two of STAR's, so both kinds of conversation fill every day
        star_sources = [_star_source(p, n) for n, p in enumerate(recorded) if _worked(p)]
        scripted = itertools.cycle(sources)
        sources = []
        for number, source in enumerate(star_sources):
            if number % 2 == 0:
                sources.append(next(scripted))
            sources.append(source)
    now = timezone.now()
    team = _Team(greeting)
    # The history's callbacks belong to the past: queued now, some 450 of them would hold the
    # live demo's behind them for minutes (the embedded broker hands out one a second). The
    # bot platform's address is set aside while the day is made, in this same transaction.
    callback_url, integration.callback_url = integration.callback_url, ""
    integration.save(update_fields=["callback_url"])
    for plan in plan_day(now, sources, days):
        case_id = _work(plan, integration, team, supervisor, report)
        if plan.moments:
            Case.objects.filter(pk=case_id).update(**plan.moments)
    integration.callback_url = callback_url
    integration.save(update_fields=["callback_url"])
    # Cases still waiting past their SLA: marked by the sweep, as the worker would have.
    case_sla_breaches_mark()
    for event in CaseEvent.objects.filter(
        kind="sla_breached", case__external_id__startswith=HISTORY_PREFIX
    ).select_related("case"):
        CaseEvent.objects.filter(pk=event.pk).update(
            created_at=event.case.sla_due_at + timedelta(seconds=20)
        )
    last = {
        row["case_id"]: row["latest"]
        for row in CaseEvent.objects.filter(case__external_id__startswith=HISTORY_PREFIX)
        .values("case_id")
        .annotate(latest=Max("created_at"))
    }
    for case_id, latest in last.items():
        Case.objects.filter(pk=case_id).update(updated_at=latest)
    return report
