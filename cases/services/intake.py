"""What bots send: a handoff package opens (or refreshes) a case, routed, with the customer told
what happens next; later customer messages and CSAT answers join it."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Manager, Model
from django.utils import timezone

from cases import detectors, languages
from cases.callbacks.outbox import delivery_record
from cases.live.events import publish_case
from cases.locks import lock_case, lock_open_conversation
from cases.models import AttemptedStep, Case, CaseEvent, CsatResponse, Integration, Message
from cases.notices import customer_message, ready_request, team_away_message
from cases.package import AttachmentIn, AttemptedStepIn, HandoffPackage, TranscriptMessage
from cases.selectors import (
    WaitEstimate,
    is_bounce_back,
    previous_contact,
    queue_position,
    wait_estimate,
)
from cases.services.assignment import assignment_on_commit
from cases.services.attachments import attachment_files_remove, attachments_store
from cases.services.audit import record_event
from cases.services.availability import (
    Away,
    away_estimate,
    away_event_data,
    case_away,
    case_team_away_mark,
    queue_closed,
    team_away_announce,
)
from cases.services.escalation_timing import enqueue_escalation_timing
from cases.services.ownership import holder_changed, holder_sync, require_bot_may_write
from cases.services.queue_updates import queue_changed_on_commit
from observability.instruments import INTAKE_SECONDS
from queues.hours import business_deadline
from queues.selectors import active_queues, default_queue, published_rules
from vocabulary import PRIORITY_FLAGS

logger = logging.getLogger(__name__)


class CaseClosed(Exception):
    """The case is resolved or returned to the bot: new messages belong in a new handoff."""


# --- intake ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandoffOutcome:
    case: Case
    created: bool
    position: int | None
    estimate: WaitEstimate
    customer_message: str
    appended_messages: int
    # For the bot: e.g. the customer's language has no messages at the desk (English used).
    warnings: tuple[str, ...] = ()
    # The team cannot take it now (outside hours, nobody online): the customer was told so.
    away: Away | None = None


def handoff_receive(
    *,
    integration: Integration,
    package: HandoffPackage,
    on_stored: Callable[[HandoffOutcome], None] | None = None,
    format_gaps: Sequence[str] = (),
) -> HandoffOutcome:
    """Store a handoff: a new case, or an update of the conversation's open case.

    ``format_gaps``: what the platform's own handoff format could not carry (a bot platform's
    adapter says so, api/adapters/), recorded in ``missing_context`` after the package's gaps.

    Most handoffs open a case, so that is tried first; the partial unique index on open
    conversations refuses it when one is open (or a concurrent handoff just opened it), and the
    handoff is then applied to that case. ``on_stored`` runs inside the same transaction.
    """
    with INTAKE_SECONDS.time():
        return _handoff_receive(
            integration=integration, package=package, on_stored=on_stored, format_gaps=format_gaps
        )


def _handoff_receive(
    *,
    integration: Integration,
    package: HandoffPackage,
    on_stored: Callable[[HandoffOutcome], None] | None,
    format_gaps: Sequence[str],
) -> HandoffOutcome:
    update_open_case = False
    for attempt in range(3):
        saved: list[str] = []  # attachment files written in this attempt
        try:
            with transaction.atomic():
                outcome = _handoff_store(
                    integration=integration,
                    package=package,
                    update_open_case=update_open_case,
                    format_gaps=format_gaps,
                    saved_files=saved,
                )
                if on_stored is not None:
                    on_stored(outcome)
                return outcome
        except IntegrityError:
            attachment_files_remove(saved)
            if attempt == 2:
                raise
            update_open_case = True
        except BaseException:
            attachment_files_remove(saved)
            raise
    raise AssertionError("unreachable")


def _missing_context(package: HandoffPackage, format_gaps: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*detectors.missing_context(package), *format_gaps]))


def _handoff_store(
    *,
    integration: Integration,
    package: HandoffPackage,
    update_open_case: bool,
    format_gaps: Sequence[str] = (),
    saved_files: list[str],
) -> HandoffOutcome:
    open_case = (
        lock_open_conversation(integration.pk, package.external_id) if update_open_case else None
    )
    language = _customer_language(package)
    if open_case is not None:
        open_case.integration = integration
        appended = _handoff_refresh(
            case=open_case,
            package=package,
            format_gaps=format_gaps,
            saved_files=saved_files,
            language=language,
        )
        case = open_case
        now = timezone.now()
        promise = _promise(case, language, now)
        _keep_told(case, promise)
        if promise.away is not None and not case.unavailable_reason:
            # The team went away since the handoff: the customer and the bot hear it, once.
            case_team_away_mark(case, promise.away, now)
        else:
            # The agent keeps to what the customer was told: the case page shows it.
            record_event(case, kind=promise.event_kind, actor_label="desk", data=promise.data)
        created = False
    else:
        case, promise = _handoff_open(
            integration=integration,
            package=package,
            format_gaps=format_gaps,
            saved_files=saved_files,
            language=language,
        )
        appended = len(package.transcript)
        created = True
    position, estimate, message = promise.position, promise.estimate, promise.message
    if created:
        # Where the desk would have handed off is worked out off the request path.
        transaction.on_commit(lambda: enqueue_escalation_timing(case.pk))
    if created and promise.away is None:
        delivery_record(
            case,
            "handoff.accepted",
            {
                "queue": case.queue.slug,
                "position": position,
                "estimated_wait_seconds": estimate.seconds,
                "customer_message": message,
            },
        )
    return HandoffOutcome(
        case, created, position, estimate, message, appended, language.warnings, promise.away
    )


def _customer_language(package: HandoffPackage) -> languages.CustomerLanguage:
    """The package's customer.language, else the language of the customer's messages."""
    declared = package.customer.language if package.customer else None
    said = (m.text for m in package.transcript if m.role == Message.Role.CUSTOMER)
    return languages.customer_language(declared, said)


def _keep_told(case: Case, promise: _Promise) -> None:
    """The place and wait just told: what a later queue update is measured against."""
    case.queue_told_at = timezone.now()
    case.queue_told_position = promise.position
    case.queue_told_wait_seconds = promise.estimate.seconds if promise.position else None
    Case.objects.filter(pk=case.pk).update(
        queue_told_at=case.queue_told_at,
        queue_told_position=case.queue_told_position,
        queue_told_wait_seconds=case.queue_told_wait_seconds,
    )


@dataclass(frozen=True)
class _Promise:
    """What the customer is told on handing off: place in line, wait, what to have ready."""

    position: int | None
    estimate: WaitEstimate
    message: str
    ready: str
    language: languages.CustomerLanguage
    # Set when the team cannot take the case now: the message says when it is back instead.
    away: Away | None = None

    @property
    def event_kind(self) -> str:
        return "customer_told" if self.away is None else "team_away"

    @property
    def data(self) -> dict[str, Any]:
        """The event's data: the case page shows it as what the customer was told."""
        if self.away is not None:
            return away_event_data(
                self.away, message=self.message, position=self.position, estimate=self.estimate
            )
        return {
            "message": self.message,
            "position": self.position,
            "wait_seconds": self.estimate.seconds,
            "basis": self.estimate.basis,
            "ready": self.ready,
            "language": self.language.code,
            "language_source": self.language.source,
        }


