from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

import vocabulary
from queues.models import Queue


def person_name(user: Any) -> str:
    if user is None:
        return ""
    return str(user.get_full_name() or user.get_username())


def new_webhook_id() -> str:
    """Standard Webhooks message id: the same on every retry, so receivers drop duplicates."""
    return f"msg_{uuid.uuid4().hex}"


class Integration(models.Model):
    """A bot platform that hands conversations over. Its API key is stored only as a hash."""

    class Platform(models.TextChoices):
        # The form callbacks take (cases/callbacks/platforms.py); the adapters that read each
        # platform's handoff are api/adapters/.
        DESK = "", "The desk's own callbacks"
        BOTFRAMEWORK = "botframework", "Microsoft Bot Framework / Copilot Studio"
        DIALOGFLOW_CX = "dialogflow-cx", "Dialogflow CX"
        SUNSHINE = "sunshine", "Zendesk Sunshine Conversations"
        BOTPRESS = "botpress", "Botpress HITL"
        RASA = "rasa", "Rasa"

    name = models.CharField(max_length=100, unique=True)
    platform = models.CharField(
        max_length=20,
        choices=Platform.choices,
        default=Platform.DESK,
        blank=True,
        help_text="Callbacks are sent in this platform's own form where it has one.",
    )
    key_prefix = models.CharField(max_length=16, help_text="Shown to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    callback_url = models.URLField(blank=True, max_length=500)
    signing_secret = models.CharField(max_length=100)
    # After a rotation, callbacks are signed with both secrets until this time passes, so the
    # bot platform can switch to the new one without dropping a callback.
    previous_signing_secret = models.CharField(max_length=100, blank=True)
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Intent(models.Model):
    """The catalogue agents pick from when they correct a detected intent."""

    name = models.CharField(max_length=100, unique=True)
    label = models.CharField(max_length=150)
    queue_hint = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label or self.name


class Case(models.Model):
    class Resolution(models.TextChoices):
        SOLVED = "solved", "Solved"
        REFUND_ISSUED = "refund_issued", "Refund issued"
        INFORMATION_GIVEN = "information_given", "Information given"
        ACCOUNT_RESTORED = "account_restored", "Account access restored"
        ESCALATED = "escalated", "Escalated to another team"
        NO_RESPONSE = "no_response", "Customer stopped responding"
        DUPLICATE = "duplicate", "Duplicate of another case"
        NOT_SOLVED = "not_solved", "Could not be solved"
        # Not an agent's choice: the bot ended the session with a person (Botpress's stopHitl).
        ENDED_BY_BOT = "ended_by_bot", "Ended from the bot's side"

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        ASSIGNED = "assigned", "Assigned"
        AWAITING_CUSTOMER = "awaiting_customer", "Awaiting customer"
        RESOLVED = "resolved", "Resolved"
        # An agent handed the conversation back to the bot (issue 16): closed, like resolved.
        RETURNED = "returned", "Returned to the bot"

    Priority = vocabulary.Priority
    Trigger = vocabulary.TriggerReason

    # Foreign keys whose lookups a composite index below already serves get no index of their
    # own: every index is paid for on each of the many inserts.
    integration = models.ForeignKey(
        Integration, on_delete=models.PROTECT, related_name="cases", db_index=False
    )
    external_id = models.CharField(max_length=200)
    channel = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.WAITING)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="cases", db_index=False)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
        db_index=False,
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    # Who holds the conversation: the person (null: the bot). One owner at a time: while a
    # person holds it, the bot's messages are refused (409 conversation_held_by_agent). Kept by
    # the services (cases/services/ownership.py) from the status and the assignee.
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    held_since = models.DateTimeField(null=True, blank=True)

    # The customer: the whole object as sent, plus the fields the desk filters and searches on.
    customer = models.JSONField(default=dict)
    customer_ref = models.CharField(max_length=200, blank=True)
    customer_name = models.CharField(max_length=200, blank=True)
    customer_email = models.CharField(max_length=254, blank=True)
    customer_tier = models.CharField(max_length=50, blank=True)
    # The language the desk writes to the customer in (cases/languages.py): the package's
    # customer.language, else detected from the customer's messages; "" on cases from before.
    customer_language = models.CharField(max_length=8, blank=True)

    detected_intent = models.CharField(max_length=100, blank=True)
    detected_confidence = models.FloatField(null=True, blank=True)
    intent_alternatives = models.JSONField(default=list, blank=True)
    current_intent = models.CharField(max_length=100, blank=True)

    trigger_reason = models.CharField(max_length=30, choices=Trigger.choices)
    trigger_detail = models.TextField(blank=True)
    trigger_derived = models.BooleanField(default=False, help_text="The desk chose the trigger.")
    facts = models.JSONField(default=dict, blank=True)
    risk_flags = models.JSONField(default=list, blank=True)
    # [{"flag": "chargeback_threat", "source": "bot"|"derived", "evidence": "...", "message": "m3"}]
    risk_evidence = models.JSONField(default=list, blank=True)
    missing_context = models.JSONField(default=list, blank=True)
    summary = models.TextField(blank=True)

    # Routing: where the rules sent it and why (kept when a supervisor reassigns it).
    routing_rule = models.CharField(max_length=120, blank=True)
    routing_explanation = models.TextField(blank=True)
    ruleset_version = models.PositiveIntegerField(null=True, blank=True)
    routed_queue = models.ForeignKey(
        Queue, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    sla_due_at = models.DateTimeField()
    sla_breached = models.BooleanField(default=False)
    # "No one available" (issue 16): set when the customer and the bot were told that the team
    # is away (closed, or nobody online), once per case; the case stays in the queue.
    unavailable_reason = models.CharField(
        max_length=16,
        blank=True,
        choices=[("closed", "Outside hours"), ("unstaffed", "No one online")],
    )
    team_back_at = models.DateTimeField(
        null=True, blank=True, help_text="When the customer was told the team is back."
    )
    handed_off_at = models.DateTimeField()
    first_claimed_at = models.DateTimeField(null=True, blank=True)
    first_human_reply_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_code = models.CharField(max_length=50, blank=True, choices=Resolution.choices)
    returned_at = models.DateTimeField(null=True, blank=True)
    customer_repeated = models.BooleanField(
        null=True, blank=True, help_text="The agent's answer: did the customer repeat anything?"
    )
    repeat_detected = models.BooleanField(
        default=False,
        help_text="The desk saw the customer restate, after the handoff, "
        "something they had told the bot.",
    )

    # Escalation timing (issue 15), set at intake by replaying the transcript message by message
    # under the published escalation policy: the customer message at which the desk would have
    # handed off, and how many customer messages and seconds the bot went on after it.
    first_risk_seq = models.PositiveIntegerField(null=True, blank=True)
    risk_lead_messages = models.PositiveIntegerField(null=True, blank=True)
    risk_lead_seconds = models.PositiveIntegerField(null=True, blank=True)
    escalation_score = models.FloatField(null=True, blank=True)
    escalation_policy_version = models.PositiveIntegerField(null=True, blank=True)

    previous_case = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_cases"
    )
    is_repeat_contact = models.BooleanField(default=False)
    is_bounce_back = models.BooleanField(
        default=False,
        help_text="The conversation came back within 24 h of its return to the bot "
        "(previous_case is the returned case).",
    )
    # The place in line and the wait the customer was last told, and when: the baseline a
    # queue update is measured against, and its throttle (cases/services/queue_updates.py).
    queue_told_at = models.DateTimeField(null=True, blank=True)
    queue_told_position = models.PositiveIntegerField(null=True, blank=True)
    queue_told_wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    handoff_count = models.PositiveIntegerField(default=1)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # At most one open case per conversation: the database, not only Python, says so.
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                condition=~Q(status__in=["resolved", "returned"]),
                name="one_open_case_per_conversation",
            ),
        ]
        indexes = [
            # Waiting cases only (a small share of all), in the queue page's and take-next's
            # order, carrying the columns the queue's figures and filter menus read: those
            # counts and lists are index-only scans, not visits to every waiting row.
            models.Index(
                fields=["queue", "-priority", "sla_due_at", "id"],
                include=["handed_off_at", "current_intent", "customer_tier"],
                condition=models.Q(status="waiting"),
                name="case_waiting",
            ),
            models.Index(fields=["queue", "status", "handed_off_at"], name="case_queue_age"),
            models.Index(fields=["assignee", "status"], name="case_assignee_status"),
            models.Index(fields=["integration", "external_id"], name="case_conversation"),
            models.Index(fields=["customer_ref"], name="case_customer_ref"),
            # A period's cases, with every column the metrics read: the metrics page scans this
            # (index only) instead of the wide rows, several times a page. It replaces the plain
            # handed_off_at index, so inserts pay for no more indexes than before.
            models.Index(
                fields=["handed_off_at"],
                include=[
                    "id",
                    "status",
                    "queue",
                    "integration",
                    "routed_queue",
                    "routing_rule",
                    "detected_intent",
                    "current_intent",
                    "trigger_reason",
                    "missing_context",
                    "customer_repeated",
                    "repeat_detected",
                    "sla_due_at",
                    "first_claimed_at",
                    "first_human_reply_at",
                    "resolved_at",
                ],
                name="case_metrics",
            ),
            # The few cases returned to the bot, by period: the bounce-back figures read these
            # without a pass over the period's whole metrics index.
            models.Index(
                fields=["handed_off_at"],
                condition=models.Q(status="returned"),
                name="case_returned",
            ),
            # Recent claims of a queue: the wait estimate and time-to-claim metrics.
            models.Index(fields=["queue", "first_claimed_at"], name="case_queue_claimed"),
            # Cases changed since a day's metrics rollup was computed: the days whose rollup
            # is out of date (cases/metrics/rollups.py), found without reading every case.
            models.Index(fields=["updated_at"], name="case_updated"),
        ]
        permissions = [
            ("work_case", "Can claim, reply, note, correct intent and resolve"),
            ("reassign_case", "Can reassign a case to another queue or agent"),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk} ({self.external_id})"

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED

    @property
    def holder(self) -> str:
        """``agent`` while a person holds the conversation, else ``bot``."""
        return HOLDER_AGENT if self.held_by_id is not None else HOLDER_BOT

    @property
    def assignee_name(self) -> str:
        return person_name(self.assignee)

    @property
    def early_risk_seq(self) -> int | None:
        """The message the desk would have handed off after, when the bot went on past it."""
        return self.first_risk_seq if self.risk_lead_messages else None


