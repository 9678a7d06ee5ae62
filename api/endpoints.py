"""The JSON API for bot platforms (django-ninja): ``/api/v1/``, schema at ``openapi.json``.

Endpoints validate, authenticate and call services; nothing here writes a row itself.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Header, NinjaAPI, Path, Query
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from api.adapters.router import router as adapters_router
from api.problems import problem
from api.receiving import handoff_receive_over_http, json_response
from api.schemas import (
    AssessAnswer,
    AttachmentOut,
    CaseOut,
    CsatAccepted,
    HandoffAccepted,
    MessageAccepted,
    MessageOut,
    Problem,
)
from cases import risk
from cases.metrics import figures as metrics
from cases.models import Case, Integration
from cases.package import (
    FREE_JSON_SCHEMAS,
    KEYS,
    MAX_ID,
    ConversationSoFar,
    CsatIn,
    CustomerMessageIn,
    Day,
    HandoffPackage,
)
from cases.selectors import (
    case_customer_visible_messages,
    case_return,
    integration_case,
    queue_position,
)
from cases.services import intake as services
from cases.services import integrations
from cases.services.ownership import CONVERSATION_HELD, ConversationHeldByAgent
from queues.routing import PRIORITY_NAMES


class IntegrationDisabled(Exception):
    pass


def integration_by_key(raw_key: str) -> Integration | None:
    """The integration whose API key this is, if any (the key's hash is indexed).

    Plain ORM: a hand-built statement saved 0.3-0.45 ms of a handoff's ~13 ms of server CPU
    (bench/README.md), under the 10% a hand-written speed-up must earn to stay.
    """
    if not raw_key:
        return None
    return Integration.objects.filter(key_hash=integrations.hash_api_key(raw_key)).first()


class IntegrationKey(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Integration | None:
        integration = integration_by_key(token)
        if integration is not None and not integration.is_active:
            raise IntegrationDisabled(integration.name)
        return integration


class DeskApi(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        """ninja declares every answer as application/json; ours are problem documents."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        # Unknown fields and customer.account hold any JSON the database can store.
        schemas = schema["components"]["schemas"]
        free = {"$ref": "#/components/schemas/FreeJson"}
        for body in schemas.values():
            if body.get("additionalProperties") is True:
                body["additionalProperties"] = free
                body["propertyNames"] = KEYS["propertyNames"]
        schemas["CustomerIn"]["properties"]["account"]["additionalProperties"] = free
        schemas.update(FREE_JSON_SCHEMAS)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, answer in operation.get("responses", {}).items():
                    content = answer.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        answer["content"] = {
                            "application/problem+json": content["application/json"]
                        }
        return schema


api = DeskApi(
    title="Handoff Desk API",
    version="1",
    description=(
        "Bot platforms hand conversations to humans here. Authenticate with "
        "`Authorization: Bearer <integration key>`. Errors are RFC 9457 problem details "
        "(`application/problem+json`), a 500 included. Text may not contain NUL (U+0000), "
        "numbers must be finite, times are RFC 3339 from 2000 to 2099 with an offset from "
        "-12:00 to +14:00, free-form JSON (`customer.account`, unknown fields) nests at most "
        "10 levels; anything else is a 422 naming the field."
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
        if isinstance(exc.__cause__, RecursionError):
            # json.loads gives up near 1,000 levels, long before the body limit does.
            detail = "The request body is nested too deeply to read."
    return problem(exc.status_code, detail)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem(404, "No such case for this integration.", slug="not-found")


# Every answer an operation can give besides its own: declared so generated clients know them.
AUTH_ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 422: Problem, 500: Problem}
BODY_ERRORS: dict[int, type[Problem]] = {**AUTH_ERRORS, 400: Problem, 413: Problem}

CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="The case's id, as answered")]


_json = json_response


# --- handoffs -------------------------------------------------------------------------------


@api.post(
    "/handoffs",
    response={200: HandoffAccepted, 201: HandoffAccepted, 409: Problem, **BODY_ERRORS},
    summary="Hand a conversation to the desk",
    description=(
        "201 with a new case; 200 when the conversation's open case was updated. With an "
        "`Idempotency-Key` header, a retry with the same body replays the first answer."
    ),
)
def handoff_create(
    request: HttpRequest,
    package: HandoffPackage,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=255),
) -> HttpResponse:
    integration: Integration = request.auth  # type: ignore[attr-defined]
    return handoff_receive_over_http(
        integration=integration,
        package=package,
        request_data=json.loads(request.body) if idempotency_key else None,
        idempotency_key=idempotency_key,
        warnings=[f"unknown field ignored: {path}" for path in package.unknown_fields()],
    )


# --- escalation advice ----------------------------------------------------------------------


@api.post(
    "/assess",
    response={200: AssessAnswer, **BODY_ERRORS},
    summary="Should this conversation go to a person now?",
    description=(
        "Call it after each customer message. `score` is the learned probability that the "
        "customer needs a person now (it ranks conversations); `escalate` is the published "
        "escalation policy's decision, with each signal's evidence in `reasons`, and "
        "`first_risk_message_id` the message after which it would first have handed off. "
        "Nothing is stored."
    ),
)
def assess(request: HttpRequest, conversation: ConversationSoFar) -> HttpResponse:
    warnings = [f"unknown field ignored: {path}" for path in conversation.unknown_fields()]
    said = risk.assess_package(conversation)
    return _json(200, said.as_dict() | {"warnings": warnings})