def _promise(case: Case, language: languages.CustomerLanguage, now: datetime) -> _Promise:
    position = queue_position(case)
    away = case_away(case, now)
    if away is not None:
        message = team_away_message(case, back_at=away.back_at, now=now)
        return _Promise(position, away_estimate(case, away, now), message, "", language, away)
    estimate = wait_estimate(case.queue, position)
    message = customer_message(case, position, estimate)
    return _Promise(position, estimate, message, ready_request(case), language)


def _risk_and_trigger(
    package: HandoffPackage,
) -> tuple[list[detectors.Evidence], str, str, bool]:
    evidence = detectors.derive_risk(package)
    flags = {item.flag for item in evidence}
    if package.trigger is not None:
        return evidence, package.trigger.reason, package.trigger.detail, False
    reason, detail = detectors.derive_trigger(package, flags)
    return evidence, reason, detail, True


def _customer_fields(package: HandoffPackage) -> dict[str, Any]:
    customer = package.customer
    if customer is None:
        return {
            "customer": {},
            "customer_ref": "",
            "customer_name": "",
            "customer_email": "",
            "customer_tier": "",
        }
    return {
        "customer": customer.model_dump(mode="json", exclude_none=True),
        "customer_ref": customer.id or "",
        "customer_name": customer.name or "",
        "customer_email": customer.email or "",
        "customer_tier": customer.tier or "",
    }


