"""Row locks in one place, taken in a fixed order: a case before its messages, cases by pk."""

from __future__ import annotations

from collections.abc import Iterable

from cases.models import Case


def lock_case(case_id: int) -> Case:
    return Case.objects.select_for_update().select_related("queue", "integration").get(pk=case_id)


def lock_cases(case_ids: Iterable[int]) -> list[Case]:
    return list(Case.objects.select_for_update().filter(pk__in=set(case_ids)).order_by("pk"))


def lock_open_conversation(integration_id: int, external_id: str) -> Case | None:
    return (
        Case.objects.select_for_update()
        .select_related("queue")
        .filter(integration_id=integration_id, external_id=external_id)
        .exclude(status=Case.Status.RESOLVED)
        .first()
    )
