from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.deliveries import delivery_redeliver
from cases.models import (
    AttemptedStep,
    Case,
    CaseEvent,
    CsatResponse,
    Delivery,
    DeliveryAttempt,
    IdempotencyKey,
    Integration,
    Intent,
    IntentCorrection,
    Message,
)
from cases.services import integration_rotate_secret


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "key_prefix", "callback_url", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = [
        "key_prefix",
        "key_hash",
        "signing_secret",
        "previous_signing_secret",
        "previous_secret_valid_until",
        "created_at",
    ]
    actions = ["rotate_secret"]

    @admin.action(description="Rotate the signing secret (the old one stays valid 3 days)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            secret = integration_rotate_secret(integration=integration)
            self.message_user(
                request, f"{integration.name}: new signing secret {secret}", messages.WARNING
            )


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "queue_hint", "is_active"]
    list_filter = ["is_active", "queue_hint"]
    search_fields = ["name", "label"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["seq", "role", "phase", "text", "sent_at", "author"]
    readonly_fields = ["seq", "role", "phase", "text", "sent_at", "author"]


class AttemptedStepInline(admin.TabularInline):
    model = AttemptedStep
    extra = 0
    readonly_fields = ["position", "name", "outcome", "detail", "at"]


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "external_id",
        "integration",
        "queue",
        "status",
        "priority",
        "customer_name",
        "current_intent",
        "trigger_reason",
        "handed_off_at",
    ]
    list_filter = ["status", "queue", "priority", "trigger_reason", "integration", "sla_breached"]
    search_fields = ["external_id", "customer_name", "customer_email", "customer_ref"]
    date_hierarchy = "handed_off_at"
    list_select_related = ["integration", "queue"]
    raw_id_fields = ["previous_case", "assignee"]
    inlines = [AttemptedStepInline, MessageInline]


@admin.register(CaseEvent)
class CaseEventAdmin(admin.ModelAdmin):
    list_display = ["case", "kind", "actor", "actor_label", "case_version", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["case"]


@admin.register(IntentCorrection)
class IntentCorrectionAdmin(admin.ModelAdmin):
    list_display = ["case", "from_intent", "to_intent", "agent", "created_at"]
    list_filter = ["to_intent"]
    raw_id_fields = ["case"]


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "at", "status", "latency_ms", "response", "error"]
    fields = ["number", "at", "status", "latency_ms", "response", "error"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Callbacks to bots; filter by state "dead" for the ones that need a person."""

    list_display = [
        "id",
        "case",
        "integration",
        "kind",
        "state",
        "attempts",
        "last_status",
        "next_attempt_at",
    ]
    list_filter = ["state", "kind", "integration"]
    raw_id_fields = ["case"]
    readonly_fields = [
        "webhook_id",
        "payload",
        "attempts",
        "last_status",
        "last_error",
        "delivered_at",
        "created_at",
    ]
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]

    @admin.action(description="Redeliver (same webhook-id)")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        ids = list(queryset.exclude(state=Delivery.State.DELIVERED).values_list("pk", flat=True))
        for delivery_id in ids:
            delivery_redeliver(delivery_id=delivery_id)
        self.message_user(request, f"{len(ids)} deliveries queued again.", messages.SUCCESS)


@admin.register(CsatResponse)
class CsatResponseAdmin(admin.ModelAdmin):
    list_display = ["case", "score", "created_at"]
    list_filter = ["score"]
    raw_id_fields = ["case"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["integration", "key", "response_status", "created_at"]
    list_filter = ["integration"]
