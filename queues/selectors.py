from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from queues.models import Queue, RoutingRule, RuleSet
from queues.routing import CompiledRules, RuleSpec


@dataclass(frozen=True)
class PublishedRules:
    version: int | None
    rules: tuple[RuleSpec, ...]
    compiled: CompiledRules


# The published rule set compiled once per process. Reading which set is published is one indexed
# query, so a publish in any process is seen by every other on its next handoff. The key carries
# the publication time as well as the id: a database emptied and filled again (tests, a demo
# reset on SQLite) hands the same ids out again.
_compiled: tuple[tuple[int, datetime | None], PublishedRules] | None = None


def published_rules() -> PublishedRules:
    global _compiled
    current = (
        RuleSet.objects.filter(status=RuleSet.Status.PUBLISHED)
        .values_list("id", "version", "published_at")
        .first()
    )
    if current is None:
        return PublishedRules(None, (), CompiledRules.of(()))
    ruleset_id, version, published_at = current
    key = (ruleset_id, published_at)
    if _compiled is not None and _compiled[0] == key:
        return _compiled[1]
    rules = tuple(
        RuleSpec(
            name=rule.name,
            conditions=rule.conditions,
            queue=rule.queue.slug,
            priority=rule.priority,
            sla_seconds=rule.sla_seconds,
            enabled=rule.enabled,
        )
        for rule in RoutingRule.objects.filter(ruleset_id=ruleset_id)
        .select_related("queue")
        .order_by("position")
    )
    published = PublishedRules(version, rules, CompiledRules.of(rules))
    _compiled = (key, published)
    return published


def active_queues() -> list[Queue]:
    """Every active queue: a handful of rows, read once per handoff."""
    return list(Queue.objects.filter(is_active=True))


def default_queue(queues: list[Queue] | None = None) -> Queue:
    """Where unmatched handoffs go: the default queue, else the oldest active one."""
    queues = active_queues() if queues is None else queues
    queue = next((q for q in queues if q.is_default), None) or min(
        queues, key=lambda q: q.pk, default=None
    )
    if queue is None:
        # A desk with no queue at all still accepts handoffs; it makes the one it needs.
        queue, _ = Queue.objects.get_or_create(
            slug="general", defaults={"name": "General", "is_default": True}
        )
    return queue
