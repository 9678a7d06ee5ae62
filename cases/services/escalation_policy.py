"""The escalation policy's life, as routing rules have theirs: a draft, saved with a conflict
check, published with a note (the previous version is archived, never lost), rolled back by
publishing an old version's thresholds again."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cases.models import EscalationPolicy
from cases.risk import default_policy
from escalation.assess import Policy


class PolicyError(Exception):
    """A policy change that cannot be made; the message says why, for the page."""


def _next_version() -> int:
    return (EscalationPolicy.objects.aggregate(top=Max("version"))["top"] or 0) + 1


def policy_thresholds(policy: Policy) -> dict[str, Any]:
    """What is stored: every field but the version (the row carries it)."""
    return {key: value for key, value in policy.as_dict().items() if key != "version"}


@transaction.atomic
def policy_draft_start(*, author: Any) -> EscalationPolicy:
    """The open draft, or a new one from what is published (or the defaults)."""
    draft = EscalationPolicy.objects.select_for_update().filter(status="draft").first()
    if draft is not None:
        return draft
    published = EscalationPolicy.objects.filter(status="published").first()
    thresholds = published.thresholds if published else policy_thresholds(default_policy())
    return EscalationPolicy.objects.create(
        version=_next_version(), thresholds=thresholds, created_by=author
    )


def _locked_draft(draft_id: int, expected_edit_version: int) -> EscalationPolicy:
    draft = EscalationPolicy.objects.select_for_update().filter(pk=draft_id).first()
    if draft is None or draft.status != EscalationPolicy.Status.DRAFT:
        raise PolicyError("This draft was published or discarded meanwhile: start a new one.")
    if draft.edit_version != expected_edit_version:
        raise PolicyError(
            "Someone else saved this draft meanwhile: reload to see their change, then edit."
        )
    return draft


@transaction.atomic
def policy_draft_save(
    *, draft_id: int, expected_edit_version: int, thresholds: dict[str, Any]
) -> EscalationPolicy:
    draft = _locked_draft(draft_id, expected_edit_version)
    draft.thresholds = policy_thresholds(Policy.from_dict(thresholds))
    draft.edit_version += 1
    draft.save(update_fields=["thresholds", "edit_version"])
    return draft


def _publish(policy: EscalationPolicy, *, publisher: Any, note: str) -> EscalationPolicy:
    EscalationPolicy.objects.filter(status=EscalationPolicy.Status.PUBLISHED).update(
        status=EscalationPolicy.Status.ARCHIVED
    )
    policy.status = EscalationPolicy.Status.PUBLISHED
    policy.published_by, policy.published_at, policy.note = publisher, timezone.now(), note
    policy.save(update_fields=["status", "published_by", "published_at", "note"])
    return policy


@transaction.atomic
def policy_publish(
    *, draft_id: int, expected_edit_version: int, publisher: Any, note: str
) -> EscalationPolicy:
    if not note.strip():
        raise PolicyError("Say what changed and why: the note is kept with the version.")
    draft = _locked_draft(draft_id, expected_edit_version)
    return _publish(draft, publisher=publisher, note=note.strip())


@transaction.atomic
def policy_rollback(*, version: int, publisher: Any, note: str = "") -> EscalationPolicy:
    """Publish an earlier version's thresholds again, as a new version (history stays whole)."""
    old = EscalationPolicy.objects.filter(version=version).exclude(status="draft").first()
    if old is None:
        raise PolicyError(f"There is no published version {version}.")
    EscalationPolicy.objects.filter(status=EscalationPolicy.Status.DRAFT).delete()
    copy = EscalationPolicy.objects.create(
        version=_next_version(), thresholds=old.thresholds, created_by=publisher
    )
    return _publish(copy, publisher=publisher, note=note.strip() or f"Rolled back to v{version}")
