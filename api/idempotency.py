"""Idempotency-Key handling (the IETF draft, Stripe's practice), scoped per integration.

Same key and body: the first response is replayed. Same key, other body: 422. Same key while the
first request is still being processed: 409. The unique constraint on (integration, key) makes
the claim atomic, so concurrent requests with one key create one case.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import IdempotencyKey, Integration


class IdempotencyKeyReused(Exception):
    """The key was used before with a different request body."""


class IdempotencyKeyInFlight(Exception):
    """The first request with this key is still being processed."""


@dataclass(frozen=True)
class Replay:
    status: int
    body: str


def request_fingerprint(data: Any) -> str:
    """The same JSON, whatever its whitespace or key order, has the same fingerprint."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_claim(
    *, integration: Integration, key: str, fingerprint: str
) -> IdempotencyKey | Replay:
    """Claim the key for this request, or say what the earlier request with it produced."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                integration=integration, key=key, request_hash=fingerprint, locked_at=now
            )
    except IntegrityError:
        pass
    with transaction.atomic():
        record = IdempotencyKey.objects.select_for_update().get(integration=integration, key=key)
        if record.request_hash != fingerprint:
            raise IdempotencyKeyReused(key)
        if record.response_status is not None:
            return Replay(record.response_status, record.response_body)
        stale = now - timedelta(seconds=settings.HANDOFF_IDEMPOTENCY_LOCK_SECONDS)
        if record.locked_at is not None and record.locked_at > stale:
            raise IdempotencyKeyInFlight(key)
        # The request that held it died without an answer: this one takes over.
        record.locked_at = now
        record.save(update_fields=["locked_at"])
        return record


def idempotency_complete(*, record: IdempotencyKey, status: int, body: str) -> None:
    record.response_status = status
    record.response_body = body
    record.locked_at = None
    record.save(update_fields=["response_status", "response_body", "locked_at"])


def idempotency_release(*, record: IdempotencyKey) -> None:
    """The request failed before producing an answer: the client may retry with the same key."""
    IdempotencyKey.objects.filter(pk=record.pk, response_status__isnull=True).delete()
