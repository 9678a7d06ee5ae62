"""The desk's shared words, each defined once: why a bot handed off, risk flags, priorities,
high-value tiers. The handoff package's schema, the models, routing, templates and metrics all
read them from here (this module imports nothing of the desk's, so every layer may use it)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TriggerReason(models.TextChoices):
    """Why the bot handed off (the package's ``trigger.reason``)."""

    CUSTOMER_REQUEST = "customer_request", "Customer asked for a human"
    REPEATED_FAILURE = "repeated_failure", "Repeated failure"
    LOW_CONFIDENCE = "low_confidence", "Low intent confidence"
    FRUSTRATION = "frustration", "Customer frustration"
    POLICY_SENSITIVE = "policy_sensitive", "Policy-sensitive topic"
    HIGH_VALUE = "high_value", "High-value customer"
    OTHER = "other", "Other"


class Priority(models.IntegerChoices):
    LOW = 0, "Low"
    NORMAL = 1, "Normal"
    HIGH = 2, "High"
    URGENT = 3, "Urgent"


# How the API and the rule editor spell a priority: {0: "low", ..., 3: "urgent"}.
PRIORITY_NAMES = {priority.value: priority.name.lower() for priority in Priority}


class RiskFlag(models.TextChoices):
    """The risk flags the desk derives itself (bots may send others: they are kept as sent)."""

    FRUSTRATION = "frustration", "Frustration"
    URGENCY = "urgency", "Urgency"
    LEGAL_THREAT = "legal_threat", "Legal threat"
    CHARGEBACK_THREAT = "chargeback_threat", "Chargeback threat"
    SECURITY = "security", "Security"
    HIGH_VALUE = "high_value", "High-value customer"


# Flags that make a handoff policy-sensitive, and those that raise its priority on arrival.
POLICY_FLAGS = frozenset({RiskFlag.LEGAL_THREAT, RiskFlag.CHARGEBACK_THREAT, RiskFlag.SECURITY})
PRIORITY_FLAGS = POLICY_FLAGS | {RiskFlag.HIGH_VALUE}


def is_high_value_tier(tier: object) -> bool:
    """A tier the desk treats as high value (HANDOFF_HIGH_VALUE_TIERS): flagged at intake and
    starred on pages."""
    if not isinstance(tier, str) or not tier.strip():
        return False
    return tier.strip().lower() in {known.lower() for known in settings.HANDOFF_HIGH_VALUE_TIERS}
