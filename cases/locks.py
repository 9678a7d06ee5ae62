"""Row locks in one place, taken in a fixed order: a case before its messages, cases by pk.

Joined rows are read, never locked (``of=("self",)``): a FOR UPDATE on the queue or the
integration would serialise every action of a queue and block every intake that inserts a
case pointing at them (PostgreSQL takes FOR KEY SHARE on a referenced row).
"""

from __future__ import annotations

from collections.abc import Iterable

from cases.models import Case


def lock_case(case_id: int) -> Case:
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("queue", "integration")
        .get(pk=case_id)
    )


def lock_cases(case_ids: Iterable[int]) -> list[Case]:
    return list(Case.objects.select_for_update().filter(pk__in=set(case_ids)).order_by("pk"))


def lock_open_conversation(integration_id: int, external_id: str) -> Case | None:
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("queue")
        .filter(integration_id=integration_id, external_id=external_id)
        .exclude(status=Case.Status.RESOLVED)
        .first()
    )
