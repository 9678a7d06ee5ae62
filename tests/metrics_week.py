"""The week of handoffs the metrics tests check by hand (figures, the page, the API export)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cases.models import Case, CsatResponse
from cases.services import agent_work as actions
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
)

DAY = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def seed_week() -> dict[str, Any]:
    """Six handoffs in one week (one more the week before):

    | case | bot | resolved | reply  | repeat | csat | missing  | intent (corrected)        | moved
    | a    | one | 1 h      | 10 min | no     | 5    | —        | refund → double_charge    | no
    | b    | one | 2 h      | 20 min | yes    | 4    | intent   | —                         | yes
    | c    | one | 3 h      | 30 min | no     | 2    | —        | refund → invoice → login  | no
    | d    | two | 4 h      | 40 min | yes    | —    | identity | account.login             | no
    | e    | two | open     | —      | —      | —    | steps    | account.login             | no
    | f    | two | open     | —      | —      | —    | —        | account.login             | no
    """
    billing, vip = QueueFactory(slug="billing"), QueueFactory(slug="vip")
    one, two = IntegrationFactory(name="one"), IntegrationFactory(name="two")
    MembershipFactory(queue=billing, capacity=50)
    specs = [
        ("a", one, 1, 10, False, 5, [], "billing.refund"),
        ("b", one, 2, 20, True, 4, ["intent"], ""),
        ("c", one, 3, 30, False, 2, [], "billing.refund"),
        ("d", two, 4, 40, True, None, ["customer_identity"], "account.login"),
        ("e", two, None, None, None, None, ["attempted_steps"], "account.login"),
        ("f", two, None, None, None, None, [], "account.login"),
    ]
    cases = {}
    for name, bot, resolved, reply, repeated, csat, missing, intent in specs:
        case = CaseFactory(
            external_id=name,
            integration=bot,
            queue=billing,
            routing_rule="Billing intents",
            handed_off_at=DAY,
            sla_due_at=at(0.25),
            detected_intent=intent,
            current_intent=intent,
            missing_context=missing,
            status=Case.Status.RESOLVED if resolved else Case.Status.WAITING,
            resolved_at=at(resolved) if resolved else None,
            first_human_reply_at=DAY + timedelta(minutes=reply) if reply else None,
            first_claimed_at=DAY + timedelta(minutes=reply - 5) if reply else None,
            customer_repeated=repeated,
        )
        if csat:
            CsatResponse.objects.create(case=case, score=csat)
        cases[name] = case
    # corrections: a once; c twice (the last one counts for the matrix)
    # (a supervisor corrects a resolved case's intent, for the bot's retraining)
    lead = UserFactory(role="supervisor")
    actions.case_intent_correct(
        case_id=cases["a"].pk, agent=lead, to_intent="billing.double_charge"
    )
    actions.case_intent_correct(case_id=cases["c"].pk, agent=lead, to_intent="billing.invoice")
    actions.case_intent_correct(case_id=cases["c"].pk, agent=lead, to_intent="account.login")
    # b was reassigned away from the queue its rule chose
    Case.objects.filter(pk=cases["b"].pk).update(queue=vip)
    # the week before: one handoff, resolved in 5 h, CSAT 3
    before = CaseFactory(
        queue=billing,
        integration=one,
        handed_off_at=DAY - timedelta(days=7),
        sla_due_at=DAY - timedelta(days=7),
        status=Case.Status.RESOLVED,
        resolved_at=DAY - timedelta(days=7) + timedelta(hours=5),
    )
    CsatResponse.objects.create(case=before, score=3)
    return cases