# The cases an agent is working on: what counts against their capacity in a queue. A person
# holds the conversation of these (``Case.held_by``); the bot holds every other.
OPEN_WORK = (Case.Status.ASSIGNED, Case.Status.AWAITING_CUSTOMER)
# Cases whose conversation left the desk: a new handoff of it opens a new case.
CLOSED = (Case.Status.RESOLVED, Case.Status.RETURNED)
HOLDER_BOT, HOLDER_AGENT = "bot", "agent"
# The resolution codes an agent picks from (the others are set by the desk itself).
AGENT_RESOLUTIONS = [c for c in Case.Resolution.choices if c[0] != Case.Resolution.ENDED_BY_BOT]


class Message(models.Model):
    class Role(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"
        NOTE = "note", "Internal note"

    class Phase(models.TextChoices):
        BEFORE_HANDOFF = "before_handoff", "Before handoff"
        AFTER_HANDOFF = "after_handoff", "After handoff"

    # Indexed by the (case, dedupe_key) and (case, seq) constraints.
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    seq = models.PositiveIntegerField(help_text="Order within the case.")
    external_id = models.CharField(max_length=200, blank=True)
    # "id:<external id>" or a hash of role + time + text: a message is stored once per case.
    dedupe_key = models.CharField(max_length=220)
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField()
    sent_at = models.DateTimeField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    phase = models.CharField(max_length=16, choices=Phase.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["case", "dedupe_key"], name="message_once_per_case"),
            models.UniqueConstraint(fields=["case", "seq"], name="message_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:40]}"

    @property
    def speaker(self) -> str:
        if self.role in {self.Role.AGENT, self.Role.NOTE} and self.author is not None:
            return person_name(self.author)
        return self.get_role_display()


def attachment_path(instance: Attachment, filename: str) -> str:
    """Where an uploaded file is stored: a name of the desk's, never the sender's, and no
    extension, so nothing a web server might map to a handler or type."""
    return f"attachments/{instance.message.case_id}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """A file sent with a transcript message: a link the desk never fetches (``url``), or the
    file itself, stored with Django's storage API under MEDIA_ROOT (``file``) and served only by
    the case page's view to agents who may see the case."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    position = models.PositiveSmallIntegerField(help_text="Order within the message.")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Bytes, if known.")
    url = models.CharField(max_length=2000, blank=True)
    file = models.FileField(upload_to=attachment_path, max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message", "position"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(url="") & ~Q(file="")) | (~Q(url="") & Q(file="")),
                name="attachment_url_or_file",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def stored(self) -> bool:
        return bool(self.file)

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class AttemptedStep(models.Model):
    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        PARTIAL = "partial", "Partial"
        SKIPPED = "skipped", "Skipped"
        UNKNOWN = "unknown", "Unknown"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attempted_steps")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.TextField(blank=True)
    at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["case", "position"]

    def __str__(self) -> str:
        return f"{self.name}: {self.outcome}"


class CaseEvent(models.Model):
    """Append-only audit trail: every state change of a case writes one."""

    # Indexed by event_case_version.
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True, help_text="Integration or system.")
    data = models.JSONField(default=dict, blank=True)
    case_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "id"]
        indexes = [models.Index(fields=["case", "case_version"], name="event_case_version")]

    LABELS = {
        "created": "handed off",
        "routed": "routed",
        "handoff_updated": "bot sent an update",
        "customer_message": "customer wrote",
        "claimed": "claimed",
        "released": "released to the queue",
        "replied": "replied",
        "noted": "added a note",
        "intent_corrected": "corrected the intent",
        "risk_flag_reviewed": "judged a risk flag",
        "awaiting_customer": "waiting for the customer",
        "resolved": "resolved",
        "reopened": "reopened",
        "reassigned": "reassigned",
        "csat_recorded": "customer rated",
        "sla_breached": "missed its SLA",
        "customer_told": "customer told what happens next",
        "conversation_to_agent": "conversation to a person (the bot holds back)",
        "conversation_to_bot": "conversation back to the bot",
        "returned_to_bot": "returned to the bot",
        "bot_message": "bot wrote",
        "team_away": "customer told the team is away",
        "ended_by_bot": "ended from the bot's side",
        "offered": "offered to an agent",
        "offer_accepted": "accepted the offer",
        "offer_declined": "declined the offer",
        "offer_timed_out": "let the offer time out",
        "offer_withdrawn": "offer withdrawn",
    }

    def __str__(self) -> str:
        return f"{self.kind} on case {self.case_id}"

    @property
    def actor_name(self) -> str:
        return person_name(self.actor) or self.actor_label

    @classmethod
    def label_for(cls, kind: str) -> str:
        return cls.LABELS.get(kind, kind.replace("_", " "))

    @property
    def label(self) -> str:
        return self.label_for(self.kind)


class IntentCorrection(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="intent_corrections")
    from_intent = models.CharField(max_length=100, blank=True)
    to_intent = models.CharField(max_length=100)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "id"]

    def __str__(self) -> str:
        return f"{self.from_intent} → {self.to_intent}"

    @property
    def agent_name(self) -> str:
        return person_name(self.agent) or "a former agent"


