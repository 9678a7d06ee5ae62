"""The admin reads cases and their records; it never writes them. Every change to a case goes
through the desk's services (audit event, live event, version bump), so here the case, its
audit trail, deliveries and the rest are read-only; the few writes left (a redelivery, a new
integration, a key or secret rotation) call the same services the desk and commands use."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse

from cases.callbacks.outbox import delivery_redeliver
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
from cases.notices import customer_message
from cases.selectors import WaitEstimate
from cases.services.integrations import (
    integration_create,
    integration_rotate_key,
    integration_rotate_secret,
)
from queues.admin import QueueAdmin
from queues.models import Queue


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written: no add, no save, no delete (nor the bulk delete action), for
    superusers too. A POST to the change or delete page answers 403."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields or []

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _take(obj: Model, saved: Model) -> None:
    """Give the admin's unsaved object the row a service wrote, so its log and redirect work."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding, obj._state.db = False, saved._state.db


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    """Made by ``integration_create`` (the key is shown once, never stored); keys and signing
    secrets change only by the rotation actions. Name, callback URL and the switch stay
    editable: nothing else follows from them."""

    list_display = ["name", "key_prefix", "platform", "callback_url", "is_active", "created_at"]
    list_filter = ["is_active", "platform"]
    search_fields = ["name"]
    readonly_fields = [
        "key_prefix",
        "key_hash",
        "signing_secret",
        "previous_signing_secret",
        "previous_secret_valid_until",
        "created_at",
    ]
    actions = ["rotate_key", "rotate_secret"]

    def get_fields(self, request: HttpRequest, obj: Integration | None = None) -> Any:
        if obj is None:  # the service makes the key and the secret
            return ["name", "platform", "callback_url"]
        return super().get_fields(request, obj)

    def save_model(
        self, request: HttpRequest, obj: Integration, form: ModelForm, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        integration, raw_key = integration_create(
            name=obj.name, callback_url=obj.callback_url, platform=obj.platform
        )
        _take(obj, integration)
        self.message_user(
            request, f"{integration.name}: API key (shown once): {raw_key}", messages.WARNING
        )

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool
    ) -> None:
        if change:  # a new integration has no related rows, and its form was never saved
            super().save_related(request, form, formsets, change)

    @admin.action(
        description="Rotate the API key (the old one stops working now)", permissions=["change"]
    )
    def rotate_key(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            raw_key = integration_rotate_key(integration=integration)
            self.message_user(
                request, f"{integration.name}: new API key {raw_key} (shown once)", messages.WARNING
            )

    @admin.action(
        description="Rotate the signing secret (the old one stays valid 3 days)",
        permissions=["change"],
    )
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


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["seq", "role", "phase", "text", "sent_at", "author"]


class AttemptedStepInline(ReadOnlyInline):
    model = AttemptedStep
    fields = ["position", "name", "outcome", "detail", "at"]


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    """Read-only: a case changes on the desk ("View on site"), where each change is audited."""

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
    inlines = [AttemptedStepInline, MessageInline]

    def view_on_site(self, obj: Case) -> str:
        return reverse("cases:detail", args=[obj.pk])


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    """The audit trail: append-only, so neither editable nor deletable, by anyone."""

    list_display = ["case", "kind", "actor", "actor_label", "case_version", "created_at"]
    list_filter = ["kind"]
    search_fields = ["case__external_id", "kind", "actor_label"]
    list_select_related = ["case", "actor"]
    date_hierarchy = "created_at"

    def view_on_site(self, obj: CaseEvent) -> str:
        return reverse("cases:detail", args=[obj.case_id])


@admin.register(IntentCorrection)
class IntentCorrectionAdmin(ReadOnlyAdmin):
    list_display = ["case", "from_intent", "to_intent", "agent", "created_at"]
    list_filter = ["to_intent"]
    search_fields = ["case__external_id", "from_intent", "to_intent"]
    list_select_related = ["case", "agent"]


class DeliveryAttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = ["number", "at", "status", "latency_ms", "response", "error"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """Callbacks to bots; filter by state "dead" for the ones that need a person. Read-only:
    a delivery is sent again only by the redeliver action (the desk's Deliveries page does the
    same), which keeps its webhook-id and queues it after commit."""

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
    search_fields = ["webhook_id", "case__external_id"]
    list_select_related = ["case", "integration"]
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        # Whoever could change deliveries before they became read-only may send one again.
        return request.user.has_perm("cases.change_delivery")

    @admin.action(description="Redeliver (same webhook-id)", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        ids = list(queryset.exclude(state=Delivery.State.DELIVERED).values_list("pk", flat=True))
        for delivery_id in ids:
            delivery_redeliver(delivery_id=delivery_id)
        self.message_user(request, f"{len(ids)} deliveries queued again.", messages.SUCCESS)


@admin.register(CsatResponse)
class CsatResponseAdmin(ReadOnlyAdmin):
    list_display = ["case", "score", "created_at"]
    list_filter = ["score"]
    search_fields = ["case__external_id"]
    list_select_related = ["case"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    """Stored answers to retried API calls: an edited one would be replayed to the bot."""

    list_display = ["integration", "key", "response_status", "created_at"]
    list_filter = ["integration"]
    search_fields = ["key"]
    list_select_related = ["integration"]


# The queue admin (queues/admin.py) with what a customer is told, which is the cases' concern.
admin.site.unregister(Queue)


@admin.register(Queue)
class QueueWithCustomerMessageAdmin(QueueAdmin):
    readonly_fields = ["customer_message_preview"]

    @admin.display(description="What a customer is told (preview)")
    def customer_message_preview(self, queue: Queue) -> str:
        """The template rendered for an example handoff: a gold customer, a refund that failed
        twice, no order number, third in line."""
        if not queue.pk:
            return "Save the queue to see a preview."
        example = Case(
            queue=queue,
            customer_name="Ana Ruiz",
            trigger_reason="repeated_failure",
            current_intent="billing.refund",
            facts={},
            missing_context=[],
        )
        return customer_message(example, 3, WaitEstimate(queue.sla_seconds, "sla_target"))
