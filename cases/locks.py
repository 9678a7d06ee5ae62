"""Row locks in one place, taken in a fixed order: a case before its messages, cases by pk.

Joined rows are read, never locked (``of=("self",)``): a FOR UPDATE on the queue or the
integration would serialise every action of a queue and block every intake that inserts a
case pointing at them (PostgreSQL takes FOR KEY SHARE on a referenced row).
"""

from __future__ import annotations

from django.db import connection
from django.db.models.expressions import RawSQL

from cases.models import CLOSED, Case

# How many of the most urgent waiting cases take-next considers before it reads a whole queue:
# more than the claims that can hold one locked at once (one per open transaction).
NEXT_CANDIDATES = 100

# On PostgreSQL, the most urgent waiting cases of each queue, read from the queue's ordered
# index: `queue_id IN (...) ORDER BY priority ...` over several queues reads and sorts every
# waiting case of them (~12 ms at 4,000 waiting), while each branch here stops after a few
# index entries. Unlocked: the lock and the status re-check come from the outer query.
_CANDIDATES_SQL = """
SELECT top.id FROM unnest(%s::bigint[]) AS member(queue_id)
CROSS JOIN LATERAL (
    SELECT c.id, c.priority, c.sla_due_at FROM {table} c
    WHERE c.queue_id = member.queue_id AND c.status = %s
    ORDER BY c.priority DESC, c.sla_due_at, c.id
    LIMIT %s
) AS top
ORDER BY top.priority DESC, top.sla_due_at, top.id
LIMIT %s
"""


def lock_case(case_id: int) -> Case:
    # The assignee is joined for the loser's "X has already claimed this case" and for the
    # live event's assignee name, which would otherwise each cost a query.
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("queue", "integration", "assignee")
        .get(pk=case_id)
    )


def lock_next_waiting(queue_ids: list[int]) -> Case | None:
    """Lock the most urgent waiting case of these queues that no other transaction holds
    (``SKIP LOCKED``): concurrent callers each get a different case, never the same one."""
    waiting = (
        Case.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("queue", "integration")  # a waiting case has no assignee
        .filter(status=Case.Status.WAITING)
        .order_by("-priority", "sla_due_at", "pk")
    )
    if connection.vendor == "postgresql":
        sql = _CANDIDATES_SQL.format(table=connection.ops.quote_name(Case._meta.db_table))
        params = (queue_ids, Case.Status.WAITING, NEXT_CANDIDATES, NEXT_CANDIDATES)
        candidates = RawSQL(sql, params)  # noqa: S611 - our constant text, values bound
        case = waiting.filter(pk__in=candidates).first()
        if case is not None:
            return case
        # Every candidate taken or locked by someone else (or the queues are empty): the
        # whole queues decide.
    return waiting.filter(queue_id__in=queue_ids).first()


def lock_open_conversation(integration_id: int, external_id: str) -> Case | None:
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("queue")
        .filter(integration_id=integration_id, external_id=external_id)
        .exclude(status__in=CLOSED)
        .first()
    )