class EscalationPolicy(models.Model):
    """When the desk tells a bot to hand off: per-signal switches and thresholds (the fields of
    ``escalation.assess.Policy``, stored as JSON), edited like routing rules: a draft, a dry run
    over recent handoffs, publish with a note, versions, rollback."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    thresholds = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    # Bumped on every draft edit, so two admins editing one draft see a conflict.
    edit_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="published"),
                name="one_published_escalation_policy",
            )
        ]
        permissions = [
            ("manage_escalation", "Can edit, dry-run, publish and roll back the escalation policy")
        ]

    def __str__(self) -> str:
        return f"v{self.version} ({self.status})"


class RiskFlagReview(models.Model):
    """An agent's verdict on one risk flag of a case: whether the signal was right. The metrics
    show each signal's precision from these, and the escalation model can learn from them."""

    class Verdict(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        DISMISSED = "dismissed", "Dismissed"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="flag_reviews")
    flag = models.CharField(max_length=100)
    raised_by = models.CharField(max_length=20)  # "bot" or "derived" (the desk's detectors)
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField()

    class Meta:
        ordering = ["case", "flag"]
        constraints = [
            models.UniqueConstraint(fields=["case", "flag"], name="one_review_per_case_flag")
        ]
        indexes = [models.Index(fields=["reviewed_at"], name="flag_review_at")]

    def __str__(self) -> str:
        return f"{self.flag}: {self.verdict}"

    @property
    def agent_name(self) -> str:
        return person_name(self.agent) or "a former agent"


