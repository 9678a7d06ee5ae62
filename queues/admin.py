"""Queues are set up here; memberships change only through the console's services (so the
agent's open pages hear of it at once), and rule sets only in the rule editor."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from queues.hours import describe
from queues.models import Membership, Queue, RoutingRule, RuleSet
from queues.services import membership_ensure, membership_remove


class MembershipInline(admin.TabularInline):
    """Saved by ``QueueAdmin.save_formset`` through the membership services, never directly."""

    model = Membership
    extra = 0
    fields = ["agent", "capacity"]


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "sla_seconds", "is_default", "is_active", "sort_order"]
    list_filter = ["is_active"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    # Business hours are set on the queue's hours page (a form per weekday, validated there).
    exclude = ["time_zone", "business_hours", "holidays", "unstaffed_after_minutes"]
    readonly_fields = ["hours"]

    @admin.display(description="Business hours")
    def hours(self, queue: Queue) -> str:
        if queue.pk is None:
            return "Set them on the queue's business hours page once it is saved."
        link = reverse("queues:hours", args=[queue.slug])
        lines = describe(queue.schedule) or ["around the clock"]
        return format_html(
            '{} ({}) <a href="{}">Edit business hours</a>', "; ".join(lines), queue.time_zone, link
        )

    def view_on_site(self, queue: Queue) -> str:
        return reverse("queues:console_queue", args=[queue.slug])

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        queue = form.instance
        agents_before = {
            membership.pk: membership.agent
            for membership in Membership.objects.filter(queue=queue).select_related("agent")
        }
        # What formset.save() would have set: the admin's history message reads them.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for row in formset.forms:
            known = agents_before.get(row.instance.pk)
            if row in formset.deleted_forms:
                if known is not None:
                    membership_remove(agent=known, queue=queue)
                    formset.deleted_objects.append(row.instance)
                continue
            if not row.has_changed():
                continue
            agent = row.cleaned_data["agent"]
            if known is not None and known.pk != agent.pk:  # the row now names someone else
                membership_remove(agent=known, queue=queue)
            saved = membership_ensure(
                agent=agent, queue=queue, capacity=row.cleaned_data["capacity"]
            )
            if known is None:
                formset.new_objects.append(saved)
            else:
                formset.changed_objects.append((saved, row.changed_data))

    def delete_model(self, request: HttpRequest, obj: Queue) -> None:
        _remove_members(Membership.objects.filter(queue=obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Queue]) -> None:
        _remove_members(Membership.objects.filter(queue__in=queryset))
        super().delete_queryset(request, queryset)


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

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    """Read-only here: the rule editor ("View on site") makes drafts, numbers their versions,
    publishes and rolls back, and records who did. A rule set added here had no version (an
    IntegrityError, a 500); one deleted or renoted here rewrote routing's history."""

    list_display = ["version", "status", "published_by", "published_at", "note"]
    list_filter = ["status"]
    list_select_related = ["published_by"]
    inlines = [RoutingRuleInline]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def view_on_site(self, ruleset: RuleSet) -> str:
        return reverse("queues:versions")


def _remove_members(memberships: QuerySet[Membership]) -> None:
    for membership in memberships.select_related("agent", "queue"):
        membership_remove(agent=membership.agent, queue=membership.queue)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Written through ``membership_ensure`` / ``membership_remove``, as the console does; an
    existing membership keeps its agent and queue (take the agent out, add them elsewhere)."""

    list_display = ["agent", "queue", "capacity"]
    list_filter = ["queue"]
    search_fields = ["agent__username", "agent__first_name", "agent__last_name"]
    list_select_related = ["agent", "queue"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> Any:
        return ["agent", "queue"] if obj is not None else []

    def view_on_site(self, membership: Membership) -> str:
        return reverse("queues:console_queue", args=[membership.queue.slug])

    def save_model(
        self, request: HttpRequest, obj: Membership, form: ModelForm, change: bool
    ) -> None:
        saved = membership_ensure(agent=obj.agent, queue=obj.queue, capacity=obj.capacity)
        obj.pk, obj.created_at = saved.pk, saved.created_at
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(agent=obj.agent, queue=obj.queue)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        _remove_members(queryset)
