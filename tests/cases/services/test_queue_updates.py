"""case.queue_updated (cases/services/queue_updates.py), called directly: who is told, when a
change is material, the one-a-minute throttle, and which changes ask for a recompute."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone

from cases.models import Case, CaseEvent, Delivery
from cases.package import HandoffPackage
from cases.selectors import customer_promise, waiting_line
from cases.services import agent_work as actions
from cases.services import queue_updates, sla
from cases.services.intake import handoff_receive
from cases.services.queue_updates import is_material, queue_updates_send, queues_updates_sweep
from cases.services.reassignment import case_reassign
from queues.models import Queue
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
    agent_online,
)

pytestmark = pytest.mark.django_db

MIN = 60


@pytest.fixture(autouse=True)
def no_debounce_left_over() -> None:
    cache.clear()  # the per-process debounce keys of an earlier test


@pytest.fixture
def queue() -> Queue:
    # Nobody online: every place waits "hard to say", the SLA target (10 minutes) in seconds.
    return QueueFactory(slug="billing", name="Billing", sla_seconds=10 * MIN)


@pytest.fixture
def hooked() -> Any:
    return IntegrationFactory(name="hooked", callback_url="https://bot.example/hooks")


def in_line(queue: Queue, integration: Any, count: int, *, told_ago: timedelta, **extra: Any):
    """``count`` waiting cases, each told at handoff its place and the 10-minute wait."""
    now = timezone.now()
    return [
        CaseFactory(
            queue=queue,
            integration=integration,
            sla_due_at=now + timedelta(minutes=10 + place),
            queue_told_at=now - told_ago,
            queue_told_position=place,
            queue_told_wait_seconds=10 * MIN,
            **extra,
        )
        for place in range(1, count + 1)
    ]


def updates() -> list[dict[str, Any]]:
    rows = Delivery.objects.filter(kind="case.queue_updated").order_by("pk")
    return [row.payload["data"] for row in rows]


@pytest.mark.parametrize(
    ("told", "now", "material"),
    [
        ((3, 600), (2, 600), True),  # one place up near the front
        ((2, 600), (3, 600), True),  # moved back: said too
        ((40, 3000), (39, 3000), False),  # one place of forty: not news
        ((40, 3000), (36, 3000), True),  # a tenth of the line
        ((5, 300), (5, 360), True),  # a minute and a fifth longer
        ((5, 300), (5, 240), True),  # a minute and a fifth shorter
        ((5, 600), (5, 660), False),  # a minute, but a tenth
        ((5, 100), (5, 140), False),  # two fifths, but under a minute
        ((5, 600), (5, 600), False),
    ],
)
def test_what_is_material(told, now, material):
    assert (
        is_material(
            told_position=told[0],
            told_wait_seconds=told[1],
            position=now[0],
            wait_seconds=now[1],
        )
        is material
    )


def test_a_claim_ahead_tells_the_cases_behind_their_new_place_in_their_language(queue, hooked):
    # given three customers waiting, told their places 5 minutes ago; the second speaks Spanish
    first, second, third = in_line(queue, hooked, 3, told_ago=timedelta(minutes=5))
    Case.objects.filter(pk=second.pk).update(customer_language="es")
    agent = MembershipFactory(queue=queue).agent

    # when an agent claims the first and the queue is recomputed
    actions.case_claim(case_id=first.pk, agent=agent)
    outcome = queue_updates_send(queue_id=queue.pk)

    # then the two behind hear their new places, each in their own language
    assert outcome.told == 2 and outcome.throttled == 0
    told = updates()
    assert [(u["case_id"], u["position"], u["previous_position"]) for u in told] == [
        (second.pk, 1, 2),
        (third.pk, 2, 3),
    ]
    assert told[0]["customer_message"] == (
        "Su turno es el siguiente. Tiempo de espera previsto: difícil de decir: ahora mismo no "
        "hay nadie del equipo conectado."
    )
    assert told[0]["language"] == "es"
    assert told[1]["customer_message"] == (
        "You are now number 2 in line. The expected wait is hard to say: no one from the team "
        "is online right now."
    )
    assert told[1] == {
        "case_id": third.pk,
        "external_id": third.external_id,
        "queue": "billing",
        "position": 2,
        "estimated_wait_seconds": 10 * MIN,
        "estimate_basis": "no_agents_online",
        "previous_position": 3,
        "previous_estimated_wait_seconds": 10 * MIN,
        "language": "en",
        "customer_message": told[1]["customer_message"],
    }
    # and what they were told is kept: the baseline of the next update, and the agent's page
    third.refresh_from_db()
    assert (third.queue_told_position, third.queue_told_wait_seconds) == (2, 10 * MIN)
    promise = customer_promise(third)
    assert promise is not None and promise.position == 2
    assert promise.message == told[1]["customer_message"]
    assert CaseEvent.objects.filter(case=third, kind="customer_told").count() == 1


def test_updates_are_throttled_to_one_a_minute_and_the_held_back_one_follows(queue, hooked):
    # given customers told their places 30 seconds ago
    first, second = in_line(queue, hooked, 2, told_ago=timedelta(seconds=30))
    agent = MembershipFactory(queue=queue).agent
    actions.case_claim(case_id=first.pk, agent=agent)

    # when the queue is recomputed right away, the news is held back
    now = timezone.now()
    held = queue_updates_send(queue_id=queue.pk, now=now)
    assert (held.told, held.throttled) == (0, 1)
    assert updates() == []

    # and once a minute has passed since they were told, it goes out, once
    later = queue_updates_send(queue_id=queue.pk, now=now + timedelta(seconds=31))
    assert (later.told, later.throttled) == (1, 0)
    assert [u["position"] for u in updates()] == [1]
    again = queue_updates_send(queue_id=queue.pk, now=now + timedelta(minutes=5))
    assert again.told == 0 and len(updates()) == 1

    # a second material change within the minute after that is held back again
    second.refresh_from_db()
    newcomer = CaseFactory(
        queue=queue,
        integration=hooked,
        priority=Case.Priority.URGENT,
        sla_due_at=now,
        queue_told_at=now,
        queue_told_position=1,
        queue_told_wait_seconds=10 * MIN,
    )
    assert newcomer.pk  # an urgent case now stands ahead of the second
    soon = queue_updates_send(queue_id=queue.pk, now=second.queue_told_at + timedelta(seconds=20))
    assert (soon.told, soon.throttled) == (0, 1)


def test_a_change_behind_a_customer_is_not_news_to_them(queue, hooked):
    _first, _second, third = in_line(queue, hooked, 3, told_ago=timedelta(minutes=5))
    agent = MembershipFactory(queue=queue).agent

    actions.case_claim(case_id=third.pk, agent=agent)
    outcome = queue_updates_send(queue_id=queue.pk)

    assert outcome == queue_updates.QueueUpdates()
    assert updates() == []


def test_a_shorter_wait_is_news_even_in_the_same_place(queue, hooked):
    # given a customer told "second, 10 minutes" with nobody online
    _first, _second = in_line(queue, hooked, 2, told_ago=timedelta(minutes=5))

    # when an agent with two free slots comes online: both can be taken in about a minute
    agent_online(queue, capacity=2)
    outcome = queue_updates_send(queue_id=queue.pk)

    assert outcome.told == 2
    assert [(u["position"], u["estimated_wait_seconds"]) for u in updates()] == [
        (1, MIN),
        (2, MIN),
    ]
    assert updates()[1]["estimate_basis"] == "agent_free"


def test_cases_without_a_callback_url_or_what_they_were_told_are_not_sent_anything(queue, hooked):
    silent = IntegrationFactory(name="silent", callback_url="")
    first, unheard = in_line(queue, silent, 2, told_ago=timedelta(minutes=5))
    # a case from before the desk kept what it told (migration 0021): no figures yet
    legacy = CaseFactory(queue=queue, integration=hooked, sla_due_at=timezone.now())
    agent = MembershipFactory(queue=queue).agent
    actions.case_claim(case_id=first.pk, agent=agent)

    outcome = queue_updates_send(queue_id=queue.pk)

    assert outcome == queue_updates.QueueUpdates(baselined=1)
    assert updates() == []
    unheard.refresh_from_db()
    legacy.refresh_from_db()
    assert unheard.queue_told_position == 2  # untouched: nobody to tell
    assert (legacy.queue_told_position, legacy.queue_told_wait_seconds) == (1, 10 * MIN)


def test_two_recomputes_reading_the_same_line_tell_a_customer_once(queue, hooked):
    first, second = in_line(queue, hooked, 2, told_ago=timedelta(minutes=5))
    agent = MembershipFactory(queue=queue).agent
    actions.case_claim(case_id=first.pk, agent=agent)
    now = timezone.now()
    # given two workers that both read the line before either told anyone
    line_a, line_b = waiting_line(queue.pk), waiting_line(queue.pk)
    estimate = queue_updates.WaitEstimator(queue).estimate(1)
    case = Case.objects.get(pk=second.pk)

    told_a = queue_updates._tell(case, line_a[0], 1, estimate, now)
    told_b = queue_updates._tell(case, line_b[0], 1, estimate, now)

    assert (told_a, told_b) == (1, 0)
    assert len(updates()) == 1


def test_the_sweep_recomputes_every_queue_with_waiting_cases(queue, hooked):
    other = QueueFactory(slug="shipping", sla_seconds=10 * MIN)
    here = in_line(queue, hooked, 2, told_ago=timedelta(minutes=5))
    there = in_line(other, hooked, 2, told_ago=timedelta(minutes=5))
    agent = UserFactory(role="supervisor")
    for first in (here[0], there[0]):
        actions.case_claim(case_id=first.pk, agent=agent)

    assert queues_updates_sweep() == 2
    assert sorted(u["case_id"] for u in updates()) == sorted([here[1].pk, there[1].pk])


# --- which changes ask for a recompute ------------------------------------------------------


@pytest.fixture
def enqueued() -> Any:
    with mock.patch.object(queue_updates.update_queue_positions, "apply_async") as send:
        yield send


def queues_asked(send: Any) -> list[int]:
    return [call.args[0][0] for call in send.call_args_list]


def test_a_claim_asks_for_its_queue_after_commit_once_a_second(
    queue, hooked, enqueued, django_capture_on_commit_callbacks
):
    first, second, _third = in_line(queue, hooked, 3, told_ago=timedelta(minutes=5))
    agent = MembershipFactory(queue=queue).agent

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        actions.case_claim(case_id=first.pk, agent=agent)
    assert enqueued.call_count == 0  # nothing before the commit
    for callback in callbacks:
        callback()
    assert queues_asked(enqueued) == [queue.pk]
    assert enqueued.call_args.kwargs == {"countdown": queue_updates.DEBOUNCE_SECONDS}

    # a second claim within the second is read by the recompute already on its way
    with django_capture_on_commit_callbacks(execute=True):
        actions.case_claim(case_id=second.pk, agent=agent)
    assert queues_asked(enqueued) == [queue.pk]


def test_release_resolve_and_reassign_ask_for_the_queues_they_change(
    queue, hooked, enqueued, django_capture_on_commit_callbacks
):
    other = QueueFactory(slug="shipping")
    first, second = in_line(queue, hooked, 2, told_ago=timedelta(minutes=5))
    supervisor = UserFactory(role="supervisor")
    actions.case_claim(case_id=first.pk, agent=supervisor)

    with django_capture_on_commit_callbacks(execute=True):
        actions.case_release(case_id=first.pk, agent=supervisor)
    cache.clear()
    with django_capture_on_commit_callbacks(execute=True):
        case_reassign(case_id=second.pk, supervisor=supervisor, queue=other, reason="shipping")
    cache.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.case_resolve(
            case_id=first.pk,
            agent=supervisor,
            resolution_code=Case.Resolution.values[0],
            customer_repeated=False,
        )

    assert queues_asked(enqueued) == [queue.pk, queue.pk, other.pk, queue.pk]


def test_a_new_handoff_does_not_recompute_the_queue_and_keeps_what_it_told(
    queue, hooked, enqueued, django_capture_on_commit_callbacks
):
    queue.is_default = True
    queue.save()
    package = HandoffPackage.model_validate(
        {
            "external_id": "conv-1",
            "transcript": [
                {"role": "customer", "text": "Bonjour, je n'ai jamais reçu ma commande."}
            ],
        }
    )

    with django_capture_on_commit_callbacks(execute=True):
        outcome = handoff_receive(integration=hooked, package=package)

    assert enqueued.call_count == 0
    case = Case.objects.get(pk=outcome.case.pk)
    assert case.customer_language == "fr"
    assert case.queue_told_at is not None
    assert (case.queue_told_position, case.queue_told_wait_seconds) == (
        outcome.position,
        outcome.estimate.seconds,
    )
    accepted = Delivery.objects.get(case=case, kind="handoff.accepted")
    assert accepted.payload["data"]["customer_message"].startswith("Merci de votre patience.")


def test_an_sla_breach_asks_for_its_queue_as_the_case_moves_up(
    queue, hooked, enqueued, django_capture_on_commit_callbacks
):
    (late,) = in_line(queue, hooked, 1, told_ago=timedelta(minutes=5))
    Case.objects.filter(pk=late.pk).update(sla_due_at=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert sla.case_sla_breaches_mark() == 1

    assert queues_asked(enqueued) == [queue.pk]
