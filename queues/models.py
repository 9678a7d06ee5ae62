from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

DEFAULT_CUSTOMER_MESSAGE = (
    "Thanks for your patience{customer_first_name_comma}. I'm handing this conversation to our "
    "{queue_name} team{trigger_sentence}. You are number {position} in line and the expected "
    "wait is {eta_text}.{missing_request} You won't need to repeat anything: they can see this "
    "whole conversation."
)


class Queue(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    sla_seconds = models.PositiveIntegerField(
        default=900, help_text="Target time from handoff to first claim, in seconds."
    )
    customer_message_template = models.TextField(
        default=DEFAULT_CUSTOMER_MESSAGE,
        help_text=(
            "Placeholders: {customer_first_name}, {customer_first_name_comma}, {queue_name}, "
            "{trigger_sentence}, {position}, {eta_text}, {missing_request}."
        ),
    )
    is_default = models.BooleanField(
        default=False, help_text="Handoffs that no routing rule matches land here."
    )
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sort_order", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_queue"
            )
        ]
        permissions = [
            ("view_all_queues", "Can see every queue and its cases"),
            ("manage_memberships", "Can move agents between queues and set capacity"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="memberships")
    capacity = models.PositiveIntegerField(
        default=5, help_text="Most open cases this agent holds at once from this queue."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "queue"], name="one_membership_per_queue")
        ]

    def __str__(self) -> str:
        return f"{self.agent} in {self.queue}"


class RuleSet(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    published_at = models.DateTimeField(null=True, blank=True)
    # Bumped on every draft edit, so two admins editing one draft see a conflict.
    edit_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="published"), name="one_published_ruleset"
            )
        ]
        permissions = [("manage_routing", "Can edit, preview, publish and roll back routing")]

    def __str__(self) -> str:
        return f"v{self.version} ({self.status})"


class RoutingRule(models.Model):
    ruleset = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=120)
    # {"all": [{"field": "customer.tier", "op": "in", "value": ["gold"]}, ...]} or {"any": [...]}
    conditions = models.JSONField(default=dict)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    sla_seconds = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["ruleset", "position"]
        constraints = [
            models.UniqueConstraint(fields=["ruleset", "position"], name="rule_position_unique")
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"
