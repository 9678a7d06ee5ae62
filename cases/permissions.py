"""Who may see what (DESIGN section 9): agents their queues' cases, supervisors and admins all."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from cases.models import Case
from queues.models import Membership, Queue


def sees_all_queues(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm("queues.view_all_queues"))


def visible_queues(user: Any) -> QuerySet[Queue]:
    queues = Queue.objects.filter(is_active=True)
    if sees_all_queues(user):
        return queues
    return queues.filter(memberships__agent=user)


def visible_queue_ids(user: Any) -> set[int]:
    if sees_all_queues(user):
        return set(Queue.objects.values_list("pk", flat=True))
    return set(Membership.objects.filter(agent=user).values_list("queue_id", flat=True))


def visible_cases(user: Any) -> QuerySet[Case]:
    cases = Case.objects.all()
    if sees_all_queues(user):
        return cases
    return cases.filter(queue__memberships__agent=user)


def may_work_queue(user: Any, queue_id: int) -> bool:
    if sees_all_queues(user):
        return True
    return Membership.objects.filter(agent=user, queue_id=queue_id).exists()
