"""Writes to queues, memberships and rule sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from queues.hours import schedule_from
from queues.models import AssignmentMode, Membership, Queue, RoutingRule, RuleSet
from queues.routing import (
    RuleProblem,
    RuleSpec,
    condition_problems,
    describe,
    validate_rules,
)
from queues.signals import access_changed


def _access_changed(user_id: int) -> None:
    transaction.on_commit(lambda: access_changed.send(sender=Membership, user_id=user_id))


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
        _access_changed(agent.pk)
    return membership


def queue_assignment_set(
    *, queue: Queue, mode: str, offer_seconds: int, misses_before_away: int, reserved_slots: int
) -> Queue:
    """How the queue's cases find agents (pull or push) and the push mode's terms."""
    queue.assignment_mode = AssignmentMode(mode)
    queue.offer_seconds = offer_seconds
    queue.misses_before_away = misses_before_away
    queue.reserved_slots = reserved_slots
    queue.save(
        update_fields=["assignment_mode", "offer_seconds", "misses_before_away", "reserved_slots"]
    )
    return queue


@transaction.atomic
def membership_remove(*, agent: Any, queue: Queue) -> bool:
    """Take the agent out of the queue; their open pages stop receiving it at once."""
    deleted, _ = Membership.objects.filter(agent=agent, queue=queue).delete()
    if deleted:
        _access_changed(agent.pk)
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


# --- editing rule sets: every edit goes to a draft --------------------------------------------


class RuleSetConflict(Exception):
    """Someone else changed the draft since this page loaded it."""

    def __str__(self) -> str:
        return "Another admin changed this draft meanwhile; the page shows their version now."


class RuleSetInvalid(Exception):
    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.rule}: {p.message}" for p in problems))


def rule_specs(ruleset: RuleSet) -> list[RuleSpec]:
    return [
        RuleSpec(r.name, r.conditions, r.queue.slug, r.priority, r.sla_seconds, r.enabled)
        for r in ruleset.rules.select_related("queue").order_by("position")
    ]


def rule_set_problems(ruleset: RuleSet) -> list[RuleProblem]:
    slugs = set(Queue.objects.filter(is_active=True).values_list("slug", flat=True))
    return validate_rules(rule_specs(ruleset), slugs)


def _copy_rules(source: RuleSet | None, target: RuleSet) -> None:
    if source is None:
        return
    RoutingRule.objects.bulk_create(
        RoutingRule(
            ruleset=target,
            position=r.position,
            name=r.name,
            conditions=r.conditions,
            queue_id=r.queue_id,
            priority=r.priority,
            sla_seconds=r.sla_seconds,
            enabled=r.enabled,
        )
        for r in source.rules.order_by("position")
    )


def _next_version() -> int:
    return (RuleSet.objects.aggregate(top=Max("version"))["top"] or 0) + 1


@transaction.atomic
def rule_set_draft(*, author: Any) -> RuleSet:
    """The draft admins edit: the open one, or a new copy of the published set."""
    draft = RuleSet.objects.filter(status=RuleSet.Status.DRAFT).order_by("-version").first()
    if draft is not None:
        return draft
    published = RuleSet.objects.filter(status=RuleSet.Status.PUBLISHED).first()
    draft = RuleSet.objects.create(version=_next_version(), created_by=author)
    _copy_rules(published, draft)
    return draft


def _edit(ruleset_id: int, expected_edit_version: int) -> RuleSet:
    ruleset = RuleSet.objects.select_for_update().get(pk=ruleset_id)
    if ruleset.status != RuleSet.Status.DRAFT:
        raise RuleSetConflict
    if ruleset.edit_version != expected_edit_version:
        raise RuleSetConflict
    ruleset.edit_version += 1
    ruleset.save(update_fields=["edit_version"])
    return ruleset


@transaction.atomic
def rule_save(
    *,
    ruleset_id: int,
    expected_edit_version: int,
    rule_id: int | None,
    name: str,
    conditions: dict[str, Any],
    queue: Queue,
    priority: int | None,
    sla_seconds: int | None,
    enabled: bool,
) -> RoutingRule:
    """Add or change one rule of the draft; its conditions must make sense on their own."""
    problems = [RuleProblem(name, p) for p in condition_problems(conditions)]
    if not name.strip():
        problems.append(RuleProblem(name, "a rule needs a name"))
    if problems:
        raise RuleSetInvalid(problems)
    ruleset = _edit(ruleset_id, expected_edit_version)
    fields = {
        "name": name.strip(),
        "conditions": conditions,
        "queue": queue,
        "priority": priority,
        "sla_seconds": sla_seconds,
        "enabled": enabled,
    }
    if rule_id is None:
        last = ruleset.rules.aggregate(top=Max("position"))["top"] or 0
        return RoutingRule.objects.create(ruleset=ruleset, position=last + 1, **fields)
    rule = ruleset.rules.get(pk=rule_id)
    for key, value in fields.items():
        setattr(rule, key, value)
    rule.save()
    return rule


@transaction.atomic
def rule_delete(*, ruleset_id: int, expected_edit_version: int, rule_id: int) -> None:
    ruleset = _edit(ruleset_id, expected_edit_version)
    ruleset.rules.filter(pk=rule_id).delete()
    for position, rule in enumerate(ruleset.rules.order_by("position"), start=1):
        if rule.position != position:
            rule.position = position
            rule.save(update_fields=["position"])


@transaction.atomic
def rule_move(*, ruleset_id: int, expected_edit_version: int, rule_id: int, offset: int) -> None:
    """Move a rule one place up (-1) or down (+1)."""
    ruleset = _edit(ruleset_id, expected_edit_version)
    rule = ruleset.rules.get(pk=rule_id)
    other = ruleset.rules.filter(position=rule.position + offset).first()
    if other is None:
        return
    # Positions are unique per set: park one at 0 while they swap.
    old = rule.position
    rule.position = 0
    rule.save(update_fields=["position"])
    other.position, rule.position = old, old + offset
    other.save(update_fields=["position"])
    rule.save(update_fields=["position"])


@transaction.atomic
def rule_set_publish_draft(
    *, ruleset_id: int, publisher: Any, note: str, expected_edit_version: int | None = None
) -> RuleSet:
    """Validate, then publish; the set it replaces is kept for rollback. With the draft's
    version the publisher saw, a draft changed since is a conflict: nobody publishes rules
    they have not seen."""
    note = note.strip()
    ruleset = RuleSet.objects.select_for_update().get(pk=ruleset_id)
    if ruleset.status != RuleSet.Status.DRAFT:
        raise RuleSetConflict
    if expected_edit_version is not None and ruleset.edit_version != expected_edit_version:
        raise RuleSetConflict
    problems = rule_set_problems(ruleset)
    if not note:
        problems.append(RuleProblem("", "publishing needs a note: what changes and why"))
    if problems:
        raise RuleSetInvalid(problems)
    return rule_set_publish(ruleset=ruleset, publisher=publisher, note=note)


@transaction.atomic
def rule_set_rollback(*, version: int, publisher: Any, note: str = "") -> RuleSet:
    """Publish an earlier version again, as a new version (history only grows)."""
    source = RuleSet.objects.get(version=version)
    copy = RuleSet.objects.create(version=_next_version(), created_by=publisher)
    _copy_rules(source, copy)
    problems = rule_set_problems(copy)
    if problems:
        raise RuleSetInvalid(problems)
    return rule_set_publish(
        ruleset=copy, publisher=publisher, note=note or f"Rollback to version {version}"
    )


def rule_set_diff(old: RuleSet | None, new: RuleSet) -> list[tuple[str, str]]:
    """A readable diff between two versions: ("added" | "removed" | "changed" | "moved", what)."""
    before = {r.name: r for r in rule_specs(old)} if old else {}
    after = {r.name: r for r in rule_specs(new)}
    order_before = list(before)
    order_after = list(after)
    changes: list[tuple[str, str]] = []
    for name, rule in after.items():
        if name not in before:
            changes.append(("added", f"{name}: {describe(rule.conditions)} → {rule.queue}"))
        elif before[name] != rule:
            changes.append(
                (
                    "changed",
                    f"{name}: {describe(rule.conditions)} → {rule.queue}"
                    + ("" if rule.enabled else " (disabled)"),
                )
            )
    changes += [("removed", name) for name in before if name not in after]
    common_before = [n for n in order_before if n in after]
    common_after = [n for n in order_after if n in before]
    if common_before != common_after:
        changes.append(("moved", " → ".join(common_after)))
    return changes


# --- business hours ----------------------------------------------------------------------------


@transaction.atomic
def queue_hours_set(
    *,
    queue: Queue,
    time_zone: str,
    business_hours: list[dict[str, Any]],
    holidays: list[str],
    unstaffed_after_minutes: int | None,
) -> Queue:
    """Set the queue's business hours; ``ScheduleInvalid`` names what makes no sense. Cases
    already waiting keep their SLA deadline; new handoffs count the new hours."""
    schedule_from(time_zone, business_hours, holidays)
    queue.time_zone = time_zone
    queue.business_hours = business_hours
    queue.holidays = sorted(set(holidays))
    queue.unstaffed_after_minutes = unstaffed_after_minutes
    queue.save(update_fields=["time_zone", "business_hours", "holidays", "unstaffed_after_minutes"])
    return queue
