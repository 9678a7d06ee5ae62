"""The audit trail: one append-only event per change of a case, written by the services only."""

from __future__ import annotations

from typing import Any

from cases.models import Case, CaseEvent


def record_event(
    case: Case,
    *,
    kind: str,
    actor: Any = None,
    actor_label: str = "",
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor,
        actor_label=actor_label,
        data=data or {},
        case_version=case.version,
    )