def _routing_package(package: HandoffPackage, flags: list[str], trigger: str) -> dict[str, Any]:
    """The package as the routing engine reads it, with the desk's flags and trigger."""
    return {
        "channel": package.channel,
        "customer": package.customer.model_dump() if package.customer else {},
        "intent": {"name": package.intent.name, "confidence": package.intent.confidence}
        if package.intent
        else {},
        "trigger": {"reason": trigger},
        "risk_flags": flags,
        "facts": package.facts,
        "transcript": [{"role": m.role, "text": m.text} for m in package.transcript],
    }


def _handoff_open(
    *,
    integration: Integration,
    package: HandoffPackage,
    language: languages.CustomerLanguage,
    format_gaps: Sequence[str] = (),
    saved_files: list[str],
) -> tuple[Case, _Promise]:
    now = timezone.now()
    evidence, trigger, trigger_detail, trigger_derived = _risk_and_trigger(package)
    flags = list(dict.fromkeys(item.flag for item in evidence))
    rules = published_rules()
    queues = active_queues()
    fallback = default_queue(queues)
    decision = rules.compiled.route(_routing_package(package, flags, trigger), fallback.slug)
    # A rule naming a queue since deactivated falls back to the default queue.
    queue = next((q for q in queues if q.slug == decision.queue), fallback)
    priority = decision.priority
    if priority is None:
        priority = Case.Priority.HIGH if PRIORITY_FLAGS & set(flags) else Case.Priority.NORMAL
    sla_seconds = decision.sla_seconds or queue.sla_seconds
    # Outside hours the case waits for the team; its SLA counts the team's working time only.
    closed = queue_closed(queue, now)
    previous = previous_contact(
        integration=integration,
        external_id=package.external_id,
        customer_ref=package.customer.id if package.customer else None,
    )
    intent = package.intent
    case = Case(
        integration=integration,
        external_id=package.external_id,
        channel=package.channel,
        queue=queue,
        routed_queue=queue,
        priority=priority,
        **_customer_fields(package),
        customer_language=language.code,
        detected_intent=intent.name if intent else "",
        detected_confidence=intent.confidence if intent else None,
        intent_alternatives=[a.model_dump(mode="json") for a in intent.alternatives]
        if intent
        else [],
        current_intent=intent.name if intent else "",
        trigger_reason=trigger,
        trigger_detail=trigger_detail,
        trigger_derived=trigger_derived,
        facts=package.facts,
        risk_flags=flags,
        risk_evidence=[item.as_dict() for item in evidence],
        missing_context=_missing_context(package, format_gaps),
        summary=package.summary,
        routing_rule=decision.matched_rule or "",
        routing_explanation=decision.explanation,
        ruleset_version=rules.version,
        sla_due_at=business_deadline(queue.schedule, now, sla_seconds),
        unavailable_reason=closed.reason if closed else "",
        team_back_at=closed.back_at if closed else None,
        handed_off_at=now,
        previous_case=previous,
        is_repeat_contact=previous is not None,
        is_bounce_back=is_bounce_back(previous, now),
    )
    messages, _, with_files = _transcript_rows(case, package.transcript, seen=set(), next_seq=1)
    events = [
        CaseEvent(
            case=case,
            kind="created",
            actor_label=f"integration:{integration.name}",
            case_version=case.version,
            data={
                "trigger": trigger,
                "risk_flags": flags,
                "missing_context": case.missing_context,
                "previous_case_id": previous.pk if previous else None,
                "bounce_back": case.is_bounce_back,
            },
        ),
        CaseEvent(
            case=case,
            kind="routed",
            actor_label="routing",
            case_version=case.version,
            data={
                "queue": queue.slug,
                "rule": decision.matched_rule,
                "explanation": decision.explanation,
                "ruleset_version": rules.version,
                "priority": priority,
            },
        ),
    ]
    # Computed before the insert so that the promise is written in the same statement.
    promise = _promise(case, language, now)
    case.queue_told_at = now
    case.queue_told_position = promise.position
    case.queue_told_wait_seconds = promise.estimate.seconds
    events.append(
        CaseEvent(
            case=case,
            kind=promise.event_kind,
            actor_label="desk",
            case_version=case.version,
            data=promise.data,
        )
    )
    _case_insert(case, [messages, _step_rows(case, package.attempted_steps, existing=()), events])
    if with_files:  # the messages have their ids now
        attachments_store(pending=with_files, saved=saved_files)
    publish_case(case, "case.created", cursor=events[-1].pk)
    assignment_on_commit(queue)  # a push queue offers it to a free agent
    if promise.away is not None:
        team_away_announce(case, promise.away, events[-1])
    logger.info(
        "handoff_created case_id=%s integration=%s queue=%s trigger=%s missing=%s",
        case.pk,
        integration.name,
        queue.slug,
        trigger,
        ",".join(case.missing_context),
    )
    return case, promise


