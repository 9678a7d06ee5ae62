"""Writes to queues, memberships and rule sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cases.events import publish_access_changed
from queues.models import Membership, Queue, RoutingRule, RuleSet


def queue_ensure(*, slug: str, **fields: Any) -> Queue:
    """Create the queue or bring its fields up to date (seeding and imports)."""
    queue, created = Queue.objects.get_or_create(slug=slug, defaults=fields)
    if not created:
        for name, value in fields.items():
            setattr(queue, name, value)
        queue.save(update_fields=list(fields))
    return queue


@transaction.atomic
def membership_ensure(*, agent: Any, queue: Queue, capacity: int = 5) -> Membership:
    membership, created = Membership.objects.update_or_create(
        agent=agent, queue=queue, defaults={"capacity": capacity}
    )
    if created:
        publish_access_changed(agent.pk)
    return membership


@transaction.atomic
def membership_remove(*, agent: Any, queue: Queue) -> bool:
    """Take the agent out of the queue; their open pages stop receiving it at once."""
    deleted, _ = Membership.objects.filter(agent=agent, queue=queue).delete()
    if deleted:
        publish_access_changed(agent.pk)
    return bool(deleted)


@transaction.atomic
def rule_set_create_draft(*, rules: Sequence[dict[str, Any]], author: Any = None) -> RuleSet:
    """A new draft rule set from plain rule dicts (name, conditions, queue slug, ...)."""
    next_version = (RuleSet.objects.aggregate(top=Max("version"))["top"] or 0) + 1
    ruleset = RuleSet.objects.create(version=next_version, created_by=author)
    queues = {queue.slug: queue for queue in Queue.objects.all()}
    RoutingRule.objects.bulk_create(
        RoutingRule(
            ruleset=ruleset,
            position=position,
            name=rule["name"],
            conditions=rule["conditions"],
            queue=queues[rule["queue"]],
            priority=rule.get("priority"),
            sla_seconds=rule.get("sla_seconds"),
            enabled=rule.get("enabled", True),
        )
        for position, rule in enumerate(rules, start=1)
    )
    return ruleset


@transaction.atomic
def rule_set_publish(*, ruleset: RuleSet, publisher: Any = None, note: str = "") -> RuleSet:
    """Publish a draft; the previously published set is archived (kept for rollback)."""
    RuleSet.objects.select_for_update().filter(status=RuleSet.Status.PUBLISHED).update(
        status=RuleSet.Status.ARCHIVED
    )
    ruleset.status = RuleSet.Status.PUBLISHED
    ruleset.published_by = publisher
    ruleset.published_at = timezone.now()
    ruleset.note = note
    ruleset.save(update_fields=["status", "published_by", "published_at", "note"])
    return ruleset
