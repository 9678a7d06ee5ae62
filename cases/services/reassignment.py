"""Moving cases between queues and agents: one case, or a supervisor's selection at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from cases.callbacks.outbox import delivery_record
from cases.live.events import publish_case
from cases.models import Case, person_name
from cases.services.agent_work import CaseActionError, assign_case, locked_case, require_open
from cases.services.assignment import (
    agent_assignment_on_commit,
    assignment_on_commit,
    pending_offers_withdraw,
)
from cases.services.audit import record_event
from cases.services.ownership import holder_changed, holder_sync
from cases.services.queue_updates import queue_changed_on_commit
from queues.models import Membership, Queue


@transaction.atomic
def case_reassign(
    *,
    case_id: int,
    supervisor: Any,
    queue: Any = None,
    agent: Any = None,
    reason: str,
    expected_version: int | None = None,
) -> Case:
    """Move a case to another queue and/or agent. The queue its rule chose stays recorded
    (``routed_queue``), so a reassignment away from it counts as a misroute for that rule."""
    reason = reason.strip()
    if not supervisor.has_perm("cases.reassign_case"):
        raise CaseActionError("Only supervisors and admins reassign cases.")
    if not reason:
        raise CaseActionError("Say why the case is reassigned.")
    if queue is None and agent is None:
        raise CaseActionError("Pick a queue or an agent.")
    case = locked_case(case_id, expected_version)
    require_open(case)
    before = {"queue": case.queue_id, "assignee": case.assignee_id}
    old_queue_id = case.queue_id
    fields: list[str] = []
    if queue is not None and queue.pk != case.queue_id:
        case.queue = queue
        fields.append("queue")
    target_queue_id = case.queue_id
    if agent is not None:
        if not Membership.objects.filter(agent=agent, queue_id=target_queue_id).exists():
            raise CaseActionError(f"{person_name(agent)} is not in that queue.")
        fields += assign_case(case, agent)
    elif "queue" in fields:
        # A new queue without a named agent: the case waits there for its agents.
        pending_offers_withdraw(case, reason="reassigned")
        case.assignee, case.status = None, Case.Status.WAITING
        fields += ["assignee", "status"]
        assignment_on_commit(case.queue)
    if before["assignee"] is not None and before["assignee"] != case.assignee_id:
        agent_assignment_on_commit(before["assignee"])  # the previous agent has room
    if not fields:
        raise CaseActionError("The case is already there.")
    holder_fields, change = holder_sync(case)
    case.version += 1
    case.save(update_fields=[*dict.fromkeys([*fields, *holder_fields]), "version", "updated_at"])
    if change is not None:  # before the reassignment's event: a resync names the reassignment
        holder_changed(case, change, actor=supervisor, reason="reassigned")
    event = record_event(
        case,
        kind="reassigned",
        actor=supervisor,
        data={
            "before": before,
            "after": {"queue": case.queue_id, "assignee": case.assignee_id},
            "reason": reason,
            "rule": case.routing_rule,
        },
    )
    delivery_record(case, "case.reassigned", {"queue": case.queue.slug})
    queue_changed_on_commit(old_queue_id, case.queue_id)
    publish_case(
        case,
        "case.reassigned",
        cursor=event.pk,
        actor=person_name(supervisor),
        also_queue_ids=(old_queue_id,),
    )
    return case


@dataclass(frozen=True)
class ReassignOutcome:
    """What a bulk reassignment did: how many moved, and each case that did not, named."""

    moved: int
    refused: list[tuple[int, str, str]]  # case id, customer name, why not

    @property
    def summary(self) -> str:
        return f"{self.moved} case{'s' if self.moved != 1 else ''} reassigned"


def reassign_many(
    *, case_ids: list[int], supervisor: User, queue: Queue | None, agent: User | None, reason: str
) -> ReassignOutcome:
    """Reassign each case in its own transaction, so one refusal (a case resolved meanwhile, an
    agent outside the queue) stops no other; ``case_reassign`` checks, records and publishes."""
    moved, refused = 0, []
    for case_id in case_ids:
        try:
            case_reassign(
                case_id=case_id, supervisor=supervisor, queue=queue, agent=agent, reason=reason
            )
            moved += 1
        except CaseActionError as problem:
            refused.append((case_id, str(problem)))
    names = dict(
        Case.objects.filter(pk__in=[case_id for case_id, _ in refused]).values_list(
            "pk", "customer_name"
        )
    )
    return ReassignOutcome(moved, [(pk, names.get(pk, ""), why) for pk, why in refused])
