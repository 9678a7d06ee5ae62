"""What agents and supervisors do to a case: claim, take next, reply, note, correct the intent,
wait for the customer, resolve, reopen, release.

Every action locks the case, refuses a write based on a stale page (``expected_version``), bumps
the version, writes a ``CaseEvent``, and publishes the live event (and, where the customer must
hear of it, writes the callback) after the transaction commits.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from cases.callbacks.outbox import delivery_record
from cases.live.events import publish_case
from cases.locks import lock_case, lock_next_waiting
from cases.models import (
    AGENT_RESOLUTIONS,
    CLOSED,
    OPEN_WORK,
    AgentStatus,
    Case,
    Intent,
    IntentCorrection,
    Message,
    RiskFlagReview,
    person_name,
)
from cases.notices import agent_joined_text
from cases.permissions import may_work_queue
from cases.services.assignment import (
    agent_assignment_on_commit,
    assignment_on_commit,
    pending_offers_withdraw,
)
from cases.services.audit import record_event
from cases.services.canned import canned_reply_used
from cases.services.ownership import holder_changed, holder_sync
from cases.services.queue_updates import queue_changed_on_commit
from queues.models import Membership


class CaseActionError(Exception):
    """An action that cannot be done; the message is shown to the agent as it is."""


class StaleCase(CaseActionError):
    def __init__(self, case: Case) -> None:
        self.case = case
        super().__init__(
            "Someone changed this case while you were looking at it. "
            "The page now shows the latest state; check it and try again."
        )


class CaseAlreadyClaimed(CaseActionError):
    def __init__(self, case: Case) -> None:
        self.case = case
        super().__init__(f"{case.assignee_name or 'Someone else'} has already claimed this case.")


class CapacityReached(CaseActionError):
    pass


def locked_case(case_id: int, expected_version: int | None) -> Case:
    case = lock_case(case_id)
    if expected_version is not None and case.version != expected_version:
        raise StaleCase(case)
    return case


def _commit(case: Case, fields: list[str], *, kind: str, actor: Any, data: dict[str, Any]) -> Case:
    # Whoever the action leaves holding the conversation (the bot or a person) is recorded,
    # audited and told to the bot here, once for every action.
    holder_fields, change = holder_sync(case)
    case.version += 1
    case.save(update_fields=[*dict.fromkeys([*fields, *holder_fields]), "version", "updated_at"])
    if change is not None:  # before the action's event: a resync names the action
        holder_changed(case, change, actor=actor, reason=kind)
    event = record_event(case, kind=kind, actor=actor, data=data)
    publish_case(case, f"case.{kind}", cursor=event.pk, actor=person_name(actor))
    return case


def require_open(case: Case) -> None:
    if case.status == Case.Status.RESOLVED:
        raise CaseActionError("This case is resolved. Reopen it first.")
    if case.status == Case.Status.RETURNED:
        raise CaseActionError(
            "This case was returned to the bot. If the customer needs a person again, the "
            "bot's next handoff opens a new case."
        )


def _is_supervisor(user: Any) -> bool:
    return bool(user.has_perm("cases.reassign_case"))


def _require_holder(case: Case, user: Any) -> None:
    """The work policy: a case held by an agent is worked (replies, notes, intent, status) by
    that agent or a supervisor; a waiting case by any agent of its queue, whose reply claims it."""
    if case.assignee_id is None or case.assignee_id == user.pk:
        return
    if _is_supervisor(user):
        return
    raise CaseAlreadyClaimed(case)


def _open_cases_by_queue(agent: Any) -> dict[int, int]:
    rows = (
        Case.objects.filter(assignee=agent, status__in=OPEN_WORK)
        .values("queue_id")
        .annotate(n=Count("pk"))
    )
    return {row["queue_id"]: row["n"] for row in rows}


def _lock_memberships(agent: Any) -> list[Membership]:
    # All of the agent's, in one order, as take-next and offer acceptance lock them: one agent's
    # parallel claims in two queues cannot both fit the last slot of the overall cap. Take-next
    # skips locked cases, so taking these after a case's lock cannot deadlock.
    return list(Membership.objects.select_for_update().filter(agent=agent).order_by("pk"))


def _overall_cap_reached(agent: Any, held: dict[int, int]) -> int | None:
    """The agent's cap across queues (AgentStatus.max_open) when their open cases fill it."""
    cap = AgentStatus.objects.filter(user_id=agent.pk).values_list("max_open", flat=True).first()
    return cap if cap is not None and sum(held.values()) >= cap else None


