from __future__ import annotations

import logging

from django.conf import settings
from django.db import models
from django.db.models import Q

from queues.hours import ALWAYS_OPEN, Schedule, ScheduleInvalid, schedule_from

logger = logging.getLogger(__name__)

DEFAULT_CUSTOMER_MESSAGE = (
    "Thanks for your patience{customer_first_name_comma}. I'm handing this conversation to our "
    "{queue_name} team{trigger_sentence}. You are number {position} in line and the expected "
    "wait is {eta_text}.{missing_request} You won't need to repeat anything: they can see this "
    "whole conversation."
)


class AssignmentMode(models.TextChoices):
    PULL = "pull", "Pull: agents claim"
    PUSH = "push", "Push: the desk offers"


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
    # Business hours (queues/hours.py): none means the team works around the clock.
    time_zone = models.CharField(
        max_length=64, default="UTC", help_text="The IANA time zone of the team's hours."
    )
    business_hours = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"day": 0, "opens": "09:00", "closes": "17:00"}, ...]; 0 is Monday. '
        "Empty: around the clock.",
    )
    holidays = models.JSONField(
        default=list, blank=True, help_text='Dates the team is off: ["2026-12-25", ...].'
    )
    unstaffed_after_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A waiting case that finds no agent of the queue online after this many "
        "minutes: the customer and the bot are told the team is away. Empty: never.",
    )
    is_default = models.BooleanField(
        default=False, help_text="Handoffs that no routing rule matches land here."
    )
    # Assignment (cases/services/assignment.py): agents pull the queue's cases, or the desk
    # offers each waiting case to a free online agent of the queue.
    assignment_mode = models.CharField(
        max_length=8,
        choices=AssignmentMode.choices,
        default=AssignmentMode.PULL,
        help_text="Pull: agents claim cases. Push: the desk offers each case to a free agent.",
    )
    offer_seconds = models.PositiveIntegerField(
        default=30,
        help_text="How long an agent has to accept an offer before the next one gets it.",
    )
    misses_before_away = models.PositiveSmallIntegerField(
        default=3,
        help_text="Offers an agent lets time out in a row before the desk sets them away.",
    )
    reserved_slots = models.PositiveSmallIntegerField(
        default=0,
        help_text="Of each agent's capacity, slots kept for VIP and urgent cases of this queue.",
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

    @property
    def schedule(self) -> Schedule:
        try:
            return schedule_from(self.time_zone, self.business_hours, self.holidays)
        except ScheduleInvalid:
            # Only a form writes these, and it validates; a bad row must not stop intake.
            logger.warning("queue_schedule_invalid queue=%s", self.slug)
            return ALWAYS_OPEN


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
