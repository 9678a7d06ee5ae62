"""An agent's work on a case, called directly (cases/services/agent_work.py): claim, take next,
reply, note, correct the intent, await the customer, release, resolve, reopen; capacity, stale
pages and, on PostgreSQL, many agents at once.

Who may work a case someone else holds (issue 13, item 7): any agent of the queue may triage a
waiting case (its reply claims it); once held, replies, notes and intent corrections are the
holder's (or a supervisor's); a resolved case's intent is corrected by supervisors only (it
feeds the bot's retraining); a resolved case is reopened by the agent who resolved it or a
supervisor, never taken over by a colleague."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from cases import locks
from cases.models import (
    AgentStatus,
    Case,
    CaseEvent,
    Delivery,
    Intent,
    IntentCorrection,
    Message,
    RiskFlagReview,
)
from cases.services import agent_work as actions
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
    flagged_case,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def membership():
    return MembershipFactory(capacity=2)


@pytest.fixture
def agent(membership):
    return membership.agent


@pytest.fixture
def case(membership):
    return CaseFactory(queue=membership.queue)


def kinds(case: Case) -> list[str]:
    """The case's events but the changes of hands, which test_ownership.py asserts."""
    events = CaseEvent.objects.filter(case=case).exclude(kind__startswith="conversation_to_")
    return list(events.values_list("kind", flat=True))


def test_claim_assigns_the_case_and_logs_it(case, agent):
    claimed = actions.case_claim(case_id=case.pk, agent=agent, expected_version=case.version)

    assert claimed.status == Case.Status.ASSIGNED and claimed.assignee == agent
    assert claimed.first_claimed_at is not None
    assert claimed.version == case.version + 1
    assert kinds(case) == ["claimed"]


def test_a_claimed_case_tells_the_second_agent_who_has_it(case, agent, membership):
    other = MembershipFactory(queue=membership.queue).agent
    actions.case_claim(case_id=case.pk, agent=agent)

    with pytest.raises(actions.CaseAlreadyClaimed) as error:
        actions.case_claim(case_id=case.pk, agent=other)

    assert agent.first_name in str(error.value)


def test_claim_respects_capacity(membership, agent):
    for _ in range(2):
        actions.case_claim(case_id=CaseFactory(queue=membership.queue).pk, agent=agent)

    with pytest.raises(actions.CapacityReached):
        actions.case_claim(case_id=CaseFactory(queue=membership.queue).pk, agent=agent)


def overall_cap(agent, cap: int) -> None:
    AgentStatus.objects.update_or_create(user=agent, defaults={"max_open": cap})


def test_claim_and_take_next_respect_the_overall_cap_across_queues(membership, agent):
    # given: room in both queues (2 and 5), but a cap of 2 open cases across them
    other = MembershipFactory(agent=agent, capacity=5).queue
    overall_cap(agent, 2)
    actions.case_claim(case_id=CaseFactory(queue=membership.queue).pk, agent=agent)
    actions.case_claim(case_id=CaseFactory(queue=other).pk, agent=agent)
    waiting = CaseFactory(queue=other)

    with pytest.raises(actions.CapacityReached, match="overall cap"):
        actions.case_claim(case_id=waiting.pk, agent=agent)
    with pytest.raises(actions.CapacityReached, match="overall cap"):
        actions.case_reply(case_id=waiting.pk, agent=agent, text="On it.")
    assert actions.case_take_next(agent=agent) is None
    assert Case.objects.get(pk=waiting.pk).status == Case.Status.WAITING

    overall_cap(agent, 3)
    assert actions.case_take_next(agent=agent) == waiting


def test_a_write_from_a_stale_page_is_a_conflict_not_an_overwrite(case, agent):
    seen = case.version
    actions.case_note_add(case_id=case.pk, agent=agent, text="first look")

    with pytest.raises(actions.StaleCase):
        actions.case_intent_correct(
            case_id=case.pk, agent=agent, to_intent="billing.double_charge", expected_version=seen
        )
    assert Case.objects.get(pk=case.pk).current_intent == "billing.refund"