class Delivery(models.Model):
    """One outbound callback to the integration: written with the change, sent after commit."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed, will retry"
        DEAD = "dead", "Dead"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="deliveries")
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40)
    webhook_id = models.CharField(max_length=64, unique=True, default=new_webhook_id)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.integration} ({self.state})"


class DeliveryAttempt(models.Model):
    """One try of a delivery, as the admin's dead-letter page shows it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveIntegerField()
    status = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    response = models.TextField(blank=True, help_text="The first 500 characters.")
    error = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status or self.error[:40]}"


class CsatResponse(models.Model):
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="csat")
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1) & Q(score__lte=5), name="csat_score_1_to_5"
            )
        ]

    def __str__(self) -> str:
        return f"CSAT {self.score} for case {self.case_id}"


class IdempotencyKey(models.Model):
    """An Idempotency-Key seen from an integration, with the response to replay."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    locked_at = models.DateTimeField(null=True, blank=True, help_text="Set while in flight.")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The serialized body as sent, so a replay is byte-identical (jsonb would reorder keys).
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "key"], name="idempotency_key_unique")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return self.key


class Presence(models.Model):
    """An open page of a signed-in user: who is viewing a case, who is online in a queue."""

    channel_name = models.CharField(max_length=200, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.CASCADE, related_name="viewers"
    )
    seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["case", "seen_at"], name="presence_case")]

    def __str__(self) -> str:
        return f"{self.user} on {self.case_id or 'the desk'}"


class AgentStatus(models.Model):
    """An agent's presence as the desk assigns by it: the state they chose (online or away;
    offline too), and whether a desk page of theirs is open (``online_until``, pushed forward by
    each page's heartbeat). With no open page for a while the agent is offline; back on a page,
    the state they last chose. ``state`` is what the desk last published, so a sweep can tell
    who just dropped off."""

    class State(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="desk"
    )
    chosen = models.CharField(max_length=8, choices=State.choices, default=State.ONLINE)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OFFLINE)
    online_until = models.DateTimeField(null=True, blank=True)
    state_since = models.DateTimeField(null=True, blank=True)
    # The policy's "longest idle": the agent who got a case longest ago comes first.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    missed_offers = models.PositiveSmallIntegerField(
        default=0, help_text="Offers let time out in a row; set away after the queue's limit."
    )
    max_open = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most open cases across all queues at once. Empty: only each queue's capacity.",
    )

    class Meta:
        indexes = [models.Index(fields=["state", "online_until"], name="agent_status_state")]

    def __str__(self) -> str:
        return f"{self.user} {self.state}"


class Offer(models.Model):
    """A waiting case offered to one agent of a push queue, until accepted, declined, timed out
    or withdrawn. One pending offer per case and per agent, as the database enforces."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        TIMED_OUT = "timed_out", "Timed out"
        WITHDRAWN = "withdrawn", "Withdrawn"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="offers")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    offered_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(state="pending"), name="one_pending_offer_per_case"
            ),
            models.UniqueConstraint(
                fields=["agent"], condition=Q(state="pending"), name="one_pending_offer_per_agent"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "expires_at"], name="offer_due"),
            models.Index(fields=["offered_at"], name="offer_period"),
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} to {self.agent_id} ({self.state})"