REFRESHED_FIELDS = [
    "customer",
    "customer_ref",
    "customer_name",
    "customer_email",
    "customer_tier",
    "customer_language",
    "detected_intent",
    "detected_confidence",
    "intent_alternatives",
    "current_intent",
    "trigger_reason",
    "trigger_detail",
    "trigger_derived",
    "facts",
    "risk_evidence",
    "risk_flags",
    "summary",
    "missing_context",
    "handoff_count",
    "version",
    "updated_at",
    "repeat_detected",
]


def _handoff_refresh(
    *,
    case: Case,
    package: HandoffPackage,
    language: languages.CustomerLanguage,
    format_gaps: Sequence[str] = (),
    saved_files: list[str],
) -> int:
    """A second handoff of an open conversation: new messages once, package fields refreshed."""
    appended, after_texts = _append_transcript(
        case, package.transcript, handed_off_at=case.handed_off_at, saved_files=saved_files
    )
    _note_repeat(case, after_texts)
    existing_steps = set(case.attempted_steps.values_list("name", "outcome", "detail"))
    AttemptedStep.objects.bulk_create(
        _step_rows(case, package.attempted_steps, existing=existing_steps)
    )

    evidence, trigger, trigger_detail, trigger_derived = _risk_and_trigger(package)
    known = {item["flag"] for item in case.risk_evidence}
    new_evidence = [item.as_dict() for item in evidence if item.flag not in known]
    before = {"intent": case.detected_intent, "risk_flags": list(case.risk_flags)}

    customer = _customer_fields(package)
    if package.customer is not None:
        customer["customer"] = {**case.customer, **customer["customer"]}
        for field in ("customer_ref", "customer_name", "customer_email", "customer_tier"):
            customer[field] = customer[field] or getattr(case, field)
        for field, value in customer.items():
            setattr(case, field, value)
    if package.intent is not None:
        if case.current_intent == case.detected_intent:  # an agent's correction stands
            case.current_intent = package.intent.name
        case.detected_intent = package.intent.name
        case.detected_confidence = package.intent.confidence
        case.intent_alternatives = [a.model_dump(mode="json") for a in package.intent.alternatives]
    if package.trigger is not None or not case.trigger_reason:
        case.trigger_reason, case.trigger_detail = trigger, trigger_detail
        case.trigger_derived = trigger_derived
    if language.source != "default" or not case.customer_language:
        # A handoff that cannot tell the language keeps the one the case has.
        case.customer_language = language.code
    case.facts = {**case.facts, **package.facts}
    case.risk_evidence = [*case.risk_evidence, *new_evidence]
    case.risk_flags = list(dict.fromkeys([*case.risk_flags, *(e["flag"] for e in new_evidence)]))
    if package.summary:
        case.summary = package.summary
    case.missing_context = [
        gap for gap in _missing_context(package, format_gaps) if gap in case.missing_context
    ]
    case.handoff_count += 1
    case.version += 1
    case.save(update_fields=REFRESHED_FIELDS)
    event = record_event(
        case,
        kind="handoff_updated",
        actor_label=f"integration:{case.integration.name}",
        data={
            "appended_messages": appended,
            "before": before,
            "after": {"intent": case.detected_intent, "risk_flags": case.risk_flags},
        },
    )
    publish_case(case, "case.handoff_updated", cursor=event.pk)
    return appended