def _check_capacity(agent: Any, queue_id: int) -> None:
    membership = next((m for m in _lock_memberships(agent) if m.queue_id == queue_id), None)
    if membership is None:  # supervisors and admins work any queue, without a quota
        return
    held = _open_cases_by_queue(agent)
    if held.get(queue_id, 0) >= membership.capacity:
        raise CapacityReached(
            f"You already hold {membership.capacity} open cases from this queue, your capacity. "
            "Resolve or release one first."
        )
    if (cap := _overall_cap_reached(agent, held)) is not None:
        raise CapacityReached(
            f"You already hold {cap} open cases across your queues, your overall cap. "
            "Resolve or release one first."
        )


def assign_case(case: Case, agent: Any) -> list[str]:
    """The case to the agent (the caller holds its lock): every way a case gets an agent goes
    through here, so an offer of it still pending ends here too."""
    now = timezone.now()
    pending_offers_withdraw(case, reason="assigned")
    case.assignee = agent
    case.status = Case.Status.ASSIGNED
    fields = ["assignee", "status"]
    if case.first_claimed_at is None:
        case.first_claimed_at = now
        fields.append("first_claimed_at")
    return fields


@transaction.atomic
def case_claim(*, case_id: int, agent: Any, expected_version: int | None = None) -> Case:
    case = lock_case(case_id)
    require_open(case)
    if case.status != Case.Status.WAITING:
        if case.assignee_id == agent.pk:
            return case  # a double click is not a conflict
        raise CaseAlreadyClaimed(case)
    if expected_version is not None and case.version != expected_version:
        raise StaleCase(case)
    _check_capacity(agent, case.queue_id)
    fields = assign_case(case, agent)
    delivery_record(case, "agent.joined", _joined_payload(case, agent))
    queue_changed_on_commit(case.queue_id)
    return _commit(case, fields, kind="claimed", actor=agent, data={"assignee": agent.pk})


def _joined_payload(case: Case, agent: Any) -> dict[str, Any]:
    name = agent.first_name or agent.get_username()
    return {
        "agent": name,
        "queue": case.queue.slug,
        "text": agent_joined_text(case, name),
    }


@transaction.atomic
def case_take_next(*, agent: Any, prefer_queue_id: int | None = None) -> Case | None:
    """Claim the most urgent waiting case of the agent's queues that still have room; from
    ``prefer_queue_id`` first (the queue page the agent is on) when it has one for them.

    ``FOR UPDATE SKIP LOCKED``: concurrent agents each get a different case, never the same one.
    The agent's memberships are locked first, so one agent's parallel clicks respect capacity.
    """
    memberships = _lock_memberships(agent)
    held = _open_cases_by_queue(agent)
    queue_ids = [m.queue_id for m in memberships if held.get(m.queue_id, 0) < m.capacity]
    if not queue_ids or _overall_cap_reached(agent, held) is not None:
        return None
    case = None
    if prefer_queue_id in queue_ids:
        case = lock_next_waiting([prefer_queue_id])
    if case is None:
        case = lock_next_waiting(queue_ids)
    if case is None:
        return None
    fields = assign_case(case, agent)
    delivery_record(case, "agent.joined", _joined_payload(case, agent))
    queue_changed_on_commit(case.queue_id)
    return _commit(
        case, fields, kind="claimed", actor=agent, data={"assignee": agent.pk, "take_next": True}
    )


@transaction.atomic
def case_release(*, case_id: int, agent: Any, expected_version: int | None = None) -> Case:
    case = locked_case(case_id, expected_version)
    require_open(case)
    if case.status == Case.Status.WAITING:
        raise CaseActionError("This case is not claimed.")
    _require_holder(case, agent)
    previous = case.assignee_id
    case.assignee, case.status = None, Case.Status.WAITING
    queue_changed_on_commit(case.queue_id)
    assignment_on_commit(case.queue)  # freed: a push queue offers it again
    if previous is not None:
        agent_assignment_on_commit(previous)  # and the agent has room
    return _commit(
        case, ["assignee", "status"], kind="released", actor=agent, data={"from": previous}
    )