class CannedReply(models.Model):
    """A saved reply agents insert into the composer (Zendesk's macros, Intercom's saved
    replies). No queue means every queue. ``body`` is plain text whose ``{{customer.name}}``
    style placeholders ``cases.services.canned.canned_fill`` fills from the case."""

    name = models.CharField(max_length=120)
    body = models.TextField()
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.CASCADE, related_name="canned_replies"
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["is_active", "queue", "name"], name="canned_active")]
        permissions = [("manage_cannedreply", "Can create, edit and archive canned replies")]

    def __str__(self) -> str:
        return self.name


class CannedReplyUse(models.Model):
    """One insertion of a canned reply into a sent reply: the metrics count these."""

    reply = models.ForeignKey(CannedReply, on_delete=models.CASCADE, related_name="uses")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    used_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["used_at", "reply"], name="canned_use_period")]

    def __str__(self) -> str:
        return f"{self.reply_id} on case {self.case_id}"


class MetricsDay(models.Model):
    """One day (handed off on that local date) whose metrics are rolled up: the figures of its
    cases as of ``computed_at`` (cases/metrics/rollups.py). A case of the day changed after
    that (``Case.updated_at``), an unclaimed case whose SLA falls due after it
    (``stale_after``), or another time zone or late-escalation threshold makes the day's rows
    stale: the metrics then read that day's cases directly until the beat task recomputes it."""

    day = models.DateField(primary_key=True)
    computed_at = models.DateTimeField(
        help_text="The rows hold every change to the day's cases made before this time."
    )
    stale_after = models.DateTimeField(
        null=True, blank=True, help_text="The first SLA due time of an unclaimed case, if later."
    )
    time_zone = models.CharField(max_length=64)
    late_after = models.PositiveSmallIntegerField(
        help_text="HANDOFF_LATE_ESCALATION_MESSAGES when computed: the rows' late count."
    )

    def __str__(self) -> str:
        return str(self.day)