def _dedupe_key(message: TranscriptMessage, index: int) -> str:
    if message.id:
        return f"id:{message.id}"
    when = message.at.isoformat() if message.at else f"#{index}"
    said = message.text
    if message.attachments:  # a screenshot alone, or the same words with another file
        said += "|" + "|".join(_attachment_key(item) for item in message.attachments)
    digest = hashlib.sha256(f"{message.role}|{when}|{said}".encode()).hexdigest()
    return f"h:{digest[:40]}"


def _attachment_key(item: AttachmentIn) -> str:
    if item.content is not None:
        return f"{item.name}:sha256:{hashlib.sha256(item.data).hexdigest()}"
    return f"{item.name}:{item.url}"


# Messages just made, with the attachments each came with (stored once the rows have ids).
WithFiles = list[tuple[Message, list[AttachmentIn]]]


def _transcript_rows(
    case: Case,
    transcript: list[TranscriptMessage],
    *,
    seen: set[str],
    next_seq: int,
    handed_off_at: datetime | None = None,
) -> tuple[list[Message], list[str], WithFiles]:
    """Rows for the messages not seen before on this case, in order, the customer's words
    among them from after the handoff (``handed_off_at``; None for a new case), and the rows
    that came with attachments."""
    now = timezone.now()
    rows = []
    said_after = []
    with_files: WithFiles = []
    for index, message in enumerate(transcript):
        key = _dedupe_key(message, index)
        if key in seen:
            continue
        seen.add(key)
        sent_at = message.at or now
        after = handed_off_at is not None and sent_at > handed_off_at
        rows.append(
            Message(
                case=case,
                seq=next_seq,
                external_id=message.id or "",
                dedupe_key=key,
                role=message.role,
                text=message.text,
                sent_at=sent_at,
                phase=Message.Phase.AFTER_HANDOFF if after else Message.Phase.BEFORE_HANDOFF,
            )
        )
        if message.attachments:
            with_files.append((rows[-1], message.attachments))
        if after and message.role == Message.Role.CUSTOMER and message.text:
            said_after.append(message.text)
        next_seq += 1
    return rows, said_after, with_files


