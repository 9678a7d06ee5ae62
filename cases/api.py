"""The JSON API for bot platforms (django-ninja): ``/api/v1/``, schema at ``openapi.json``.

Endpoints validate, authenticate and call services; nothing here writes a row itself.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Header, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from cases import idempotency, metrics, services
from cases.models import Case, Integration
from cases.problems import problem
from cases.schemas import (
    CsatIn,
    CustomerMessageIn,
    HandoffAccepted,
    HandoffPackage,
    Problem,
)
from cases.selectors import case_customer_visible_messages, integration_case, queue_position
from queues.routing import PRIORITY_NAMES


class IntegrationDisabled(Exception):
    pass


def integration_by_key(raw_key: str) -> Integration | None:
    """The integration whose API key this is, if any.

    Every API call makes this lookup, so it is a plain indexed query built once: the ORM spent
    three times the query's own cost compiling it on each call.
    """
    if not raw_key:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_INTEGRATION_BY_KEY_SQL, [services.hash_api_key(raw_key)])
        row = cursor.fetchone()
    return Integration.from_db(connection.alias, _INTEGRATION_FIELDS, row) if row else None


_INTEGRATION_FIELDS = [field.attname for field in Integration._meta.concrete_fields]
_INTEGRATION_BY_KEY_SQL = "SELECT {} FROM {} WHERE {} = %s".format(  # noqa: S608 (names only)
    ", ".join(connection.ops.quote_name(f.column or "") for f in Integration._meta.concrete_fields),
    connection.ops.quote_name(Integration._meta.db_table),
    connection.ops.quote_name("key_hash"),
)


class IntegrationKey(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Integration | None:
        integration = integration_by_key(token)
        if integration is not None and not integration.is_active:
            raise IntegrationDisabled(integration.name)
        return integration


api = NinjaAPI(
    title="Handoff Desk API",
    version="1",
    description=(
        "Bot platforms hand conversations to humans here. Authenticate with "
        "`Authorization: Bearer <integration key>`. Errors are RFC 9457 problem details."
    ),
    auth=IntegrationKey(),
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


# --- errors as problem details ---------------------------------------------------------------


def _error_location(loc: tuple[Any, ...] | list[Any]) -> list[str | int]:
    # ninja wraps a single body parameter under its name; the client never sent that level.
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "body" and parts[1] in BODY_PARAMS:
        parts = ["body", *parts[2:]]
    return parts


BODY_PARAMS = {"package", "message", "rating"}


@api.exception_handler(ValidationError)
def validation_failed(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {"loc": _error_location(error.get("loc", ())), "msg": error.get("msg", "invalid")}
        for error in exc.errors
    ]
    fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) or "body" for e in errors[:10])
    return problem(
        422, f"{len(errors)} invalid field(s): {fields}", slug="validation", errors=errors
    )


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem(
        401,
        "A valid integration key is required: Authorization: Bearer <key>.",
        slug="unauthorized",
    )


@api.exception_handler(IntegrationDisabled)
def integration_disabled(request: HttpRequest, exc: IntegrationDisabled) -> HttpResponse:
    return problem(403, f"The integration {exc} is disabled.", slug="integration-disabled")


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    detail = str(exc)
    if exc.status_code == 400:
        detail = "The request body is not valid JSON."
    return problem(exc.status_code, detail)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem(404, "No such case for this integration.", slug="not-found")


def _json(status: int, body: dict[str, Any] | str, **headers: str) -> HttpResponse:
    content = body if isinstance(body, str) else json.dumps(body)
    response = HttpResponse(content, status=status, content_type="application/json")
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


# --- handoffs -------------------------------------------------------------------------------


def _handoff_body(outcome: services.HandoffOutcome, warnings: list[str]) -> dict[str, Any]:
    case = outcome.case
    path = reverse("cases:detail", args=[case.pk])
    return HandoffAccepted(
        case_id=case.pk,
        status=case.status,
        queue=case.queue.slug,
        queue_name=case.queue.name,
        priority=PRIORITY_NAMES.get(case.priority, str(case.priority)),
        position=outcome.position,
        estimated_wait_seconds=outcome.estimate.seconds,
        estimate_basis=outcome.estimate.basis,
        customer_message=outcome.customer_message,
        missing_context=case.missing_context,
        risk_flags=case.risk_flags,
        trigger_reason=case.trigger_reason,
        repeat_contact=case.is_repeat_contact,
        previous_case_id=case.previous_case_id,
        appended_messages=outcome.appended_messages,
        warnings=warnings,
        case_url=settings.HANDOFF_BASE_URL + path,
        api_url=settings.HANDOFF_BASE_URL + reverse("api-v1:case_read", args=[case.pk]),
    ).model_dump()


@api.post(
    "/handoffs",
    response={
        200: HandoffAccepted,
        201: HandoffAccepted,
        401: Problem,
        403: Problem,
        409: Problem,
        413: Problem,
        422: Problem,
    },
    summary="Hand a conversation to the desk",
    description=(
        "201 with a new case; 200 when the conversation's open case was updated. With an "
        "`Idempotency-Key` header, a retry with the same body replays the first answer."
    ),
)
def handoff_create(
    request: HttpRequest,
    package: HandoffPackage,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> HttpResponse:
    integration: Integration = request.auth  # type: ignore[attr-defined]
    warnings = [f"unknown field ignored: {path}" for path in package.unknown_fields()]
    record = None
    if idempotency_key:
        if len(idempotency_key) > 255:
            return problem(
                422,
                "Idempotency-Key is longer than 255 characters.",
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "too long"}],
            )
        try:
            claim = idempotency.idempotency_claim(
                integration=integration,
                key=idempotency_key,
                fingerprint=idempotency.request_fingerprint(json.loads(request.body)),
            )
        except idempotency.IdempotencyKeyReused:
            return problem(
                422,
                "This Idempotency-Key was used with a different request body.",
                slug="idempotency-key-reused",
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused with other body"}],
            )
        except idempotency.IdempotencyKeyInFlight:
            return problem(
                409,
                "A request with this Idempotency-Key is still being processed; retry later.",
                slug="idempotency-key-in-flight",
            )
        if isinstance(claim, idempotency.Replay):
            return _json(claim.status, claim.body, Idempotent_Replayed="true")
        record = claim
    answer: dict[str, Any] = {}

    def remember_answer(outcome: services.HandoffOutcome) -> None:
        # In the handoff's own transaction: the case and the replayable answer commit together.
        body = _handoff_body(outcome, warnings)
        answer["status"] = 201 if outcome.created else 200
        answer["body"] = json.dumps(body)
        answer["location"] = body["api_url"]
        if record is not None:
            idempotency.idempotency_complete(
                record=record, status=answer["status"], body=answer["body"]
            )

    try:
        services.handoff_receive(
            integration=integration, package=package, on_stored=remember_answer
        )
    except BaseException:
        if record is not None:
            idempotency.idempotency_release(record=record)
        raise
    return _json(answer["status"], answer["body"], Location=answer["location"])


# --- cases ----------------------------------------------------------------------------------


class MessageOut(Schema):
    id: int
    seq: int
    external_id: str
    role: str
    text: str
    sent_at: datetime
    phase: str


class CaseOut(Schema):
    case_id: int
    external_id: str
    status: str
    queue: str
    priority: str
    position: int | None
    assignee: str | None
    detected_intent: str
    current_intent: str
    trigger_reason: str
    risk_flags: list[str]
    missing_context: list[str]
    repeat_contact: bool
    previous_case_id: int | None
    handed_off_at: datetime
    first_claimed_at: datetime | None
    first_human_reply_at: datetime | None
    resolved_at: datetime | None
    resolution_code: str
    version: int
    messages: list[MessageOut]
    case_url: str


def _case_body(case: Case) -> dict[str, Any]:
    return CaseOut(
        case_id=case.pk,
        external_id=case.external_id,
        status=case.status,
        queue=case.queue.slug,
        priority=PRIORITY_NAMES.get(case.priority, str(case.priority)),
        position=queue_position(case),
        assignee=case.assignee_name or None,
        detected_intent=case.detected_intent,
        current_intent=case.current_intent,
        trigger_reason=case.trigger_reason,
        risk_flags=case.risk_flags,
        missing_context=case.missing_context,
        repeat_contact=case.is_repeat_contact,
        previous_case_id=case.previous_case_id,
        handed_off_at=case.handed_off_at,
        first_claimed_at=case.first_claimed_at,
        first_human_reply_at=case.first_human_reply_at,
        resolved_at=case.resolved_at,
        resolution_code=case.resolution_code,
        version=case.version,
        messages=[
            MessageOut(
                id=m.pk,
                seq=m.seq,
                external_id=m.external_id,
                role=m.role,
                text=m.text,
                sent_at=m.sent_at,
                phase=m.phase,
            )
            for m in case_customer_visible_messages(case)
        ],
        case_url=settings.HANDOFF_BASE_URL + reverse("cases:detail", args=[case.pk]),
    ).model_dump(mode="json")


@api.get(
    "/cases/{case_id}",
    response={200: CaseOut, 401: Problem, 404: Problem},
    url_name="case_read",
    summary="Read a case (this integration's cases only)",
)
def case_read(request: HttpRequest, case_id: int) -> HttpResponse:
    case = integration_case(request.auth, case_id)  # type: ignore[attr-defined]
    return _json(200, _case_body(case))


class MessageAccepted(Schema):
    message_id: int
    case_id: int
    duplicate: bool
    case_version: int


@api.post(
    "/cases/{case_id}/messages",
    response={
        200: MessageAccepted,
        201: MessageAccepted,
        401: Problem,
        404: Problem,
        409: Problem,
        422: Problem,
    },
    summary="A customer message that arrived after the handoff",
)
def case_message_create(
    request: HttpRequest, case_id: int, message: CustomerMessageIn
) -> HttpResponse:
    case = integration_case(request.auth, case_id)  # type: ignore[attr-defined]
    try:
        stored, created = services.case_customer_message_add(
            case_id=case.pk, text=message.text, external_id=message.id, sent_at=message.at
        )
    except services.CaseClosed:
        return problem(
            409,
            "The case is resolved; send a new handoff to reopen the conversation.",
            slug="case-resolved",
        )
    body = MessageAccepted(
        message_id=stored.pk,
        case_id=case.pk,
        duplicate=not created,
        case_version=stored.case.version,
    ).model_dump()
    return _json(201 if created else 200, body)


class CsatAccepted(Schema):
    case_id: int
    score: int
    replaced: bool


@api.post(
    "/cases/{case_id}/csat",
    response={200: CsatAccepted, 201: CsatAccepted, 401: Problem, 404: Problem, 422: Problem},
    summary="The customer's satisfaction rating (1 to 5) after the conversation",
)
def case_csat_create(request: HttpRequest, case_id: int, rating: CsatIn) -> HttpResponse:
    case = integration_case(request.auth, case_id)  # type: ignore[attr-defined]
    csat, created = services.case_csat_record(
        case_id=case.pk, score=rating.score, comment=rating.comment
    )
    body = CsatAccepted(case_id=case.pk, score=csat.score, replaced=not created).model_dump()
    return _json(201 if created else 200, body)


@api.get(
    "/intent-corrections",
    response={200: None, 401: Problem},
    summary="This integration's intent corrections as JSONL, for retraining its classifier",
    description="Query: `from` and `to` (YYYY-MM-DD, default the last 30 days).",
)
def intent_corrections(request: HttpRequest) -> StreamingHttpResponse:
    integration: Integration = request.auth  # type: ignore[attr-defined]
    start, end = metrics.period_from(request.GET, timezone.localdate())
    filters = metrics.Filters(start=start, end=end, integration_id=integration.pk)
    return StreamingHttpResponse(
        (json.dumps(record, ensure_ascii=False) + "\n" for record in metrics.corrections(filters)),
        content_type="application/x-ndjson",
    )