# --- cases ----------------------------------------------------------------------------------


def _case_body(case: Case) -> dict[str, Any]:
    returned = case_return(case.pk) if case.status == Case.Status.RETURNED else None
    return CaseOut(
        case_id=case.pk,
        external_id=case.external_id,
        status=case.status,
        queue=case.queue.slug,
        priority=PRIORITY_NAMES.get(case.priority, str(case.priority)),
        position=queue_position(case),
        assignee=case.assignee_name or None,
        holder=case.holder,
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
        returned_at=case.returned_at,
        return_note=returned.note if returned else None,
        resume_intent=(returned.intent or None) if returned else None,
        bounce_back=case.is_bounce_back,
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
                attachments=[
                    AttachmentOut(
                        name=a.name,
                        content_type=a.content_type,
                        size=a.size,
                        url=a.url or None,
                        stored=a.stored,
                    )
                    for a in m.attachments.all()
                ],
            )
            for m in case_customer_visible_messages(case)
        ],
        case_url=settings.HANDOFF_BASE_URL + reverse("cases:detail", args=[case.pk]),
    ).model_dump(mode="json")


@api.get(
    "/cases/{case_id}",
    response={200: CaseOut, 404: Problem, **AUTH_ERRORS},
    url_name="case_read",
    summary="Read a case (this integration's cases only)",
)
def case_read(request: HttpRequest, case_id: CaseId) -> HttpResponse:
    case = integration_case(request.auth, case_id)  # type: ignore[attr-defined]
    return _json(200, _case_body(case))


@api.post(
    "/cases/{case_id}/messages",
    response={
        200: MessageAccepted,
        201: MessageAccepted,
        404: Problem,
        409: Problem,
        **BODY_ERRORS,
    },
    summary="A customer message (or the bot's own) that arrived after the handoff",
    description=(
        "`role` is `customer` (the default) or `bot`. A message is text, `attachments` or "
        "both, with the limits and allow-list of the handoff's transcript messages. One owner "
        "at a time: while a person holds the conversation (from the claim until the case is "
        "released, returned to the bot or resolved; the desk sends "
        "`conversation.holder_changed`), a bot's message is a 409 problem of type "
        "`.../conversation_held_by_agent`, and nothing is stored."
    ),
)
def case_message_create(
    request: HttpRequest, case_id: CaseId, message: CustomerMessageIn
) -> HttpResponse:
    case = integration_case(request.auth, case_id)  # type: ignore[attr-defined]
    try:
        stored, created = services.case_customer_message_add(
            case_id=case.pk,
            text=message.text,
            external_id=message.id,
            sent_at=message.at,
            role=message.role,
            attachments=message.attachments,
        )
    except services.CaseClosed:
        if case.status == Case.Status.RETURNED:
            return problem(
                409,
                "The case was returned to the bot; send a new handoff to bring the "
                "conversation back to a person.",
                slug="case-returned",
            )
        return problem(
            409,
            "The case is resolved; send a new handoff to reopen the conversation.",
            slug="case-resolved",
        )
    except ConversationHeldByAgent as held:
        return problem(
            409,
            str(held),
            slug=CONVERSATION_HELD,
            title="Conversation held by an agent",
        )
    body = MessageAccepted(
        message_id=stored.pk,
        case_id=case.pk,
        duplicate=not created,
        case_version=stored.case.version,
    ).model_dump()
    return _json(201 if created else 200, body)


@api.post(
    "/cases/{case_id}/csat",
    response={200: CsatAccepted, 201: CsatAccepted, 404: Problem, **BODY_ERRORS},
    summary="The customer's satisfaction rating (1 to 5) after the conversation",
)
def case_csat_create(request: HttpRequest, case_id: CaseId, rating: CsatIn) -> HttpResponse:
    case = integration_case(request.auth, case_id)  # type: ignore[attr-defined]
    csat, created = services.case_csat_record(
        case_id=case.pk, score=rating.score, comment=rating.comment
    )
    body = CsatAccepted(case_id=case.pk, score=csat.score, replaced=not created).model_dump()
    return _json(201 if created else 200, body)


@api.get(
    "/intent-corrections",
    response=AUTH_ERRORS,
    summary="This integration's intent corrections as JSONL, for retraining its classifier",
    description="`from` and `to` (YYYY-MM-DD, both included): by default the 30 days to today.",
    openapi_extra={
        "responses": {
            "200": {
                "description": "One JSON object a line",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }
        }
    },
)
def intent_corrections(
    request: HttpRequest,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
) -> StreamingHttpResponse:
    integration: Integration = request.auth  # type: ignore[attr-defined]
    # Bounded days (Day): a period ending 9999-12-31 overflowed once the stream had begun.
    end = end or timezone.localdate()
    start = min(start or end - timedelta(days=29), end)
    filters = metrics.Filters(start=start, end=end, integration_id=integration.pk)
    return StreamingHttpResponse(
        (json.dumps(record, ensure_ascii=False) + "\n" for record in metrics.corrections(filters)),
        content_type="application/x-ndjson",
    )


# --- bot platforms' own formats (api/adapters/) ----------------------------------------------

api.add_router("/adapters", adapters_router)
