"""Receiving a handoff over HTTP: the Idempotency-Key, the intake service, the answer.

Shared by the desk's own ``POST /handoffs`` and the bot platforms' adapters
(``api/adapters/``), so a platform's handoff gets the same idempotency and the same intake as
the desk's own package; only the answer's shape differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse

from api import idempotency
from api.problems import problem
from api.schemas import HandoffAccepted
from cases.models import Integration
from cases.package import HandoffPackage
from cases.services import intake as services
from queues.routing import PRIORITY_NAMES


def json_response(status: int, body: dict[str, Any] | str, **headers: str) -> HttpResponse:
    content = body if isinstance(body, str) else json.dumps(body)
    response = HttpResponse(content, status=status, content_type="application/json")
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def handoff_body(outcome: services.HandoffOutcome, warnings: list[str]) -> dict[str, Any]:
    """The desk's own answer to a handoff (``HandoffAccepted``)."""
    case = outcome.case
    path = reverse("cases:detail", args=[case.pk])
    away = outcome.away
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
        team_away=away.reason if away else None,
        team_back_at=away.back_at if away else None,
        missing_context=case.missing_context,
        risk_flags=case.risk_flags,
        trigger_reason=case.trigger_reason,
        repeat_contact=case.is_repeat_contact,
        previous_case_id=case.previous_case_id,
        appended_messages=outcome.appended_messages,
        warnings=[*warnings, *outcome.warnings],
        case_url=settings.HANDOFF_BASE_URL + path,
        api_url=settings.HANDOFF_BASE_URL + reverse("api-v1:case_read", args=[case.pk]),
    ).model_dump(mode="json")


# What an endpoint answers once the handoff is stored: the status and the body, from the desk's
# own answer (``handoff_body``) and the outcome.
Answer = Callable[[services.HandoffOutcome, dict[str, Any]], dict[str, Any]]


def _desk_answer(outcome: services.HandoffOutcome, desk: dict[str, Any]) -> dict[str, Any]:
    return desk


def handoff_receive_over_http(
    *,
    integration: Integration,
    package: HandoffPackage,
    request_data: Any,
    idempotency_key: str | None,
    warnings: list[str],
    answer: Answer = _desk_answer,
    format_gaps: Sequence[str] = (),
) -> HttpResponse:
    """Claim the Idempotency-Key (if any), store the handoff, answer (and remember the answer).

    ``request_data`` is the parsed body the key's fingerprint is taken of. The answer is
    written in the handoff's own transaction, so a replay returns exactly the first answer.
    """
    record = None
    if idempotency_key:
        try:
            claim = idempotency.idempotency_claim(
                integration=integration,
                key=idempotency_key,
                fingerprint=idempotency.request_fingerprint(request_data),
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
            return json_response(claim.status, claim.body, Idempotent_Replayed="true")
        record = claim
    stored: dict[str, Any] = {}

    def remember_answer(outcome: services.HandoffOutcome) -> None:
        # In the handoff's own transaction: the case and the replayable answer commit together.
        desk = handoff_body(outcome, warnings)
        stored["status"] = 201 if outcome.created else 200
        stored["body"] = json.dumps(answer(outcome, desk))
        stored["location"] = desk["api_url"]
        if record is not None:
            idempotency.idempotency_complete(
                record=record, status=stored["status"], body=stored["body"]
            )

    try:
        services.handoff_receive(
            integration=integration,
            package=package,
            on_stored=remember_answer,
            format_gaps=format_gaps,
        )
    except BaseException:
        if record is not None:
            idempotency.idempotency_release(record=record)
        raise
    return json_response(stored["status"], stored["body"], Location=stored["location"])
