"""A stand-in bot platform for the demo: it receives the desk's callbacks, checks their
Standard Webhooks signature as a real platform must, drops duplicates by webhook-id, and shows
what each customer would see. Only mounted when HANDOFF_DEMO is on (the embedded default)."""

from __future__ import annotations

import hmac
import json
import time
from collections import defaultdict

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from cases.callbacks.outbox import sign
from cases.models import Integration
from demo.models import InboxMessage

TOLERANCE_SECONDS = 300


def _verified(integration: Integration, request: HttpRequest) -> bool:
    webhook_id = request.headers.get("webhook-id", "")
    try:
        timestamp = int(request.headers.get("webhook-timestamp", ""))
    except ValueError:
        return False
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = sign(integration.signing_secret, webhook_id, timestamp, request.body)
    offered = request.headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


@csrf_exempt
@require_POST
def receive(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = get_object_or_404(Integration, pk=integration_id)
    if not _verified(integration, request):
        return JsonResponse({"error": "bad signature"}, status=401)
    payload = json.loads(request.body)
    data = payload.get("data", {})
    try:
        with transaction.atomic():
            InboxMessage.objects.create(
                webhook_id=request.headers["webhook-id"],
                integration_id=integration.pk,
                external_id=str(data.get("external_id", "")),
                kind=str(payload.get("type", "")),
                text=str(data.get("customer_message") or data.get("text") or ""),
                payload=payload,
            )
    except IntegrityError:
        return HttpResponse(status=204)  # a retry of one we have: already shown
    return HttpResponse(status=204)


def inbox(request: HttpRequest) -> HttpResponse:
    conversations: dict[str, list[InboxMessage]] = defaultdict(list)
    for message in InboxMessage.objects.order_by("id")[:2000]:
        conversations[message.external_id].append(message)
    ordered = sorted(conversations.items(), key=lambda item: -item[1][-1].pk)
    return render(request, "demo_bot/inbox.html", {"conversations": ordered[:50]})