def test_intent_correction_is_logged(case, agent):
    correction = actions.case_intent_correct(
        case_id=case.pk, agent=agent, to_intent="billing.double_charge", reason="two charges"
    )

    case.refresh_from_db()
    assert case.current_intent == "billing.double_charge"
    assert case.detected_intent == "billing.refund"
    assert IntentCorrection.objects.get() == correction
    assert (correction.from_intent, correction.to_intent, correction.agent) == (
        "billing.refund",
        "billing.double_charge",
        agent,
    )
    event = CaseEvent.objects.get(case=case, kind="intent_corrected")
    assert event.data == {
        "before": "billing.refund",
        "after": "billing.double_charge",
        "reason": "two charges",
    }


@pytest.mark.parametrize("name", ["Refund please", "billing..refund", "BILLING.REFUND", "a b"])
def test_a_name_that_is_no_intent_name_is_refused(case, agent, name):
    actions.case_claim(case_id=case.pk, agent=agent)

    with pytest.raises(actions.CaseActionError, match="is not an intent name"):
        actions.case_intent_correct(case_id=case.pk, agent=agent, to_intent=name)


def test_with_a_catalogue_only_its_intents_and_those_bots_detected_are_taken(case, agent):
    # given a held case, a desk that keeps a catalogue, and a bot that detected orders.status
    actions.case_claim(case_id=case.pk, agent=agent)
    Intent.objects.create(name="billing.double_charge", label="Double charge")
    CaseFactory(detected_intent="orders.status")

    # when the agent names something in neither
    with pytest.raises(actions.CaseActionError, match="not an intent the desk knows"):
        actions.case_intent_correct(case_id=case.pk, agent=agent, to_intent="billing.x")

    # then a catalogue intent and a detected one are both taken
    actions.case_intent_correct(case_id=case.pk, agent=agent, to_intent="billing.double_charge")
    actions.case_intent_correct(case_id=case.pk, agent=agent, to_intent="orders.status")
    assert Case.objects.get(pk=case.pk).current_intent == "orders.status"


def test_reply_claims_a_waiting_case_and_is_handed_to_delivery(membership, agent):
    integration = IntegrationFactory(name="hooked", callback_url="http://127.0.0.1:9/hook")
    case = CaseFactory(queue=membership.queue, integration=integration)

    message = actions.case_reply(
        case_id=case.pk, agent=agent, text="  Hi Ana, I see the double charge.  "
    )

    case.refresh_from_db()
    assert message.role == Message.Role.AGENT and message.text == "Hi Ana, I see the double charge."
    assert case.assignee == agent and case.first_human_reply_at is not None
    assert list(Delivery.objects.filter(case=case).values_list("kind", flat=True)) == [
        "agent.joined",
        "agent.message",
        "conversation.holder_changed",
    ]


def test_empty_reply_is_refused(case, agent):
    with pytest.raises(actions.CaseActionError):
        actions.case_reply(case_id=case.pk, agent=agent, text="   ")
    assert Message.objects.count() == 0


def test_resolve_requires_a_known_code_and_records_the_repeat_answer(case, agent):
    actions.case_claim(case_id=case.pk, agent=agent)
    with pytest.raises(actions.CaseActionError):
        actions.case_resolve(
            case_id=case.pk, agent=agent, resolution_code="whatever", customer_repeated=False
        )

    resolved = actions.case_resolve(
        case_id=case.pk, agent=agent, resolution_code="refund_issued", customer_repeated=True
    )

    assert resolved.status == Case.Status.RESOLVED and resolved.resolved_at is not None
    assert resolved.customer_repeated is True
    assert kinds(case) == ["claimed", "resolved"]


def test_reopen_brings_a_resolved_case_back_to_the_agent(case, agent):
    actions.case_resolve(
        case_id=case.pk, agent=agent, resolution_code="solved", customer_repeated=False
    )

    reopened = actions.case_reopen(case_id=case.pk, agent=agent)

    assert reopened.status == Case.Status.ASSIGNED and reopened.assignee == agent


