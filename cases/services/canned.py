"""Canned replies (issue 12): saved replies agents insert into the composer, per queue or for
every queue, with Zendesk-style placeholders filled from the case's package.

The body is plain text. Placeholders are found with one strict regular expression and replaced
by values from the case; nothing in a body is ever run through a template engine. A placeholder
the case cannot fill stays visible as ``[key?]`` and is listed in ``missing``, so an agent never
sends a reply with a silent hole in it (Zendesk leaves unknown placeholders blank; Front and
Intercom highlight them: this follows the latter).

Writes (create, update, archive, a use) go through the functions here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from cases.metrics.figures import Filters
from cases.models import CannedReply, CannedReplyUse, Case, person_name
from queues.models import Queue

logger = logging.getLogger(__name__)

MANAGE_PERMISSION = "cases.manage_cannedreply"
PICKER_LIMIT = 20
QUERY_MAX = 100

# ``{{ customer.name }}``, ``{{facts.order_id}}``: a namespace, a dot, a key of letters, digits,
# ``_`` and ``-`` (facts may nest: ``facts.shipping.carrier``). Anything else between braces is
# left as it is written.
PLACEHOLDER = re.compile(r"\{\{\s*([a-z]+(?:\.[A-Za-z0-9_-]+)+)\s*\}\}")


def _first_name(name: str) -> str:
    return name.split()[0] if name.split() else ""


def _customer_name(case: Case, agent: Any) -> str:
    return case.customer_name or str((case.customer or {}).get("name") or "")


def _customer_email(case: Case, agent: Any) -> str:
    return case.customer_email or str((case.customer or {}).get("email") or "")


def _customer_first_name(case: Case, agent: Any) -> str:
    return _first_name(_customer_name(case, agent))


def _queue_name(case: Case, agent: Any) -> str:
    # Through the relation, not queue_id: the preview's sample case holds an unsaved queue.
    try:
        return str(case.queue.name)
    except Queue.DoesNotExist:
        return ""


def _agent_first_name(case: Case, agent: Any) -> str:
    if agent is None:
        return ""
    return str(agent.first_name or _first_name(person_name(agent)))


def _case_id(case: Case, agent: Any) -> str:
    return str(case.pk) if case.pk is not None else ""


def _customer_tier(case: Case, agent: Any) -> str:
    return case.customer_tier or str((case.customer or {}).get("tier") or "")


FIELDS: dict[str, Callable[[Case, Any], str]] = {
    "customer.name": _customer_name,
    "customer.first_name": _customer_first_name,
    "customer.email": _customer_email,
    "customer.tier": _customer_tier,
    "queue.name": _queue_name,
    "agent.first_name": _agent_first_name,
    "case.id": _case_id,
}
# What the management form lists under the body, in this order.
PLACEHOLDER_HELP = [
    ("{{customer.name}}", "the customer's full name"),
    ("{{customer.first_name}}", "their first name"),
    ("{{customer.email}}", "their email"),
    ("{{customer.tier}}", "their tier (gold, vip…)"),
    ("{{facts.order_id}}", "any fact the bot sent, by its key"),
    ("{{queue.name}}", "the case's queue"),
    ("{{agent.first_name}}", "your first name"),
    ("{{case.id}}", "the case number"),
]


@dataclass(frozen=True)
class FilledReply:
    text: str
    missing: list[str]


def _fact(facts: Any, path: str) -> str:
    value = facts
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return ""
        value = value[part]
    # A nested object or a list is not a sentence: the agent fills it in.
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()


def is_known_placeholder(key: str) -> bool:
    return key in FIELDS or (key.startswith("facts.") and len(key) > len("facts."))


def placeholders_in(body: str) -> list[str]:
    """The placeholder keys of a body, in order, each once."""
    return list(dict.fromkeys(match.group(1) for match in PLACEHOLDER.finditer(body)))


def marker(key: str) -> str:
    return f"[{key.removeprefix('facts.')}?]"


def canned_fill(body: str, *, case: Case, agent: Any) -> FilledReply:
    """The body with its placeholders replaced by the case's values. A placeholder that is
    unknown, or whose value is empty, becomes a visible ``[key?]`` marker and is listed in
    ``missing`` (each key once, in order)."""
    missing: list[str] = []

    def value_of(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("facts."):
            value = _fact(case.facts or {}, key.removeprefix("facts."))
        else:
            field = FIELDS.get(key)
            value = field(case, agent).strip() if field else ""
        if value:
            return value
        if key not in missing:
            missing.append(key)
        return marker(key)

    return FilledReply(text=PLACEHOLDER.sub(value_of, body), missing=missing)


def one_line(text: str, length: int = 110) -> str:
    """A preview: whitespace folded, cut at a word."""
    flat = " ".join(text.split())
    if len(flat) <= length:
        return flat
    return flat[:length].rsplit(" ", 1)[0] + "…"


# --- writes ----------------------------------------------------------------------------------


class CannedReplyError(Exception):
    """A change that cannot be made; the message is for the person."""


def _require_manager(actor: Any) -> None:
    if not actor.has_perm(MANAGE_PERMISSION):
        raise CannedReplyError("Only supervisors and admins manage canned replies.")


def _clean(name: str, body: str) -> tuple[str, str]:
    name, body = " ".join(name.split()), body.strip()
    if not name:
        raise CannedReplyError("Give the reply a name agents can search for.")
    if not body:
        raise CannedReplyError("Write the reply's text.")
    return name, body


@transaction.atomic
def canned_reply_create(
    *, actor: Any, name: str, body: str, queue: Queue | None = None
) -> CannedReply:
    _require_manager(actor)
    name, body = _clean(name, body)
    reply = CannedReply.objects.create(name=name, body=body, queue=queue, created_by=actor)
    logger.info(
        "canned_reply_created reply=%s queue=%s actor=%s", reply.pk, queue and queue.pk, actor.pk
    )
    return reply


@transaction.atomic
def canned_reply_update(
    *, actor: Any, reply_id: int, name: str, body: str, queue: Queue | None = None
) -> CannedReply:
    _require_manager(actor)
    name, body = _clean(name, body)
    reply = CannedReply.objects.select_for_update().get(pk=reply_id)
    reply.name, reply.body, reply.queue = name, body, queue
    reply.save(update_fields=["name", "body", "queue", "updated_at"])
    logger.info(
        "canned_reply_updated reply=%s queue=%s actor=%s", reply.pk, queue and queue.pk, actor.pk
    )
    return reply


@transaction.atomic
def canned_reply_archive(*, actor: Any, reply_id: int, archived: bool = True) -> CannedReply:
    """Archive (or restore) a reply: agents no longer find it; its uses stay counted."""
    _require_manager(actor)
    reply = CannedReply.objects.select_for_update().get(pk=reply_id)
    reply.is_active = not archived
    reply.save(update_fields=["is_active", "updated_at"])
    logger.info(
        "canned_reply_%s reply=%s actor=%s",
        "archived" if archived else "restored",
        reply.pk,
        actor.pk,
    )
    return reply


def canned_reply_used(*, reply_id: int | None, case: Case, agent: Any) -> CannedReplyUse | None:
    """Count one use of a reply sent on ``case``. An id that is not a reply for this case's
    queue (or for every queue) is ignored, so a forged or stale id never counts. A reply archived
    between picking and sending still counts: it was used."""
    if not reply_id:
        return None
    in_scope = CannedReply.objects.filter(
        Q(queue__isnull=True) | Q(queue_id=case.queue_id), pk=reply_id
    )
    if not in_scope.exists():
        return None
    return CannedReplyUse.objects.create(
        reply_id=reply_id, case=case, agent=agent, used_at=timezone.now()
    )


# --- reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CannedChoice:
    """One reply as the picker shows it, filled for one case."""

    id: int
    name: str
    scope: str
    text: str
    missing: list[str]

    @property
    def preview(self) -> str:
        return one_line(self.text)


def _matching(query: str) -> Q:
    query = query.strip()[:QUERY_MAX]
    if not query:
        return Q()
    return Q(name__icontains=query) | Q(body__icontains=query)


def canned_replies_for(
    case: Case, agent: Any, query: str = "", limit: int = PICKER_LIMIT
) -> list[CannedChoice]:
    """The active replies for the case's queue and for every queue whose name or body holds
    ``query``, by name, filled for this case."""
    replies = (
        CannedReply.objects.filter(Q(queue__isnull=True) | Q(queue_id=case.queue_id))
        .filter(_matching(query), is_active=True)
        .select_related("queue")
        .order_by("name", "id")[:limit]
    )
    choices = []
    for reply in replies:
        filled = canned_fill(reply.body, case=case, agent=agent)
        scope = reply.queue.name if reply.queue else "All queues"
        choices.append(CannedChoice(reply.pk, reply.name, scope, filled.text, filled.missing))
    return choices


def canned_replies_managed(
    *, query: str = "", queue_id: int | None = None, archived: bool = False
) -> list[CannedReply]:
    """The management list: global replies first, then by queue and name, each with its uses
    of the last 30 days (``recent_uses``) and of all time (``total_uses``)."""
    since = timezone.now() - timedelta(days=30)
    replies = CannedReply.objects.filter(_matching(query), is_active=not archived)
    if queue_id is not None:
        replies = replies.filter(Q(queue__isnull=True) | Q(queue_id=queue_id))
    return list(
        replies.select_related("queue", "created_by")
        .annotate(
            total_uses=Count("uses"),
            recent_uses=Count("uses", filter=Q(uses__used_at__gte=since)),
        )
        .order_by(F("queue__name").asc(nulls_first=True), "name", "id")
    )


def canned_usage(
    start: datetime, end: datetime, queue_id: int | None = None
) -> list[dict[str, Any]]:
    """Uses per reply in ``[start, end)``, most used first: the metrics page's table and CSV.
    ``queue_id`` narrows to uses on that queue's cases."""
    uses = CannedReplyUse.objects.filter(used_at__gte=start, used_at__lt=end)
    if queue_id is not None:
        uses = uses.filter(case__queue_id=queue_id)
    rows = (
        uses.values("reply_id", "reply__name", "reply__queue__name", "reply__is_active")
        .annotate(uses=Count("id"), cases=Count("case", distinct=True), last_used=Max("used_at"))
        .order_by("-uses", "reply__name")
    )
    return [
        {
            "reply": row["reply__name"],
            "queue": row["reply__queue__name"] or "All queues",
            "uses": row["uses"],
            "cases": row["cases"],
            "last_used": row["last_used"],
            "archived": not row["reply__is_active"],
        }
        for row in rows
    ]


