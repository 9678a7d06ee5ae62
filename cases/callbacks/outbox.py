"""Callbacks to the bot platform: an outbox row written with the change, sent after commit.

Signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: HMAC-SHA256 of
``id.timestamp.body`` with the integration's secret). The row is the source of truth: a Celery
task sends it, and a periodic sweep re-sends rows whose task never ran.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import random
import secrets
import socket
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from cases.callbacks.platforms import platform_payload
from cases.models import Case, Delivery, DeliveryAttempt

logger = logging.getLogger(__name__)


def new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signatures(integration: Any, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: the current secret's, and during a rotation also the
    previous one's (Standard Webhooks: space-separated)."""
    secrets_in_use = [integration.signing_secret]
    until = integration.previous_secret_valid_until
    if integration.previous_signing_secret and until and until > timezone.now():
        secrets_in_use.append(integration.previous_signing_secret)
    return " ".join(sign(secret, webhook_id, timestamp, body) for secret in secrets_in_use)


def delivery_record(case: Case, kind: str, data: dict[str, Any]) -> Delivery | None:
    """Write the outbox row (inside the caller's transaction) and send it once that commits."""
    integration = case.integration
    if not integration.callback_url:
        return None
    envelope = {
        "type": kind,
        "timestamp": timezone.now().isoformat(),
        "data": {"case_id": case.pk, "external_id": case.external_id, **data},
    }
    delivery = Delivery.objects.create(
        case=case,
        integration=integration,
        kind=kind,
        # In the platform's own form where it has one; stored so a retry sends the same body.
        payload=platform_payload(integration.platform, kind, envelope),
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: enqueue_delivery(delivery.pk))
    return delivery


def enqueue_delivery(delivery_id: int) -> None:
    try:
        deliver_callback.delay(delivery_id)
    except Exception:
        # Broker down: the row stays pending and the sweeper sends it later.
        logger.warning("delivery_enqueue_failed delivery_id=%s", delivery_id, exc_info=True)


class UnsafeCallbackUrl(Exception):
    pass


def check_callback_url(url: str) -> None:
    """Refuse callback URLs that resolve to private, loopback or link-local addresses."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UnsafeCallbackUrl(f"not an http(s) URL: {url}")
    if settings.HANDOFF_ALLOW_PRIVATE_CALLBACKS:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise UnsafeCallbackUrl(f"cannot resolve {parts.hostname}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise UnsafeCallbackUrl(f"{parts.hostname} resolves to a non-public address {address}")


def delivery_attempt(*, delivery_id: int) -> Delivery.State | None:
    """Send one attempt of a delivery; idempotent by the row's state (a second run is a no-op).

    The row is leased (its next attempt pushed past the timeout) in a short transaction, the
    request is made with no transaction open, and the outcome is written in another: a worker
    killed mid-request leaves a lease that expires, and the sweeper sends it again, same id.
    A case's callbacks go out in order: one waits while an earlier one is still undelivered.
    """
    now = timezone.now()
    timeout = settings.HANDOFF_CALLBACK_TIMEOUT_SECONDS
    with transaction.atomic():
        delivery = (
            # Only the delivery row: locking the joined integration would skip every delivery
            # while any intake holds a key-share lock on it.
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("integration")
            .filter(pk=delivery_id, state__in=RETRYABLE, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        earlier = Delivery.objects.filter(
            case_id=delivery.case_id, pk__lt=delivery.pk, state__in=RETRYABLE
        )
        if earlier.exists():
            return None  # sent when the earlier one is delivered (or dies)
        delivery.next_attempt_at = now + timedelta(seconds=timeout + 30)
        delivery.save(update_fields=["next_attempt_at"])

    started = time.monotonic()
    status, response_text, error = _post_signed(delivery, timeout)
    latency_ms = int((time.monotonic() - started) * 1000)

    schedule = settings.HANDOFF_CALLBACK_RETRY_SECONDS
    with transaction.atomic():
        delivery.attempts += 1
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            status=status,
            latency_ms=latency_ms,
            response=response_text,
            error=error,
        )
        delivery.last_status = status
        delivery.last_error = error or (response_text if status else "")
        if status is not None and 200 <= status < 300:
            delivery.state = Delivery.State.DELIVERED
            delivery.delivered_at = timezone.now()
        elif delivery.attempts > len(schedule):
            delivery.state = Delivery.State.DEAD
        else:
            delay = schedule[delivery.attempts - 1]
            delivery.state = Delivery.State.FAILED
            delivery.next_attempt_at = timezone.now() + timedelta(
                seconds=delay * random.uniform(1.0, 1.25)
            )
        delivery.save(
            update_fields=[
                "attempts",
                "last_status",
                "last_error",
                "state",
                "delivered_at",
                "next_attempt_at",
            ]
        )
        if delivery.state in {Delivery.State.DELIVERED, Delivery.State.DEAD}:
            _send_next_of_case(delivery)
    logger.info(
        "delivery_attempt delivery_id=%s kind=%s attempt=%s status=%s state=%s latency_ms=%s",
        delivery.pk,
        delivery.kind,
        delivery.attempts,
        status,
        delivery.state,
        latency_ms,
    )
    return Delivery.State(delivery.state)


RETRYABLE = [Delivery.State.PENDING, Delivery.State.FAILED]


def _send_next_of_case(delivery: Delivery) -> None:
    following = (
        Delivery.objects.filter(case_id=delivery.case_id, pk__gt=delivery.pk, state__in=RETRYABLE)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if following is not None:
        transaction.on_commit(lambda: enqueue_delivery(following))


@transaction.atomic
def delivery_redeliver(*, delivery_id: int) -> Delivery:
    """An admin sends a dead (or failed) delivery again, with the same webhook-id."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.state == Delivery.State.DELIVERED:
        return delivery
    delivery.state = Delivery.State.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["state", "next_attempt_at"])
    transaction.on_commit(lambda: enqueue_delivery(delivery.pk))
    return delivery