def test_reopen_is_refused_when_the_customer_came_back_in_a_newer_case(case, agent):
    actions.case_resolve(
        case_id=case.pk, agent=agent, resolution_code="solved", customer_repeated=False
    )
    newer = CaseFactory(
        queue=case.queue, integration=case.integration, external_id=case.external_id
    )

    with pytest.raises(actions.CaseActionError, match=f"#{newer.pk}"):
        actions.case_reopen(case_id=case.pk, agent=agent)


def test_release_returns_the_case_to_the_queue(case, agent):
    actions.case_claim(case_id=case.pk, agent=agent)

    released = actions.case_release(case_id=case.pk, agent=agent)

    assert released.status == Case.Status.WAITING and released.assignee is None


def test_awaiting_customer_then_a_reply_takes_it_back(case, agent):
    actions.case_claim(case_id=case.pk, agent=agent)
    actions.case_await_customer(case_id=case.pk, agent=agent)
    actions.case_reply(case_id=case.pk, agent=agent, text="Found it")

    assert Case.objects.get(pk=case.pk).status == Case.Status.ASSIGNED


def test_another_agent_cannot_work_a_case_someone_holds(case, agent, membership):
    actions.case_claim(case_id=case.pk, agent=agent)
    other = MembershipFactory(queue=membership.queue).agent

    with pytest.raises(actions.CaseAlreadyClaimed):
        actions.case_reply(case_id=case.pk, agent=other, text="me too")
    supervisor = UserFactory(role="supervisor")
    actions.case_reply(case_id=case.pk, agent=supervisor, text="supervisor stepping in")


def test_take_next_picks_the_most_urgent_case_and_respects_capacity(membership, agent):
    low = CaseFactory(queue=membership.queue, priority=Case.Priority.LOW)
    urgent = CaseFactory(queue=membership.queue, priority=Case.Priority.URGENT)
    normal = CaseFactory(queue=membership.queue, priority=Case.Priority.NORMAL)

    assert actions.case_take_next(agent=agent) == urgent
    assert actions.case_take_next(agent=agent) == normal
    assert actions.case_take_next(agent=agent) is None  # capacity 2 reached
    assert Case.objects.get(pk=low.pk).status == Case.Status.WAITING


def test_take_next_orders_the_cases_of_all_the_agents_queues_together(membership, agent):
    # given: an agent in two queues, the most urgent case in the second, ties broken by SLA
    other = MembershipFactory(agent=agent, capacity=5).queue
    soon = timezone.now() + timedelta(minutes=1)
    later = timezone.now() + timedelta(minutes=30)
    normal = CaseFactory(queue=membership.queue, priority=Case.Priority.NORMAL, sla_due_at=later)
    high_later = CaseFactory(queue=membership.queue, priority=Case.Priority.HIGH, sla_due_at=later)
    high_soon = CaseFactory(queue=other, priority=Case.Priority.HIGH, sla_due_at=soon)
    CaseFactory(queue=QueueFactory(), priority=Case.Priority.URGENT)  # not the agent's queue

    # when / then
    taken = [actions.case_take_next(agent=agent) for _ in range(3)]
    assert taken == [high_soon, high_later, normal]
    assert actions.case_take_next(agent=agent) is None  # capacity 2 of the first queue reached