def canned_usage_in(filters: Filters) -> list[dict[str, Any]]:
    """``canned_usage`` over a metrics period (its queue filter too): the page and the CSV."""
    return canned_usage(*filters.window(), filters.queue_id)


def sample_case(queue: Queue | None = None) -> Case:
    """An unsaved case with a typical package: the management preview fills bodies with it."""
    return Case(
        pk=1042,
        queue=queue or Queue(name="Billing", slug="billing"),
        customer_name="Ana Ruiz",
        customer_email="ana@example.com",
        customer_tier="gold",
        customer={"name": "Ana Ruiz", "email": "ana@example.com", "tier": "gold"},
        facts={"order_id": "A-1009", "amount": "49.99", "currency": "EUR"},
    )


# --- demo -------------------------------------------------------------------------------------

DEMO_REPLIES: list[tuple[str, str | None, str]] = [
    (
        "Greeting",
        None,
        "Hi {{customer.first_name}}, I'm {{agent.first_name}} from the {{queue.name}} team. "
        "I've read your conversation with our assistant, so you won't need to repeat anything. "
        "Give me a moment to look into it.",
    ),
    (
        "Refund timeline",
        "billing",
        "Hi {{customer.first_name}}, I've issued the refund for order {{facts.order_id}}. "
        "It will be back on your original payment method within 5-10 business days, depending "
        "on your bank. You'll get a confirmation email at {{customer.email}}.",
    ),
    (
        "Double charge: investigating",
        "billing",
        "Thanks for your patience, {{customer.first_name}}. I can see two charges on order "
        "{{facts.order_id}}. I'm checking with our payments team now; the duplicate one is "
        "usually a pending authorisation that drops off within 3 days.",
    ),
    (
        "Password reset steps",
        "account_access",
        "Let's get you back in, {{customer.first_name}}:\n"
        '1. Go to the sign-in page and choose "Forgot password".\n'
        "2. Enter {{customer.email}}; the link arrives within a few minutes (check spam).\n"
        "3. The link works once, for 30 minutes.\n"
        "If it doesn't arrive, tell me and I'll send it manually.",
    ),
    (
        "VIP apology",
        "vip",
        "{{customer.first_name}}, I'm sorry for the trouble; this isn't the experience we want "
        "for you. I'm handling case {{case.id}} personally and will stay with you until it's "
        "resolved.",
    ),
    (
        "Closing: anything else?",
        None,
        "Is there anything else I can help you with today, {{customer.first_name}}? If not, "
        "I'll close this conversation; you can reply any time to reopen it.",
    ),
]


@transaction.atomic
def seed_demo_canned_replies(actor: Any = None) -> list[CannedReply]:
    """About six believable replies for the demo, once: a second call adds none. A queue named
    by slug that does not exist makes that reply global rather than failing the seed."""
    queues = {queue.slug: queue for queue in Queue.objects.all()}
    made = []
    for name, slug, body in DEMO_REPLIES:
        queue = queues.get(slug) if slug else None
        if CannedReply.objects.filter(name=name).exists():
            continue
        made.append(CannedReply.objects.create(name=name, body=body, queue=queue, created_by=actor))
    return made