class MetricsRollup(models.Model):
    """A day's cases counted by queue, bot, rule, intents and trigger: every count of
    ``cases.metrics.figures._counts`` (same names), so a period's figures are sums of these."""

    day = models.DateField()
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="+", db_index=False)
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    routing_rule = models.CharField(max_length=120, blank=True)
    detected_intent = models.CharField(max_length=100, blank=True)
    current_intent = models.CharField(max_length=100, blank=True)
    trigger_reason = models.CharField(max_length=30)
    handoffs = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    answered = models.PositiveIntegerField(default=0)
    repeated = models.PositiveIntegerField(default=0)
    answered_any = models.PositiveIntegerField(default=0)
    repeated_any = models.PositiveIntegerField(default=0)
    detected = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    overridden = models.PositiveIntegerField(default=0)
    misrouted = models.PositiveIntegerField(default=0)
    sla_counted = models.PositiveIntegerField(default=0)
    sla_met = models.PositiveIntegerField(default=0)
    csat_sum = models.PositiveIntegerField(default=0)
    csat_n = models.PositiveIntegerField(default=0)
    csat_satisfied = models.PositiveIntegerField(default=0)
    missing_customer_identity = models.PositiveIntegerField(default=0)
    missing_intent = models.PositiveIntegerField(default=0)
    missing_attempted_steps = models.PositiveIntegerField(default=0)
    missing_customer_message = models.PositiveIntegerField(default=0)
    # the late-escalation figures: handoffs assessed at intake, and those the bot handed off
    # late (HANDOFF_LATE_ESCALATION_MESSAGES customer messages after the first risk, or more)
    assessed = models.PositiveIntegerField(default=0)
    late = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day"], name="rollup_day")]

    def __str__(self) -> str:
        return f"{self.day} queue {self.queue_id}: {self.handoffs}"


class MetricsDuration(models.Model):
    """How many of a day's cases (by queue and bot) took a duration in one bucket: the
    histograms the period's medians and p90s are read from (cases/metrics/rollups.py)."""

    class Kind(models.IntegerChoices):
        RESOLUTION = 1, "handoff to resolved"
        FIRST_RESPONSE = 2, "handoff to first human reply"
        LEAD_MESSAGES = 3, "customer messages from the first risk to the handoff"
        LEAD_SECONDS = 4, "seconds from the first risk to the handoff"

    day = models.DateField()
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="+", db_index=False)
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.PositiveSmallIntegerField(choices=Kind.choices)
    bucket = models.PositiveSmallIntegerField()
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day", "kind"], name="duration_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.get_kind_display()} bucket {self.bucket}: {self.n}"
