"""Push assignment (cases/services/assignment.py, offers.py): who gets which waiting case,
accept/decline/time-out, capacity with reserved slots and an overall cap, the audit trail, and
on PostgreSQL many agents and many cases at once: each case assigned exactly once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import presence
from cases.models import AgentStatus, Case, CaseEvent, Offer
from cases.services import agent_work, assignment, offers
from queues.models import AssignmentMode, Queue
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


def push_queue(**fields: Any) -> Queue:
    return QueueFactory(assignment_mode=AssignmentMode.PUSH, **fields)


def online_agent(queue: Queue, *, capacity: int = 2, **status: Any) -> Any:
    agent = MembershipFactory(queue=queue, capacity=capacity).agent
    presence.agent_page_seen(user_id=agent.pk)
    if status:
        AgentStatus.objects.filter(user_id=agent.pk).update(**status)
    return agent


def pending(case: Case) -> Offer | None:
    return Offer.objects.filter(case=case, state=Offer.State.PENDING).first()


def expire(offer: Offer) -> None:
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=5))


def test_a_pull_queue_offers_nothing():
    queue = QueueFactory()
    online_agent(queue)
    CaseFactory(queue=queue)

    assert assignment.queue_assign(queue_id=queue.pk) == []


def test_the_most_urgent_case_goes_first_to_the_agent_with_most_room_then_idle_longest():
    # given
    queue = push_queue()
    now = timezone.now()
    roomy = online_agent(queue, capacity=3, last_assigned_at=now)
    idle = online_agent(queue, capacity=2, last_assigned_at=now - timedelta(hours=1))
    busy = online_agent(queue, capacity=2, last_assigned_at=None)
    CaseFactory(queue=queue, assignee=busy, status=Case.Status.ASSIGNED)
    old_normal = CaseFactory(queue=queue, handed_off_at=now - timedelta(minutes=9))
    urgent = CaseFactory(queue=queue, priority=Case.Priority.URGENT)
    new_normal = CaseFactory(queue=queue)

    # when
    made = assignment.queue_assign(queue_id=queue.pk)

    # then: urgent to the roomiest; the older normal case to the agent idle longer
    assert [(o.case_id, o.agent_id) for o in made] == [
        (urgent.pk, roomy.pk),
        (old_normal.pk, idle.pk),
        (new_normal.pk, busy.pk),
    ]
    assert CaseEvent.objects.filter(kind="offered").count() == 3
    assert Case.objects.get(pk=urgent.pk).status == Case.Status.WAITING  # offered, not taken


def test_one_offer_per_case_and_per_agent_at_a_time():
    queue = push_queue()
    agent = online_agent(queue, capacity=5)
    first, second = CaseFactory(queue=queue), CaseFactory(queue=queue)

    assignment.queue_assign(queue_id=queue.pk)
    assignment.queue_assign(queue_id=queue.pk)

    assert pending(first).agent == agent
    assert pending(second) is None
    assert Offer.objects.count() == 1


def test_away_offline_and_pageless_agents_get_nothing():
    queue = push_queue()
    online_agent(queue, state=AgentStatus.State.AWAY)
    online_agent(queue, online_until=timezone.now() - timedelta(seconds=1))
    MembershipFactory(queue=queue)  # never opened a page
    CaseFactory(queue=queue)

    assert assignment.queue_assign(queue_id=queue.pk) == []


def test_accept_assigns_the_case_once_and_audits_it():
    # given
    queue = push_queue()
    agent = online_agent(queue)
    case = CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)

    # when
    accepted = offers.offer_accept(offer_id=offer.pk, agent=agent)

    # then
    assert accepted.status == Case.Status.ASSIGNED and accepted.assignee == agent
    assert accepted.first_claimed_at is not None
    assert Offer.objects.get(pk=offer.pk).state == Offer.State.ACCEPTED
    kinds = list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))
    assert kinds[-2:] == ["conversation_to_agent", "offer_accepted"] or "offer_accepted" in kinds
    with pytest.raises(assignment.OfferGone, match="already accepted"):
        offers.offer_accept(offer_id=offer.pk, agent=agent)


def test_someone_elses_offer_cannot_be_answered():
    queue = push_queue()
    online_agent(queue)
    other = UserFactory(role="agent")
    CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)

    with pytest.raises(assignment.OfferGone, match="not yours"):
        offers.offer_accept(offer_id=offer.pk, agent=other)


def test_decline_goes_to_the_next_agent_and_not_back():
    # given
    queue = push_queue()
    first = online_agent(queue, capacity=3)
    second = online_agent(queue, capacity=2)
    case = CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)
    assert offer.agent == first

    # when
    offers.offer_decline(offer_id=offer.pk, agent=first)
    (again,) = assignment.queue_assign(queue_id=queue.pk)

    # then
    assert again.agent == second and again.case == case
    assert CaseEvent.objects.filter(case=case, kind="offer_declined", actor=first).exists()


def test_an_agent_who_declined_the_oldest_gets_the_next_one_never_an_older_one_skipped():
    queue = push_queue()
    agent = online_agent(queue, capacity=3)
    now = timezone.now()
    oldest = CaseFactory(queue=queue, sla_due_at=now)
    newer = CaseFactory(queue=queue, sla_due_at=now + timedelta(minutes=1))
    (offer,) = assignment.queue_assign(queue_id=queue.pk)
    assert offer.case == oldest
    offers.offer_decline(offer_id=offer.pk, agent=agent)

    (next_offer,) = assignment.queue_assign(queue_id=queue.pk)

    assert next_offer.case == newer
    # a second agent arriving gets the oldest, which nobody else took
    late = online_agent(queue)
    (for_late,) = assignment.queue_assign(queue_id=queue.pk)
    assert (for_late.agent, for_late.case) == (late, oldest)


def test_an_offer_not_answered_in_time_goes_to_the_next_agent():
    queue = push_queue(offer_seconds=30)
    first = online_agent(queue, capacity=3)
    second = online_agent(queue)
    case = CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)
    assert offer.expires_at - offer.offered_at == timedelta(seconds=30)

    assert assignment.offer_time_out(offer_id=offer.pk) is False  # not due yet
    expire(offer)
    assert assignment.offer_time_out(offer_id=offer.pk) is True
    (again,) = assignment.queue_assign(queue_id=queue.pk)

    assert again.agent == second
    event = CaseEvent.objects.get(case=case, kind="offer_timed_out")
    assert event.data["agent"] == first.pk and event.data["set_away"] is False
    with pytest.raises(assignment.OfferGone, match="timed out"):
        offers.offer_accept(offer_id=offer.pk, agent=first)


def test_an_answer_past_its_time_is_refused_even_before_the_sweep():
    queue = push_queue()
    agent = online_agent(queue)
    CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)
    expire(offer)

    with pytest.raises(assignment.OfferGone, match="timed out"):
        offers.offer_accept(offer_id=offer.pk, agent=agent)


def test_after_n_missed_offers_the_agent_is_set_away():
    queue = push_queue(misses_before_away=2)
    agent = online_agent(queue, capacity=5)
    for _ in range(2):
        CaseFactory(queue=queue)
        (offer,) = [o for o in assignment.queue_assign(queue_id=queue.pk) if o.agent == agent]
        expire(offer)
        assignment.offer_time_out(offer_id=offer.pk)

    status = AgentStatus.objects.get(user=agent)
    assert (status.state, status.chosen, status.missed_offers) == ("away", "away", 0)
    assert assignment.queue_assign(queue_id=queue.pk) == []  # away: offered nothing
    assert CaseEvent.objects.filter(kind="offer_timed_out", data__set_away=True).count() == 1


def test_a_claim_withdraws_the_pending_offer():
    queue = push_queue()
    offered = online_agent(queue)
    other = MembershipFactory(queue=queue).agent
    case = CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)

    agent_work.case_claim(case_id=case.pk, agent=other)

    assert Offer.objects.get(pk=offer.pk).state == Offer.State.WITHDRAWN
    assert CaseEvent.objects.filter(case=case, kind="offer_withdrawn").exists()
    with pytest.raises(assignment.OfferGone, match="taken another way"):
        offers.offer_accept(offer_id=offer.pk, agent=offered)


def test_reserved_slots_are_kept_for_vip_and_urgent_cases():
    queue = push_queue(reserved_slots=1)
    agent = online_agent(queue, capacity=2)
    CaseFactory(queue=queue, assignee=agent, status=Case.Status.ASSIGNED)
    normal = CaseFactory(queue=queue)

    assert assignment.queue_assign(queue_id=queue.pk) == []  # one slot left: the reserved one

    vip = CaseFactory(queue=queue, customer_tier="VIP")
    (offer,) = assignment.queue_assign(queue_id=queue.pk)
    assert offer.case == vip and pending(normal) is None
    assert assignment.takes_reserved_slot(CaseFactory.build(priority=Case.Priority.URGENT))


def test_the_overall_cap_counts_cases_of_every_queue():
    queue, other = push_queue(), QueueFactory()
    agent = online_agent(queue, capacity=5, max_open=2)
    MembershipFactory(queue=other, agent=agent)
    for q in (queue, other):
        CaseFactory(queue=q, assignee=agent, status=Case.Status.ASSIGNED)
    CaseFactory(queue=queue)

    assert assignment.queue_assign(queue_id=queue.pk) == []


def test_accept_refuses_past_capacity():
    queue = push_queue()
    agent = online_agent(queue, capacity=1)
    CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)
    CaseFactory(queue=queue, assignee=agent, status=Case.Status.ASSIGNED)  # took one meanwhile

    with pytest.raises(agent_work.CapacityReached):
        offers.offer_accept(offer_id=offer.pk, agent=agent)
    assert Case.objects.filter(assignee=agent).count() == 1


def test_the_sweep_times_out_offers_and_offers_what_waits():
    queue = push_queue()
    first = online_agent(queue, capacity=3)
    second = online_agent(queue)
    case = CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)
    expire(offer)

    made = assignment.assignment_sweep()

    assert made == 1
    assert pending(case).agent == second != first


@pytest.mark.parametrize("state", ["away", "offline"])
def test_an_agent_stepping_away_hands_back_their_offer_without_a_miss(
    state, django_capture_on_commit_callbacks
):
    # given an offer to the first agent, who had missed one before, and a colleague free
    queue = push_queue(misses_before_away=2)
    agent = online_agent(queue, missed_offers=1, last_assigned_at=timezone.now() - timedelta(1))
    colleague = online_agent(queue, last_assigned_at=timezone.now())
    case = CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)
    assert offer.agent == agent

    # when they step away
    with django_capture_on_commit_callbacks(execute=True):
        assignment.agent_state_choose(user=agent, state=state)

    # then the offer is withdrawn, not let time out: no miss, the state they chose
    offer.refresh_from_db()
    assert offer.state == Offer.State.WITHDRAWN
    event = CaseEvent.objects.get(case=case, kind="offer_withdrawn")
    assert event.data == {"offer": offer.pk, "agent": agent.pk, "reason": f"agent_{state}"}
    assert not CaseEvent.objects.filter(kind="offer_timed_out").exists()
    status = AgentStatus.objects.get(user=agent)
    assert (status.chosen, status.missed_offers) == (state, 0)
    # and the case goes to the colleague
    assignment.queue_assign(queue_id=queue.pk)
    assert pending(case).agent == colleague


def test_an_agent_whose_last_page_closed_hands_back_their_offer():
    queue = push_queue()
    agent = UserFactory(role="agent")
    MembershipFactory(queue=queue, agent=agent)
    presence.presence_join(channel_name="c1", user=agent, case_id=None)
    presence.agent_page_seen(user_id=agent.pk)
    case = CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)

    # the page closes (the socket's disconnect), then the task it sends runs
    presence.presence_leave(channel_name="c1")
    assert presence.agent_page_left(user_id=agent.pk) is True
    assignment.agent_left(agent.pk)

    assert Offer.objects.get(pk=offer.pk).state == Offer.State.WITHDRAWN
    assert CaseEvent.objects.get(case=case, kind="offer_withdrawn").data["reason"] == (
        "agent_offline"
    )
    assert AgentStatus.objects.get(user=agent).missed_offers == 0


def test_a_reload_keeps_the_offer_the_page_closed_and_opened_again_before_the_grace_ends():
    queue = push_queue()
    agent = UserFactory(role="agent")
    MembershipFactory(queue=queue, agent=agent)
    presence.presence_join(channel_name="c1", user=agent, case_id=None)
    presence.agent_page_seen(user_id=agent.pk)
    CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)

    # the page closes, the next one opens (a reload), then the closing's task runs
    presence.presence_leave(channel_name="c1")
    presence.agent_page_left(user_id=agent.pk)
    presence.presence_join(channel_name="c2", user=agent, case_id=None)
    presence.agent_page_seen(user_id=agent.pk)
    assignment.agent_left(agent.pk)

    assert Offer.objects.get(pk=offer.pk).state == Offer.State.PENDING


def test_the_sweep_hands_back_the_offer_of_an_agent_whose_pages_lapsed():
    queue = push_queue()
    agent = online_agent(queue)
    case = CaseFactory(queue=queue)
    (offer,) = assignment.queue_assign(queue_id=queue.pk)
    AgentStatus.objects.filter(user=agent).update(online_until=timezone.now() - timedelta(1))

    assignment.assignment_sweep()

    assert Offer.objects.get(pk=offer.pk).state == Offer.State.WITHDRAWN
    assert pending(case) is None  # nobody else online: the case waits, offered to no one


# --- the agent's state ------------------------------------------------------------------------


def test_state_follows_pages_and_comes_back_as_chosen():
    agent = UserFactory(role="agent")
    presence.presence_join(channel_name="c1", user=agent, case_id=None)

    assert presence.agent_page_seen(user_id=agent.pk) == "online"  # first page: online
    assignment.agent_state_choose(user=agent, state="away")
    assert presence.agent_states([agent.pk]) == {agent.pk: "away"}

    # the last page closes: offline
    presence.presence_leave(channel_name="c1")
    assert presence.agent_page_left(user_id=agent.pk) is True
    assert AgentStatus.objects.get(user=agent).state == "offline"

    # back: the state they chose
    assert presence.agent_page_seen(user_id=agent.pk) == "away"


def test_switch_goes_online_from_away_and_away_from_online_as_held_now():
    agent = UserFactory(role="agent")
    presence.presence_join(channel_name="c1", user=agent, case_id=None)
    presence.agent_page_seen(user_id=agent.pk)
    AgentStatus.objects.filter(user=agent).update(chosen="away", state="away")  # set by the desk

    assert assignment.agent_state_choose(user=agent, state=assignment.SWITCH).chosen == "online"
    assert assignment.agent_state_choose(user=agent, state=assignment.SWITCH).chosen == "away"


def test_a_page_that_stops_beating_lapses_the_agent_by_the_sweep():
    queue = push_queue()
    agent = online_agent(queue)
    AgentStatus.objects.filter(user=agent).update(online_until=timezone.now() - timedelta(1))

    assert presence.agent_states([agent.pk]) == {agent.pk: "offline"}  # at once, for pages
    assert presence.agents_lapsed() == [agent.pk]  # and for the record, by the sweep
    assert AgentStatus.objects.get(user=agent).state == "offline"


def test_closing_one_of_two_pages_keeps_the_agent_on():
    agent = UserFactory(role="agent")
    presence.presence_join(channel_name="c1", user=agent, case_id=None)
    presence.presence_join(channel_name="c2", user=agent, case_id=None)
    presence.agent_page_seen(user_id=agent.pk)

    presence.presence_leave(channel_name="c1")

    assert presence.agent_page_left(user_id=agent.pk) is False
    assert presence.agent_states([agent.pk]) == {agent.pk: "online"}


def test_an_unknown_state_is_refused():
    with pytest.raises(ValueError):
        assignment.agent_state_choose(user=UserFactory(), state="busy")


# --- many agents, many cases ------------------------------------------------------------------


def run_threads(count: int, target: Any) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        barrier.wait()
        try:
            outcome = target(n)
        except Exception as error:
            outcome = error
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_case_locked_by_a_short_write_is_offered_by_a_run_a_moment_later(monkeypatch):
    """SKIP LOCKED passes over a case another transaction is writing (the escalation timing
    just after intake); the run looks again shortly, a bounded number of times, instead of
    leaving the case to the next handoff or the sweep."""
    # given: a free agent, and a waiting case held by another connection's write
    queue = push_queue()
    online_agent(queue)
    case = CaseFactory(queue=queue)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Case.objects.select_for_update().get(pk=case.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(10)
    later: list[tuple[Any, float]] = []
    monkeypatch.setattr(
        assignment.assign_queue,
        "apply_async",
        lambda args, countdown: later.append((args, countdown)),
    )

    # when: the run meets the lock, then the write ends
    assert assignment.queue_assign(queue_id=queue.pk) == []
    release.set()
    holder.join(10)

    # then: a second look was asked for, and it offers the case
    assert later == [((queue.pk, 1), assignment.LOCKED_RETRY_SECONDS)]
    assignment.assign_queue(*later[0][0])
    assert pending(case) is not None
    assert len(later) == 1  # nothing left out: no third look


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_case_held_by_a_write_that_ends_soon_is_offered_in_the_same_run(monkeypatch):
    """The usual lock is a write of a millisecond or two: the run waits for it in place (up to
    BRIEF_LOCK_WAIT_MS; long here, so a slow machine does not decide the test) and offers the
    case at once, with no second look."""
    # given: a free agent, and a waiting case another connection is writing for a moment
    queue = push_queue()
    online_agent(queue)
    case = CaseFactory(queue=queue)
    monkeypatch.setattr(assignment, "BRIEF_LOCK_WAIT_MS", 5_000)
    later: list[Any] = []
    monkeypatch.setattr(
        assignment.assign_queue, "apply_async", lambda args, countdown: later.append(args)
    )
    locked = threading.Event()

    def write_briefly() -> None:
        try:
            with transaction.atomic():
                Case.objects.select_for_update().get(pk=case.pk)
                locked.set()
                time.sleep(0.3)
        finally:
            connection.close()

    writer = threading.Thread(target=write_briefly)
    writer.start()
    locked.wait(10)

    # when: a run starts while the write holds the case
    offers = assignment.queue_assign(queue_id=queue.pk)
    writer.join(10)

    # then: the run waited for the write and offered the case itself
    assert [offer.case_id for offer in offers] == [case.pk]
    assert later == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_second_looks_at_a_locked_case_stop_after_a_few(monkeypatch):
    queue = push_queue()
    online_agent(queue)
    case = CaseFactory(queue=queue)
    later: list[Any] = []
    monkeypatch.setattr(
        assignment.assign_queue, "apply_async", lambda args, countdown: later.append(args)
    )

    with transaction.atomic(using="default"):
        Case.objects.select_for_update().get(pk=case.pk)
        for retry in range(assignment.LOCKED_RETRIES + 1):
            outcome: list[Any] = []
            thread = threading.Thread(
                target=lambda r=retry: (
                    outcome.append(assignment.assign_queue(queue.pk, r)),
                    connection.close(),
                )
            )
            thread.start()
            thread.join(10)

    assert later == [(queue.pk, n) for n in range(1, assignment.LOCKED_RETRIES + 1)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_agents_and_many_cases_each_case_assigned_exactly_once():
    """Twelve threads at once: each runs the queue's assignment, accepts what it was offered,
    and also claims and takes next as pull agents would, until the line is empty."""
    # given
    queue = push_queue()
    agents = [online_agent(queue, capacity=50) for _ in range(12)]
    cases = [CaseFactory(queue=queue) for _ in range(60)]

    def work(n: int) -> list[int]:
        mine = agents[n]
        got: list[int] = []
        for round_ in range(200):
            assignment.queue_assign(queue_id=queue.pk)
            offer = Offer.objects.filter(agent=mine, state=Offer.State.PENDING).first()
            try:
                if offer is not None and (n + round_) % 5:
                    got.append(offers.offer_accept(offer_id=offer.pk, agent=mine).pk)
                elif offer is not None:
                    offers.offer_decline(offer_id=offer.pk, agent=mine)
                elif n % 4 == 0 and (taken := agent_work.case_take_next(agent=mine)):
                    got.append(taken.pk)
            except (assignment.OfferGone, agent_work.CaseActionError):
                pass
            if not Case.objects.filter(queue=queue, status=Case.Status.WAITING).exists():
                break
        return got

    # when
    results = run_threads(12, work)

    # then
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors
    got = [pk for result in results for pk in result]
    assert sorted(got) == sorted(c.pk for c in cases)  # every case, each once
    assert Case.objects.filter(queue=queue, status=Case.Status.ASSIGNED).count() == 60
    per_case = CaseEvent.objects.filter(kind__in=("offer_accepted", "claimed")).values_list(
        "case_id", flat=True
    )
    assert len(per_case) == len(set(per_case)) == 60
    assert not Offer.objects.filter(state=Offer.State.PENDING).exists()
    assert (
        Offer.objects.filter(state=Offer.State.ACCEPTED).count()
        == CaseEvent.objects.filter(kind="offer_accepted").count()
    )


def test_a_run_finding_the_line_empty_stops_there():
    """Most runs of a push queue come after a resolve or an accept, when its line is empty:
    they read the queue and its line, nothing of its agents."""
    queue = push_queue()
    online_agent(queue)
    CaseFactory(queue=queue, status=Case.Status.ASSIGNED)

    with CaptureQueriesContext(connection) as queries:
        assert assignment.queue_assign(queue_id=queue.pk) == []

    read = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]  # the test's transaction
    assert len(read) == 2
    assert '"queues_queue"' in read[0] and '"cases_case"' in read[1]


def test_an_agent_with_room_again_gets_one_offer_and_their_other_queues_are_not_run(
    monkeypatch,
):
    # given an agent of two push queues, each with a case waiting, and no one else online
    first, second = push_queue(name="A"), push_queue(name="B")
    agent = online_agent(first, capacity=3)
    MembershipFactory(queue=second, agent=agent, capacity=3)
    for queue in (first, second):
        CaseFactory(queue=queue)
    runs: list[int] = []
    run = assignment.queue_assign

    def counted(*, queue_id: int, retry: int = 0) -> list[Offer]:
        runs.append(queue_id)
        return run(queue_id=queue_id, retry=retry)

    monkeypatch.setattr(assignment, "queue_assign", counted)

    # when they have room again
    assignment.assign_for_agent(agent.pk)

    # then one offer, from one run: the other queue has nothing for them while it is pending
    assert Offer.objects.filter(agent=agent, state=Offer.State.PENDING).count() == 1
    assert len(runs) == 1