def run_threads(count: int, target) -> list:
    barrier = threading.Barrier(count)
    results: list = []
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
        thread.join(timeout=60)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_agents_claiming_one_case_make_one_winner():
    case = CaseFactory()
    agents = [MembershipFactory(queue=case.queue).agent for _ in range(20)]

    results = run_threads(20, lambda n: actions.case_claim(case_id=case.pk, agent=agents[n]))

    winners = [r for r in results if isinstance(r, Case)]
    losers = [r for r in results if isinstance(r, actions.CaseAlreadyClaimed)]
    assert len(winners) == 1 and len(losers) == 19
    assert CaseEvent.objects.filter(case=case, kind="claimed").count() == 1
    assert Case.objects.get(pk=case.pk).assignee == winners[0].assignee


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_take_next_never_gives_one_case_twice_under_concurrency():
    queue = MembershipFactory().queue
    cases = [CaseFactory(queue=queue) for _ in range(30)]
    agents = [MembershipFactory(queue=queue, capacity=100).agent for _ in range(10)]

    def take(n: int) -> list[int]:
        return [c.pk for _ in range(5) if (c := actions.case_take_next(agent=agents[n]))]

    results = run_threads(10, take)

    taken = [pk for result in results for pk in result]
    assert len(taken) == len(set(taken)) == 30
    assert sorted(taken) == sorted(c.pk for c in cases)
    assert CaseEvent.objects.filter(kind="claimed").count() == 30


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_take_next_reads_the_whole_queue_when_every_candidate_is_locked(monkeypatch):
    # given: only the most urgent case is a candidate, and another transaction holds it
    monkeypatch.setattr(locks, "NEXT_CANDIDATES", 1)
    membership = MembershipFactory()
    urgent = CaseFactory(queue=membership.queue, priority=Case.Priority.URGENT)
    normal = CaseFactory(queue=membership.queue, priority=Case.Priority.NORMAL)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                locks.lock_case(urgent.pk)
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)
    try:
        # when
        taken = actions.case_take_next(agent=membership.agent)
    finally:
        release.set()
        holder.join(30)

    # then: the next case, not "nothing waiting"
    assert taken == normal
    assert Case.objects.get(pk=urgent.pk).status == Case.Status.WAITING


@pytest.mark.django_db
def test_claiming_a_resolved_case_says_so_even_to_the_agent_who_had_it(case, agent):
    actions.case_claim(case_id=case.pk, agent=agent)
    actions.case_resolve(
        case_id=case.pk, agent=agent, resolution_code="solved", customer_repeated=False
    )

    with pytest.raises(actions.CaseActionError, match=r"resolved\. Reopen it first"):
        actions.case_claim(case_id=case.pk, agent=agent)

    assert kinds(case).count("claimed") == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_agents_parallel_claims_never_exceed_their_capacity():
    membership = MembershipFactory(capacity=3)
    cases = [CaseFactory(queue=membership.queue) for _ in range(12)]

    results = run_threads(
        12, lambda n: actions.case_claim(case_id=cases[n].pk, agent=membership.agent)
    )

    assert sum(isinstance(r, Case) for r in results) == 3
    assert sum(isinstance(r, actions.CapacityReached) for r in results) == 9
    assert Case.objects.filter(assignee=membership.agent).count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_agents_parallel_claims_in_many_queues_never_exceed_their_overall_cap():
    agent = UserFactory()
    queues = [MembershipFactory(agent=agent, capacity=5).queue for _ in range(4)]
    overall_cap(agent, 3)
    cases = [CaseFactory(queue=queues[n % 4]) for n in range(12)]

    results = run_threads(12, lambda n: actions.case_claim(case_id=cases[n].pk, agent=agent))

    assert sum(isinstance(r, Case) for r in results) == 3
    assert Case.objects.filter(assignee=agent).count() == 3


# --- who may work a case someone else holds ----------------------------------------------------


@pytest.fixture
def team():
    holder = MembershipFactory(capacity=3)
    colleague = MembershipFactory(queue=holder.queue, capacity=3).agent
    supervisor = UserFactory(role="supervisor")
    case = CaseFactory(queue=holder.queue)
    actions.case_claim(case_id=case.pk, agent=holder.agent)
    return {"case": case, "holder": holder.agent, "colleague": colleague, "supervisor": supervisor}


def resolve(case: Case, agent) -> None:
    actions.case_resolve(
        case_id=case.pk, agent=agent, resolution_code="solved", customer_repeated=False
    )


def test_a_colleague_cannot_note_or_correct_a_case_someone_holds(team):
    case, colleague = team["case"], team["colleague"]

    with pytest.raises(actions.CaseAlreadyClaimed):
        actions.case_note_add(case_id=case.pk, agent=colleague, text="my two cents")
    with pytest.raises(actions.CaseAlreadyClaimed):
        actions.case_intent_correct(case_id=case.pk, agent=colleague, to_intent="billing.dispute")

    assert not Message.objects.filter(case=case, role="note").exists()
    assert not IntentCorrection.objects.exists()