def _append_transcript(
    case: Case,
    transcript: list[TranscriptMessage],
    *,
    handed_off_at: datetime,
    saved_files: list[str],
) -> tuple[int, list[str]]:
    """Store the messages not seen before on this open case (and their attachments): how many
    were new, and the customer's words among them from after the handoff."""
    if not transcript:
        return 0, []
    seen = set(case.messages.values_list("dedupe_key", flat=True))
    last_seq = case.messages.order_by("-seq").values_list("seq", flat=True).first() or 0
    rows, said_after, with_files = _transcript_rows(
        case, transcript, seen=seen, next_seq=last_seq + 1, handed_off_at=handed_off_at
    )
    Message.objects.bulk_create(rows, batch_size=500)
    if with_files:
        attachments_store(pending=with_files, saved=saved_files)
    return len(rows), said_after


def _step_rows(
    case: Case, steps: list[AttemptedStepIn], *, existing: set[tuple[str, str, str]] | tuple[()]
) -> list[AttemptedStep]:
    start = len(existing)
    rows: list[AttemptedStep] = []
    for step in steps:
        key = (step.name, step.outcome, step.detail)
        if key in existing:
            continue
        rows.append(
            AttemptedStep(
                case=case,
                position=start + len(rows) + 1,
                name=step.name,
                outcome=step.outcome,
                detail=step.detail,
                at=step.at,
            )
        )
    return rows


# --- one statement for a new case ------------------------------------------------------------

ChildRow = Message | AttemptedStep | CaseEvent


# Measured: writes' Python CPU 2.8 -> 0.7 ms, PostgreSQL's 1.0 -> 0.76 ms, of ~13 ms a handoff (17%)
def _case_insert(case: Case, children: Sequence[Sequence[ChildRow]]) -> None:
    """Insert a new case and its child rows (each list of one model, pointing at ``case``), and
    set every primary key, as ``save`` and ``bulk_create`` would.

    On PostgreSQL this is one statement: data-modifying CTEs that read each table's rows from
    one JSON parameter. A handoff's case, transcript, steps and events then cost one round trip
    and one statement instead of four, and the statement's text depends only on which tables
    get rows, so psycopg parses it once per process. Elsewhere (SQLite) the ORM inserts them.
    """
    groups = [rows for rows in children if rows]
    if connection.vendor != "postgresql":
        case.save(force_insert=True)
        for rows in groups:
            manager: Manager[Any] = type(rows[0])._default_manager
            manager.bulk_create(rows, batch_size=500)
        return
    models = tuple(type(rows[0]) for rows in groups)
    params = [_rows_json(Case, [case])] + [_rows_json(type(rows[0]), rows) for rows in groups]
    with connection.cursor() as cursor:
        cursor.execute(_case_insert_sql(models), params)
        row = cursor.fetchone()
    assert row is not None  # INSERT ... RETURNING always returns the row
    case_id, *child_ids = row
    case.pk = case_id
    _saved(case)
    for rows, ids in zip(groups, child_ids, strict=True):
        for obj, pk in zip(rows, ids, strict=True):
            obj.pk, obj.case_id = pk, case_id
            _saved(obj)


def _saved(obj: Model) -> None:
    obj._state.adding = False
    obj._state.db = connection.alias


@functools.cache
def _case_insert_sql(models: tuple[type[Model], ...]) -> str:
    """The statement for a case and rows of these child models; the child rows' ids come back
    as one array per model, in row order. Only names from the models' metadata are spliced in:
    every value is a parameter."""
    parts = [f'"new_case" AS ({_insert_from_json(Case, into_case=None)} RETURNING "id")']
    for index, model in enumerate(models):
        insert = _insert_from_json(model, into_case='(SELECT "id" FROM "new_case")')
        parts.append(f'"rows_{index}" AS ({insert} RETURNING "id")')
    ids = ['"id"'] + [
        f'ARRAY(SELECT "id" FROM "rows_{i}" ORDER BY "id")'  # noqa: S608
        for i in range(len(models))
    ]
    return f'WITH {", ".join(parts)} SELECT {", ".join(ids)} FROM "new_case"'  # noqa: S608


