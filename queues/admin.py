from typing import Any

from django.contrib import admin

from cases.models import Case
from cases.notices import customer_message
from cases.selectors import WaitEstimate
from queues.models import Membership, Queue, RoutingRule, RuleSet


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "sla_seconds", "is_default", "is_active", "sort_order"]
    list_filter = ["is_active"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
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


class RoutingRuleInline(admin.TabularInline):
    """Read-only here: rules change through the rule editor (/routing/), which validates them,
    keeps drafts apart from what is live, and records who published what."""

    model = RoutingRule
    extra = 0
    can_delete = False
    readonly_fields = [
        "position",
        "name",
        "conditions",
        "queue",
        "priority",
        "sla_seconds",
        "enabled",
    ]

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    list_display = ["version", "status", "published_by", "published_at", "note"]
    readonly_fields = [
        "version",
        "status",
        "created_by",
        "published_by",
        "published_at",
        "edit_version",
    ]
    list_filter = ["status"]
    inlines = [RoutingRuleInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["agent", "queue", "capacity"]
    list_filter = ["queue"]
