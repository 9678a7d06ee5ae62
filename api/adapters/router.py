"""``POST /api/v1/adapters/<platform>/handoffs``: each bot platform's own handoff format.

Authenticated with the integration key like ``/handoffs`` and received by the same code
(api/receiving.py: the Idempotency-Key, the intake service), so routing, detectors, metrics
and the case page work unchanged. Without an ``Idempotency-Key`` header, the platform's own id
of the delivery (an activity or event id) is the key, so a platform's retry opens one case.
"""

from __future__ import annotations

import hashlib
import json
from types import ModuleType
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router

from api.adapters import botframework, botpress, dialogflow_cx, rasa, sunshine
from api.adapters.base import Mapped, Unmappable
from api.problems import problem
from api.receiving import handoff_receive_over_http, json_response
from api.schemas import Problem
from cases.models import Integration
from cases.services import intake as services

ADAPTERS: dict[str, ModuleType] = {
    module.PLATFORM: module for module in (botframework, dialogflow_cx, sunshine, botpress, rasa)
}

router = Router(tags=["bot platforms"])

ANSWERS: dict[int, Any] = {
    200: dict[str, Any],
    201: dict[str, Any],
    400: Problem,
    401: Problem,
    403: Problem,
    409: Problem,
    413: Problem,
    422: Problem,
    500: Problem,
}


def _scoped(platform: str, key: str) -> str:
    scoped = f"adapter:{platform}:{key}"
    if len(scoped) > 255:  # the column's width: a long key is kept by its hash
        scoped = f"adapter:{platform}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return scoped


def adapter_receive(
    request: HttpRequest, adapter: ModuleType, idempotency_key: str | None
) -> HttpResponse:
    integration: Integration = request.auth  # type: ignore[attr-defined]
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        return problem(400, "The request body is not valid JSON.")
    try:
        mapped: Mapped = adapter.handoff_map(body)
    except Unmappable as error:
        return problem(
            422,
            f"This is not a {adapter.TITLE} handoff the desk can take: {error}",
            slug=f"unmappable-{adapter.PLATFORM}",
            errors=error.errors,
        )

    def answer(outcome: services.HandoffOutcome, desk: dict[str, Any]) -> dict[str, Any]:
        answered: dict[str, Any] = adapter.handoff_answer(mapped, desk)
        return answered

    key = idempotency_key or mapped.event_id
    return handoff_receive_over_http(
        integration=integration,
        package=mapped.package,
        request_data=body,
        # Scoped to the adapter: one key may name different requests on different endpoints.
        idempotency_key=_scoped(adapter.PLATFORM, key) if key else None,
        warnings=[],
        answer=answer,
        format_gaps=mapped.gaps,
    )


def _endpoint(adapter: ModuleType) -> Any:
    # The Idempotency-Key header is read, not declared: platforms send their own event ids
    # (used as the key), and a declared header would be the one parameter they never send.
    def receive(request: HttpRequest) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 0 < len(key) <= 255:
            return problem(
                422,
                "The Idempotency-Key header must be 1 to 255 characters.",
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "1 to 255 characters"}],
            )
        return adapter_receive(request, adapter, key)

    receive.__name__ = f"adapter_{adapter.PLATFORM.replace('-', '_')}_handoff"
    return receive


for _adapter in ADAPTERS.values():
    router.post(
        f"/{_adapter.PLATFORM}/handoffs",
        response=ANSWERS,
        url_name=f"adapter_{_adapter.PLATFORM}",
        summary=f"Hand off in {_adapter.TITLE}'s own format",
        description=(_adapter.__doc__ or "").strip(),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _adapter.REQUEST_SCHEMA}},
            }
        },
    )(_endpoint(_adapter))


@router.post(
    "/botpress/stop-hitl",
    response={200: dict[str, Any], 400: Problem, 401: Problem, 403: Problem, 404: Problem,
              413: Problem, 422: Problem, 500: Problem},
    url_name="adapter_botpress_stop",
    summary=f"End a session in {botpress.STOP_TITLE}'s own format",
    description=(botpress.__doc__ or "").strip(),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": botpress.STOP_SCHEMA}},
        }
    },
)  # fmt: skip
def adapter_botpress_stop(request: HttpRequest) -> HttpResponse:
    integration: Integration = request.auth  # type: ignore[attr-defined]
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        return problem(400, "The request body is not valid JSON.")
    try:
        conversation_id = botpress.stop_map(body)
    except Unmappable as error:
        return problem(
            422,
            f"This is not a {botpress.STOP_TITLE} call the desk can take: {error}",
            slug="unmappable-botpress",
            errors=error.errors,
        )
    outcome = services.conversation_end_by_bot(
        integration=integration, external_id=conversation_id, action="stopHitl"
    )
    if outcome is None:
        return problem(
            404,
            f"No HITL session {conversation_id!r} was started with this integration.",
            slug="not-found",
            errors=[{"loc": ["body", "conversationId"], "msg": "no such HITL session"}],
        )
    case = outcome.case
    desk = {
        "case_id": case.pk,
        "status": case.status,
        "resolution": case.resolution_code or None,
        # False: it was already closed (a retry, or a person closed it first)
        "ended": outcome.ended,
    }
    return json_response(200, botpress.stop_answer(desk))