def _insert_columns(model: type[Model]) -> list[tuple[Field[Any, Any], str]]:
    """Every field an insert writes (all but the primary key and generated columns), with its
    column."""
    return [
        (field, column)
        for field in model._meta.concrete_fields
        if not field.primary_key and not field.generated and (column := field.column)
    ]


def _insert_from_json(model: type[Model], *, into_case: str | None) -> str:
    """``INSERT INTO <table> (<every column>) SELECT ... FROM json_populate_record[set](...)``:
    one row from a JSON object (``into_case`` None), or rows from a JSON array with their
    ``case`` column set to ``into_case``."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = _insert_columns(model)
    values = ", ".join(
        into_case if into_case and field.attname == "case_id" else f"r.{quote(column)}"
        for field, column in columns
    )
    source = "json_populate_record" if into_case is None else "json_populate_recordset"
    select = f"SELECT {values} FROM {source}(NULL::{table}, %s) r"  # noqa: S608
    return f"INSERT INTO {table} ({', '.join(quote(column) for _, column in columns)}) {select}"


def _rows_json(model: type[Model], rows: Sequence[Model]) -> str:
    """Rows as JSON for ``json_populate_record(set)``, keyed by column: each field's value as
    ``save`` reads it (``pre_save`` fills ``auto_now`` times); PostgreSQL converts the JSON
    values to the columns' types."""
    columns = _insert_columns(model)
    records = [{column: field.pre_save(obj, True) for field, column in columns} for obj in rows]
    data = records[0] if model is Case else records
    return json.dumps(data, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _note_repeat(case: Case, new_texts: list[str]) -> bool:
    """Flag the case when the customer restates, after the handoff, what they told the bot."""
    if case.repeat_detected or not new_texts:
        return False
    earlier = list(
        case.messages.filter(role=Message.Role.CUSTOMER, phase=Message.Phase.BEFORE_HANDOFF)
        .order_by("-seq")
        .values_list("text", flat=True)[:50]
    )
    if any(detectors.restates(text, earlier) for text in new_texts):
        case.repeat_detected = True
        return True
    return False


# --- after the handoff, from the bot platform --------------------------------------------------


def case_customer_message_add(
    *,
    case_id: int,
    text: str,
    external_id: str | None = None,
    sent_at: datetime | None = None,
    role: str = Message.Role.CUSTOMER,
    attachments: Sequence[AttachmentIn] = (),
) -> tuple[Message, bool]:
    """A message that arrived after the handoff: the customer's, or the bot's own (``role``
    ``bot``), which is refused while a person holds the conversation (one owner at a time),
    with its attachments, stored as the handoff's are (a file written for a transaction that
    does not commit is removed). Returns (message, created)."""
    saved: list[str] = []
    try:
        return _customer_message_store(
            case_id=case_id,
            text=text,
            external_id=external_id,
            sent_at=sent_at,
            role=role,
            attachments=list(attachments),
            saved_files=saved,
        )
    except BaseException:
        attachment_files_remove(saved)
        raise


@transaction.atomic
def _customer_message_store(
    *,
    case_id: int,
    text: str,
    external_id: str | None,
    sent_at: datetime | None,
    role: str,
    attachments: list[AttachmentIn],
    saved_files: list[str],
) -> tuple[Message, bool]:
    case = lock_case(case_id)
    if not case.is_open:
        raise CaseClosed(case.pk)
    from_bot = role == Message.Role.BOT
    if from_bot:
        require_bot_may_write(case)
    when = sent_at or timezone.now()
    incoming = TranscriptMessage(
        id=external_id,
        role="bot" if from_bot else "customer",
        text=text,
        at=when,
        attachments=attachments,
    )
    key = _dedupe_key(incoming, 0)
    duplicate = case.messages.filter(dedupe_key=key).first()
    if duplicate is not None:
        return duplicate, False
    last_seq = case.messages.order_by("-seq").values_list("seq", flat=True).first() or 0
    message = Message.objects.create(
        case=case,
        seq=last_seq + 1,
        external_id=external_id or "",
        dedupe_key=key,
        role=incoming.role,
        text=text,
        sent_at=when,
        phase=Message.Phase.AFTER_HANDOFF,
    )
    if attachments:
        attachments_store(pending=[(message, attachments)], saved=saved_files)
    repeated = False if from_bot or not text else _note_repeat(case, [text])
    case.version += 1
    case.save(update_fields=["version", "updated_at", "repeat_detected"])
    kind = "bot_message" if from_bot else "customer_message"
    data: dict[str, Any] = {"message_id": message.pk}
    if attachments:
        data["attachments"] = len(attachments)
    if not from_bot:
        data["restates_earlier"] = repeated
    event = record_event(
        case, kind=kind, actor_label=f"integration:{case.integration.name}", data=data
    )
    publish_case(case, f"case.{kind}", cursor=event.pk)
    return message, True


@dataclass(frozen=True)
class BotEnded:
    case: Case
    # False when the case was already closed (a platform's retry, or a person closed it first).
    ended: bool


@transaction.atomic
def conversation_end_by_bot(
    *, integration: Integration, external_id: str, action: str
) -> BotEnded | None:
    """The bot ended the session with a person (Botpress's ``stopHitl``: the customer left, or
    the bot's flow stopped it): the conversation's open case is resolved as ``ended_by_bot``,
    whoever was working it, and the conversation is the bot's again. The change of hands and
    the end are audited and pushed live; no callback tells the bot what it did itself.
    ``action``: the platform's name for what it sent, for the audit trail. None when the
    integration never handed this conversation off."""
    case = lock_open_conversation(integration.pk, external_id)
    if case is None:
        latest = (
            Case.objects.select_related("queue")
            .filter(integration=integration, external_id=external_id)
            .order_by("-pk")
            .first()
        )
        return BotEnded(latest, ended=False) if latest is not None else None
    case.integration = integration
    was = {"status": case.status, "held_by": case.held_by_id}
    case.status = Case.Status.RESOLVED
    case.resolved_at = timezone.now()
    case.resolution_code = Case.Resolution.ENDED_BY_BOT
    holder_fields, change = holder_sync(case)
    case.version += 1
    case.save(
        update_fields=[
            "status",
            "resolved_at",
            "resolution_code",
            *holder_fields,
            "version",
            "updated_at",
        ]
    )
    label = f"integration:{integration.name}"
    if change is not None:
        holder_changed(case, change, actor=None, actor_label=label, reason="ended_by_bot")
    event = record_event(
        case,
        kind="ended_by_bot",
        actor_label=label,
        data={"action": action, "status_was": was["status"], "held_by_was": was["held_by"]},
    )
    publish_case(case, "case.ended_by_bot", cursor=event.pk)
    # A waiting case left the line, or its agent has room for one more.
    queue_changed_on_commit(case.queue_id)
    return BotEnded(case, ended=True)


@transaction.atomic
def case_csat_record(*, case_id: int, score: int, comment: str = "") -> tuple[CsatResponse, bool]:
    """Record the customer's rating; a second rating replaces the first (and is audited)."""
    case = lock_case(case_id)
    previous = CsatResponse.objects.filter(case=case).first()
    if previous is None:
        csat = CsatResponse.objects.create(case=case, score=score, comment=comment)
    else:
        previous.score, previous.comment = score, comment
        previous.save(update_fields=["score", "comment", "updated_at"])
        csat = previous
    case.version += 1
    case.save(update_fields=["version", "updated_at"])
    event = record_event(
        case,
        kind="csat_recorded",
        actor_label=f"integration:{case.integration.name}",
        data={"score": score, "replaced": previous is not None},
    )
    publish_case(case, "case.csat_recorded", cursor=event.pk)
    return csat, previous is None