_client: httpx.Client | None = None
_client_pid = 0


def _http_client() -> httpx.Client:
    """One client per process. Building one loads the CA bundle (about 20 ms of CPU, which made
    a new client per callback the largest cost of a delivery), and its pool keeps the
    connection to a bot's endpoint alive between callbacks. Made anew in a forked child
    (Celery's prefork pool), so no two processes share a socket."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        _client = httpx.Client(
            follow_redirects=False,
            # Idle connections are dropped after 4 s, before common servers drop theirs (Node's
            # default is 5 s), so a callback is not sent on a connection closing under it.
            limits=httpx.Limits(
                max_connections=50, max_keepalive_connections=20, keepalive_expiry=4.0
            ),
        )
        _client_pid = os.getpid()
    return _client


def _post_signed(delivery: Delivery, timeout: float) -> tuple[int | None, str, str]:
    """POST the signed payload: (status, first 500 characters of the answer, error)."""
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures(delivery.integration, delivery.webhook_id, timestamp, body),
        # The desk's kind, whatever form the body takes (cases/callbacks/platforms.py).
        "webhook-event": delivery.kind,
        "user-agent": "HandoffDesk-Webhooks/1",
    }
    try:
        check_callback_url(delivery.integration.callback_url)
        response = _http_client().post(
            delivery.integration.callback_url,
            content=body,
            headers=headers,
            timeout=timeout,
            follow_redirects=False,
        )
    except (httpx.HTTPError, UnsafeCallbackUrl) as failure:
        return None, "", f"{type(failure).__name__}: {failure}"[:500]
    return response.status_code, response.text[:500], ""


def due_delivery_ids(limit: int = 500) -> list[int]:
    """Rows whose attempt is due and whose task has had time to run: the sweeper re-sends them."""
    grace = timezone.now() - timedelta(seconds=20)
    return list(
        Delivery.objects.filter(
            state__in=[Delivery.State.PENDING, Delivery.State.FAILED], next_attempt_at__lte=grace
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- the admin's page of deliveries that need a person -----------------------------------------

# What the page lists: "dead" (given up on), "failing" (an attempt failed, more to come), or both.
DELIVERY_LIST_STATES: dict[str, list[str]] = {
    "dead": [Delivery.State.DEAD],
    "failing": [Delivery.State.FAILED],
    "all": [Delivery.State.DEAD, Delivery.State.FAILED],
}


def deliveries_needing_attention(*, show: str, integration_id: int | None) -> QuerySet[Delivery]:
    """Dead or failing deliveries, newest first, with their case, integration and attempts."""
    deliveries = Delivery.objects.filter(state__in=DELIVERY_LIST_STATES[show])
    if integration_id is not None:
        deliveries = deliveries.filter(integration_id=integration_id)
    return delivery_rows(deliveries).order_by("-pk")


def delivery_rows(deliveries: QuerySet[Delivery]) -> QuerySet[Delivery]:
    return deliveries.select_related("case", "integration").prefetch_related(
        Prefetch("tries", queryset=DeliveryAttempt.objects.order_by("number"))
    )


# Named as before it moved here, so deliveries already queued under that name still run.
@shared_task(name="cases.tasks.deliver_callback", acks_late=True, ignore_result=True)
def deliver_callback(delivery_id: int) -> None:
    state = delivery_attempt(delivery_id=delivery_id)
    if state == Delivery.State.FAILED:
        delivery = Delivery.objects.only("next_attempt_at").get(pk=delivery_id)
        wait = max((delivery.next_attempt_at - timezone.now()).total_seconds(), 0)
        # Short waits ride on the broker; long ones are left to the sweeper, so no countdown is
        # longer than the broker's visibility timeout.
        if wait <= 300:
            deliver_callback.apply_async((delivery_id,), countdown=wait)