def test_the_holder_and_a_supervisor_can(team):
    case = team["case"]

    actions.case_note_add(case_id=case.pk, agent=team["holder"], text="checked Stripe")
    actions.case_note_add(case_id=case.pk, agent=team["supervisor"], text="approved the refund")
    actions.case_intent_correct(
        case_id=case.pk, agent=team["supervisor"], to_intent="billing.dispute"
    )

    assert Message.objects.filter(case=case, role="note").count() == 2
    assert Case.objects.get(pk=case.pk).current_intent == "billing.dispute"


def test_a_waiting_case_is_anyone_in_the_queues_to_triage():
    membership = MembershipFactory()
    case = CaseFactory(queue=membership.queue)

    actions.case_intent_correct(
        case_id=case.pk, agent=membership.agent, to_intent="billing.dispute"
    )

    assert Case.objects.get(pk=case.pk).current_intent == "billing.dispute"


def test_a_resolved_cases_intent_is_corrected_by_supervisors_only(team):
    case = team["case"]
    resolve(case, team["holder"])

    with pytest.raises(actions.CaseActionError, match="corrected by a supervisor"):
        actions.case_intent_correct(
            case_id=case.pk, agent=team["holder"], to_intent="billing.dispute"
        )
    actions.case_intent_correct(
        case_id=case.pk, agent=team["supervisor"], to_intent="billing.dispute"
    )

    assert IntentCorrection.objects.get().agent == team["supervisor"]


def test_a_colleague_cannot_reopen_and_take_over_a_resolved_case(team):
    case = team["case"]
    resolve(case, team["holder"])

    with pytest.raises(actions.CaseActionError, match="only they or a supervisor"):
        actions.case_reopen(case_id=case.pk, agent=team["colleague"])
    assert Case.objects.get(pk=case.pk).status == Case.Status.RESOLVED

    actions.case_reopen(case_id=case.pk, agent=team["holder"])
    assert Case.objects.get(pk=case.pk).assignee == team["holder"]


# --- risk flag verdicts: audited like an intent correction --------------------------------------


@pytest.fixture
def flagged() -> Case:
    return flagged_case()


def test_a_verdict_is_recorded_with_who_raised_the_flag_and_audited(flagged: Case) -> None:
    # when the holder confirms the derived flag
    review = actions.case_risk_flag_review(
        case_id=flagged.pk, agent=flagged.assignee, flag="chargeback_threat", verdict="confirmed"
    )

    # then it is stored, raised by the desk's detectors, and on the audit trail
    assert (review.flag, review.raised_by, review.verdict) == (
        "chargeback_threat",
        "derived",
        "confirmed",
    )
    event = CaseEvent.objects.filter(case=flagged, kind="risk_flag_reviewed").get()
    assert event.data == {
        "flag": "chargeback_threat",
        "verdict": "confirmed",
        "raised_by": "derived",
    }
    assert Case.objects.get(pk=flagged.pk).version == flagged.version + 1


def test_a_second_verdict_replaces_the_first(flagged: Case) -> None:
    for verdict in ("confirmed", "dismissed"):
        actions.case_risk_flag_review(
            case_id=flagged.pk, agent=flagged.assignee, flag="high_value", verdict=verdict
        )

    assert list(RiskFlagReview.objects.values_list("flag", "verdict")) == [
        ("high_value", "dismissed")
    ]


@pytest.mark.parametrize(
    ("flag", "verdict", "message"),
    [
        ("legal_threat", "confirmed", "no “legal_threat” flag"),
        ("high_value", "maybe", "Confirm or dismiss"),
    ],
)
def test_a_flag_the_case_lacks_or_an_unknown_verdict_is_refused(
    flagged: Case, flag: str, verdict: str, message: str
) -> None:
    with pytest.raises(actions.CaseActionError, match=message):
        actions.case_risk_flag_review(
            case_id=flagged.pk, agent=flagged.assignee, flag=flag, verdict=verdict
        )
    assert not RiskFlagReview.objects.exists()


def test_a_colleague_who_does_not_hold_the_case_cannot_judge_its_flags(flagged: Case) -> None:
    colleague = MembershipFactory(queue=flagged.queue).agent

    with pytest.raises(actions.CaseAlreadyClaimed):
        actions.case_risk_flag_review(
            case_id=flagged.pk, agent=colleague, flag="high_value", verdict="dismissed"
        )
