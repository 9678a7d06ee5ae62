"""An agent answers an offer (cases/services/assignment.py made it): accept, and the case is
theirs as a claim makes it, under the case's lock; decline, and the next agent gets it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from cases.callbacks.outbox import delivery_record
from cases.locks import lock_case
from cases.models import AgentStatus, Case, Offer
from cases.services.agent_work import CapacityReached, _commit, _joined_payload, assign_case
from cases.services.assignment import (
    OfferGone,
    assignment_on_commit,
    offer_end_publish,
    room_for,
)
from cases.services.audit import record_event
from cases.services.queue_updates import queue_changed_on_commit
from queues.models import Membership

# An answer sent in the offer's last moment still counts when it arrives this much later.
ANSWER_GRACE_SECONDS = 2

ENDED = {
    Offer.State.ACCEPTED: "You already accepted this case.",
    Offer.State.DECLINED: "You declined this case.",
    Offer.State.TIMED_OUT: "This offer timed out and went to the next agent.",
    Offer.State.WITHDRAWN: "This case was taken another way meanwhile.",
}


def _locked_offer(offer_id: int, agent: Any) -> tuple[Offer, Case]:
    """The case's lock first, then the offer's (the order every writer of both keeps)."""
    case_id = (
        Offer.objects.filter(pk=offer_id, agent=agent).values_list("case_id", flat=True).first()
    )
    if case_id is None:
        raise OfferGone("This offer is not yours or no longer exists.")
    case = lock_case(case_id)
    offer = Offer.objects.select_for_update().get(pk=offer_id)
    if offer.state != Offer.State.PENDING:
        raise OfferGone(ENDED[Offer.State(offer.state)])
    late = (timezone.now() - offer.expires_at).total_seconds()
    if late > ANSWER_GRACE_SECONDS:
        raise OfferGone(ENDED[Offer.State.TIMED_OUT])
    return offer, case


@transaction.atomic
def offer_accept(*, offer_id: int, agent: Any) -> Case:
    offer, case = _locked_offer(offer_id, agent)
    if case.status != Case.Status.WAITING:  # cannot happen: every assignment withdraws offers
        raise OfferGone(ENDED[Offer.State.WITHDRAWN])
    # The agent's memberships are locked, as a claim locks them: one agent's parallel
    # acceptances and claims cannot both fit the last slot.
    list(Membership.objects.select_for_update().filter(agent=agent).order_by("pk"))
    if room_for(case, agent.pk) <= 0:
        raise CapacityReached(
            "You have no free slot for this case: resolve or release one, or decline."
        )
    now = timezone.now()
    offer.state, offer.answered_at = Offer.State.ACCEPTED, now
    offer.save(update_fields=["state", "answered_at"])
    AgentStatus.objects.filter(user_id=agent.pk).update(last_assigned_at=now, missed_offers=0)
    fields = assign_case(case, agent)
    delivery_record(case, "agent.joined", _joined_payload(case, agent))
    queue_changed_on_commit(case.queue_id)
    offer_end_publish(offer, case)
    return _commit(
        case,
        fields,
        kind="offer_accepted",
        actor=agent,
        data={"assignee": agent.pk, "offer": offer.pk},
    )


@transaction.atomic
def offer_decline(*, offer_id: int, agent: Any) -> Offer:
    offer, case = _locked_offer(offer_id, agent)
    offer.state, offer.answered_at = Offer.State.DECLINED, timezone.now()
    offer.save(update_fields=["state", "answered_at"])
    # An answer, if a no: the agent is there.
    AgentStatus.objects.filter(user_id=agent.pk).update(missed_offers=0)
    record_event(case, kind="offer_declined", actor=agent, data={"offer": offer.pk})
    offer_end_publish(offer, case)
    assignment_on_commit(case.queue)
    return offer