def _next_seq(case: Case) -> int:
    return (case.messages.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1


def _add_message(case: Case, *, role: str, text: str, author: Any) -> Message:
    now = timezone.now()
    seq = _next_seq(case)
    return Message.objects.create(
        case=case,
        seq=seq,
        dedupe_key=f"desk:{seq}",
        role=role,
        text=text,
        sent_at=now,
        author=author,
        phase=Message.Phase.AFTER_HANDOFF,
    )


@transaction.atomic
def case_reply(
    *, case_id: int, agent: Any, text: str, expected_version: int | None = None
) -> Message:
    """A reply to the customer: stored, and handed to delivery for the bot platform."""
    text = text.strip()
    if not text:
        raise CaseActionError("Write a reply first.")
    case = locked_case(case_id, expected_version)
    require_open(case)
    _require_holder(case, agent)
    fields = []
    if case.status == Case.Status.WAITING:
        _check_capacity(agent, case.queue_id)
        fields = assign_case(case, agent)
        delivery_record(case, "agent.joined", _joined_payload(case, agent))
        queue_changed_on_commit(case.queue_id)
    elif case.status == Case.Status.AWAITING_CUSTOMER:
        case.status = Case.Status.ASSIGNED
        fields.append("status")
    if case.first_human_reply_at is None:
        case.first_human_reply_at = timezone.now()
        fields.append("first_human_reply_at")
    message = _add_message(case, role=Message.Role.AGENT, text=text, author=agent)
    delivery_record(
        case,
        "agent.message",
        {"message_id": message.pk, "agent": agent.first_name or agent.get_username(), "text": text},
    )
    _commit(case, fields, kind="replied", actor=agent, data={"message_id": message.pk})
    return message


@transaction.atomic
def case_note_add(*, case_id: int, agent: Any, text: str) -> Message:
    """An internal note: never shown to the customer, never a conflict (it changes no state)."""
    text = text.strip()
    if not text:
        raise CaseActionError("Write the note first.")
    case = lock_case(case_id)
    _require_holder(case, agent)
    message = _add_message(case, role=Message.Role.NOTE, text=text, author=agent)
    _commit(case, [], kind="noted", actor=agent, data={"message_id": message.pk})
    return message


INTENT_NAME = re.compile(r"[a-z0-9_]+(?:[.-][a-z0-9_]+)*")


def _require_known_intent(name: str) -> None:
    """Corrections train the bot: an intent must be a name of the desk's vocabulary (the Intent
    catalogue, or one a bot has detected), never a typo that becomes a class of its own."""
    if not INTENT_NAME.fullmatch(name):
        raise CaseActionError(
            f"“{name}” is not an intent name: lower-case words joined by dots, like billing.refund."
        )
    catalogue = Intent.objects.filter(is_active=True)
    if not catalogue.exists():
        return  # a desk that keeps no catalogue takes any well-formed name
    if catalogue.filter(name=name).exists() or Case.objects.filter(detected_intent=name).exists():
        return
    raise CaseActionError(
        f"“{name}” is not an intent the desk knows: pick one from the list "
        "(admins add intents to the catalogue)."
    )


@transaction.atomic
def case_intent_correct(
    *,
    case_id: int,
    agent: Any,
    to_intent: str,
    reason: str = "",
    expected_version: int | None = None,
) -> IntentCorrection:
    to_intent = to_intent.strip()
    if not to_intent:
        raise CaseActionError("Pick or type the correct intent.")
    if len(to_intent) > 100:
        raise CaseActionError("An intent name is at most 100 characters.")
    _require_known_intent(to_intent)
    case = locked_case(case_id, expected_version)
    if case.status in CLOSED and not _is_supervisor(agent):
        raise CaseActionError(
            f"This case is {case.get_status_display().lower()}: its intent is corrected by a "
            "supervisor, for the bot's retraining."
            + (" Reopen it first if the customer needs more." if case.status == "resolved" else "")
        )
    _require_holder(case, agent)
    if to_intent == case.current_intent:
        raise CaseActionError(f"The intent is already {to_intent}.")
    correction = IntentCorrection.objects.create(
        case=case,
        from_intent=case.current_intent,
        to_intent=to_intent,
        agent=agent,
        reason=reason.strip(),
    )
    before = case.current_intent
    case.current_intent = to_intent
    _commit(
        case,
        ["current_intent"],
        kind="intent_corrected",
        actor=agent,
        data={"before": before, "after": to_intent, "reason": correction.reason},
    )
    return correction


@transaction.atomic
def case_risk_flag_review(
    *, case_id: int, agent: Any, flag: str, verdict: str, expected_version: int | None = None
) -> RiskFlagReview:
    """Confirm or dismiss one of the case's risk flags (a second verdict replaces the first).
    Like an intent correction: the holder or a supervisor judges, and the verdict is audited."""
    if verdict not in RiskFlagReview.Verdict.values:
        raise CaseActionError("Confirm or dismiss the flag.")
    case = locked_case(case_id, expected_version)
    _require_holder(case, agent)
    if flag not in case.risk_flags:
        raise CaseActionError(f"This case has no “{flag}” flag.")
    raised_by = next(
        (item.get("source", "bot") for item in case.risk_evidence if item.get("flag") == flag),
        "bot",
    )
    review, _ = RiskFlagReview.objects.update_or_create(
        case=case,
        flag=flag,
        defaults={
            "verdict": verdict,
            "raised_by": raised_by,
            "agent": agent,
            "reviewed_at": timezone.now(),
        },
    )
    _commit(
        case,
        [],
        kind="risk_flag_reviewed",
        actor=agent,
        data={"flag": flag, "verdict": verdict, "raised_by": raised_by},
    )
    return review


@transaction.atomic
def case_await_customer(*, case_id: int, agent: Any, expected_version: int | None = None) -> Case:
    case = locked_case(case_id, expected_version)
    require_open(case)
    _require_holder(case, agent)
    if case.status != Case.Status.ASSIGNED:
        raise CaseActionError("Only a claimed case can wait for the customer.")
    case.status = Case.Status.AWAITING_CUSTOMER
    delivery_record(case, "case.awaiting_customer", {})
    return _commit(case, ["status"], kind="awaiting_customer", actor=agent, data={})


@transaction.atomic
def case_resolve(
    *,
    case_id: int,
    agent: Any,
    resolution_code: str,
    customer_repeated: bool,
    expected_version: int | None = None,
) -> Case:
    if resolution_code not in dict(AGENT_RESOLUTIONS):
        raise CaseActionError("Pick a resolution code from the list.")
    case = locked_case(case_id, expected_version)
    require_open(case)
    _require_holder(case, agent)
    fields = ["status", "resolved_at", "resolution_code", "customer_repeated"]
    if case.assignee_id is None:
        fields += assign_case(case, agent)
    case.status = Case.Status.RESOLVED
    case.resolved_at = timezone.now()
    case.resolution_code = resolution_code
    case.customer_repeated = customer_repeated
    delivery_record(case, "case.resolved", {"resolution": resolution_code})
    # A waiting case left the line, or an agent has room for one more.
    queue_changed_on_commit(case.queue_id)
    agent_assignment_on_commit(case.assignee_id or agent.pk)
    return _commit(
        case,
        list(dict.fromkeys(fields)),
        kind="resolved",
        actor=agent,
        data={"resolution": resolution_code, "customer_repeated": customer_repeated},
    )


RETURN_NOTE_MAX = 2000


def _transcript_reference(case: Case) -> dict[str, Any]:
    """Where the bot reads the whole conversation back (the API's case, notes left out) and how
    far it went."""
    last_seq = case.messages.order_by("-seq").values_list("seq", flat=True).first() or 0
    return {
        "url": settings.HANDOFF_BASE_URL + reverse("api-v1:case_read", args=[case.pk]),
        "messages": last_seq,
        "case_url": settings.HANDOFF_BASE_URL + reverse("cases:detail", args=[case.pk]),
    }


@transaction.atomic
def case_return_to_bot(
    *,
    case_id: int,
    agent: Any,
    note: str,
    resume_intent: str = "",
    expected_version: int | None = None,
) -> Case:
    """Hand the conversation back to the bot: the case leaves the queue as ``returned`` and the
    bot gets ``case.returned_to_bot`` (the note, the intent to resume, where the transcript is)
    in its platform's own form where it has one. Only the person holding the conversation
    returns it; a handoff of it within 24 h comes back as a bounce-back."""
    note = note.strip()
    if not note:
        raise CaseActionError("Write a note for the bot: what was done and what it should do next.")
    if len(note) > RETURN_NOTE_MAX:
        raise CaseActionError(f"A note for the bot is at most {RETURN_NOTE_MAX:,} characters.")
    resume_intent = resume_intent.strip()
    if resume_intent:
        _require_known_intent(resume_intent)
    case = locked_case(case_id, expected_version)
    require_open(case)
    if case.held_by_id != agent.pk:
        if case.held_by_id is None:
            raise CaseActionError(
                "Claim the case first: only the person holding the "
                "conversation returns it to the bot."
            )
        raise CaseAlreadyClaimed(case)
    case.status = Case.Status.RETURNED
    case.returned_at = timezone.now()
    pending_offers_withdraw(case, reason="returned_to_bot")
    agent_assignment_on_commit(agent.pk)  # a slot free again
    delivery_record(
        case,
        "case.returned_to_bot",
        {
            "note": note,
            "intent": resume_intent or None,
            "agent": agent.first_name or agent.get_username(),
            "transcript": _transcript_reference(case),
            # the language the desk writes to the customer in (a platform's resume needs one)
            "language": case.customer_language or None,
        },
    )
    return _commit(
        case,
        ["status", "returned_at"],
        kind="returned_to_bot",
        actor=agent,
        data={"note": note, "intent": resume_intent or None},
    )


@transaction.atomic
def case_reopen(*, case_id: int, agent: Any, expected_version: int | None = None) -> Case:
    case = locked_case(case_id, expected_version)
    if case.status != Case.Status.RESOLVED:
        raise CaseActionError("Only a resolved case can be reopened.")
    if case.assignee_id not in (None, agent.pk) and not _is_supervisor(agent):
        raise CaseActionError(
            f"{case.assignee_name or 'A colleague'} resolved this case: only they or a "
            "supervisor can reopen it."
        )
    case.status = Case.Status.ASSIGNED
    case.assignee = agent
    case.resolved_at = None
    queue_changed_on_commit(case.queue_id)  # the agent has one slot less
    try:
        with transaction.atomic():
            return _commit(
                case,
                ["status", "assignee", "resolved_at"],
                kind="reopened",
                actor=agent,
                data={"resolution_was": case.resolution_code},
            )
    except IntegrityError:
        newer = (
            Case.objects.filter(integration_id=case.integration_id, external_id=case.external_id)
            .exclude(status__in=CLOSED)
            .values_list("pk", flat=True)
            .first()
        )
        raise CaseActionError(
            f"The customer came back in a newer case (#{newer}); work that one instead."
        ) from None


def agent_may_work(user: Any, case: Case) -> bool:
    return bool(user.has_perm("cases.work_case") and may_work_queue(user, case.queue_id))


@transaction.atomic
def case_compose(
    *,
    case_id: int,
    agent: Any,
    mode: str,
    text: str,
    resolution_code: str = "",
    customer_repeated: bool | None = None,
    canned_id: int | None = None,
    expected_version: int | None = None,
) -> Case:
    """The composer's one act: send a reply or add a note, then, if asked, resolve the case.

    The page's version is checked once, before anything is written; the resolve that follows
    the send is part of the same act, so the send's own version bump is no conflict. A reply
    built from a saved reply counts as one use of it, in the same transaction.
    """
    case = locked_case(case_id, expected_version)
    if text:
        if mode == "note":
            case_note_add(case_id=case_id, agent=agent, text=text)
        else:
            case_reply(case_id=case_id, agent=agent, text=text)
            canned_reply_used(reply_id=canned_id, case=case, agent=agent)
    if resolution_code:
        case_resolve(
            case_id=case_id,
            agent=agent,
            resolution_code=resolution_code,
            customer_repeated=bool(customer_repeated),
        )
    return lock_case(case_id)
