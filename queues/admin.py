from django.contrib import admin

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


class RoutingRuleInline(admin.TabularInline):
    model = RoutingRule
    extra = 0


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    list_display = ["version", "status", "published_by", "published_at", "note"]
    list_filter = ["status"]
    inlines = [RoutingRuleInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["agent", "queue", "capacity"]
    list_filter = ["queue"]
