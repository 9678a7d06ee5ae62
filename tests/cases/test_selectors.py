"""Reads for pages and the API (cases/selectors.py): the queue page's search box (what it finds,
and on PostgreSQL that it reads the trigram index), the queue list's previews, wait estimates."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.db import connection, transaction
from django.utils import timezone

from cases import presence
from cases.models import Case, Message
from cases.selectors import (
    QueueFilters,
    QueueView,
    WaitEstimate,
    cases_in_work,
    queue_staffing,
    wait_estimate,
    waiting_cases,
)
from queues.models import Queue
from tests.factories import (
    CaseFactory,
    MembershipFactory,
    MessageFactory,
    QueueFactory,
    agent_online,
    cases_handled,
)

pytestmark = pytest.mark.django_db


def found(queue, term: str) -> set[int]:
    return set(waiting_cases(queue, QueueFilters(q=term)).values_list("pk", flat=True))


def test_search_finds_name_email_ids_and_fact_values_whatever_the_case():
    queue = QueueFactory()
    vera = CaseFactory(
        queue=queue,
        customer_name="Vera Okafor",
        customer_email="vera@example.org",
        customer_ref="cus_9001",
        external_id="conv-AB12",
        facts={"order_id": "Z-77", "amount": "49.99"},
    )
    other = CaseFactory(queue=queue, customer_name="Liam Brennan", facts={"order_id": "Q-1"})

    assert found(queue, "OKAF") == {vera.pk}
    assert found(queue, "vera@example") == {vera.pk}
    assert found(queue, "cus_900") == {vera.pk}
    assert found(queue, "ab12") == {vera.pk}
    assert found(queue, "z-77") == {vera.pk}
    assert found(queue, "order_id") == {vera.pk, other.pk}  # fact names are searched too
    assert found(queue, "nobody-has-this") == set()


def test_search_folds_case_as_the_database_does_so_non_ascii_names_are_found():
    queue = QueueFactory()
    emile = CaseFactory(queue=queue, customer_name="Émile Zola")
    istanbul = CaseFactory(queue=queue, customer_name="İstanbul Kargo")

    assert found(queue, "Émile") == {emile.pk}
    assert found(queue, "ZOLA") == {emile.pk}
    assert found(queue, "İstanbul") == {istanbul.pk}


def test_a_term_never_matches_across_two_fields():
    queue = QueueFactory()
    CaseFactory(queue=queue, customer_name="Vera Okafor", customer_email="vera@example.org")

    assert found(queue, "okafor vera") == set()
    assert found(queue, "vera okafor") != set()


def test_search_treats_like_wildcards_as_plain_characters():
    queue = QueueFactory()
    percent = CaseFactory(queue=queue, customer_name="100% Satisfied")
    CaseFactory(queue=queue, customer_name="100 Satisfied")
    underscore = CaseFactory(queue=queue, customer_name="a_b")
    CaseFactory(queue=queue, customer_name="axb")

    assert found(queue, "100%") == {percent.pk}
    assert found(queue, "a_b") == {underscore.pk}


def test_search_lists_only_the_queues_waiting_cases():
    queue = QueueFactory()
    waiting = CaseFactory(queue=queue, customer_name="Mia Tanaka")
    CaseFactory(queue=queue, customer_name="Mia Tanaka", status=Case.Status.RESOLVED)
    CaseFactory(queue=QueueFactory(), customer_name="Mia Tanaka")

    assert found(queue, "tanaka") == {waiting.pk}


@pytest.mark.postgres
def test_search_on_postgresql_reads_the_trigram_index_of_waiting_cases():
    # given a queue deep enough that scanning it would cost something
    queue = QueueFactory()
    template = CaseFactory.build(queue=queue, integration=CaseFactory().integration)
    Case.objects.bulk_create(
        [
            Case(
                **{
                    f.attname: getattr(template, f.attname)
                    for f in Case._meta.concrete_fields
                    if not f.primary_key and not getattr(f, "generated", False)
                }
                | {"external_id": f"conv-bulk-{n}", "customer_name": f"Customer {n}"}
            )
            for n in range(3000)
        ]
    )
    CaseFactory(queue=queue, customer_name="Vera Okafor")
    with connection.cursor() as cursor:
        # What autovacuum does on a live desk: merge the index's pending list of fresh entries,
        # which the planner otherwise counts as a scan of its own.
        cursor.execute("SELECT gin_clean_pending_list('case_waiting_search'::regclass)")
        cursor.execute("ANALYZE cases_case")

    # when the planner is asked how it answers a search (a test table is small enough that
    # reading all of it would win, so that choice is taken away)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = waiting_cases(queue, QueueFilters(q="okafor")).explain()

    # then it reads the trigram index, not every waiting case
    assert "case_waiting_search" in plan, plan
    assert found(queue, "okafor") and len(found(queue, "customer 2999")) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # CREATE INDEX CONCURRENTLY runs outside transactions
def test_the_search_index_migration_rebuilds_what_an_interrupted_build_left_invalid():
    migration = importlib.import_module("cases.migrations.0012_case_waiting_search")
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("marking an index invalid needs a superuser")
        # given: what a build stopped halfway leaves behind
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false"
            " WHERE indexrelid = 'case_waiting_search'::regclass"
        )

    # when: migrate runs it again
    with connection.schema_editor(atomic=False) as editor:
        migration.create_search_index(django_apps, editor)

    # then: a valid index, usable by the planner again
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'case_waiting_search'::regclass"
        )
        assert cursor.fetchone() == (True,)


def bulk_waiting(queue, count: int, **fields) -> None:
    template = CaseFactory.build(queue=queue, integration=CaseFactory().integration)
    Case.objects.bulk_create(
        [
            Case(
                **{
                    f.attname: getattr(template, f.attname)
                    for f in Case._meta.concrete_fields
                    if not f.primary_key and not getattr(f, "generated", False)
                }
                | {"external_id": f"conv-bulk-{n}", "customer_name": f"Customer {n}"}
                | fields
            )
            for n in range(count)
        ]
    )


def test_the_list_carries_the_latest_customer_message_in_one_query(django_assert_num_queries):
    queue = QueueFactory()
    for n in range(3):
        case = CaseFactory(queue=queue, customer_name=f"Customer {n}")
        MessageFactory(case=case, seq=1, text=f"first of {n}")
        MessageFactory(case=case, seq=2, text=f"latest of {n}")
        MessageFactory(case=case, seq=3, role=Message.Role.AGENT, text="an agent's reply")
    quiet = CaseFactory(queue=queue, customer_name="Quiet")

    with django_assert_num_queries(1):
        texts = {
            c.customer_name: c.last_customer_text for c in waiting_cases(queue, QueueFilters())
        }

    assert texts == {
        "Customer 0": "latest of 0",
        "Customer 1": "latest of 1",
        "Customer 2": "latest of 2",
        quiet.customer_name: None,
    }


@pytest.mark.postgres
def test_the_queue_list_on_postgresql_reads_its_indexes_for_rows_and_previews():
    # given a deep queue whose cases have conversations, in a desk whose history (as any
    # desk's) is mostly resolved cases: with no history, reading every case in order of its last
    # change (the rollups' case_updated index) is as cheap as the queue's own index
    queue = QueueFactory()
    bulk_waiting(queue, 2000)
    bulk_waiting(queue, 200, status=Case.Status.ASSIGNED)
    bulk_waiting(QueueFactory(), 8000, status=Case.Status.RESOLVED)
    for case in Case.objects.filter(queue=queue)[:300]:
        MessageFactory(case=case, seq=1)
        MessageFactory(case=case, seq=2, role=Message.Role.BOT)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")
        cursor.execute("ANALYZE cases_message")

    # when the planner is asked how it answers a page of each tab
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        waiting = waiting_cases(queue, QueueFilters())[:50].explain()
        held = cases_in_work(queue, QueueView.ASSIGNED, QueueFilters())[:50].explain()

    # then the rows come from the waiting index in the list's order (no sort of the queue),
    # and each preview is one probe of the messages' (case, seq) index
    rows, _, preview = waiting.partition("SubPlan")
    assert "Index Scan using case_waiting" in rows and "Sort" not in rows, waiting
    assert "message_seq_unique" in preview, waiting
    assert "case_queue_age" in held and "message_seq_unique" in held, held


MIN = 60


@pytest.fixture
def queue() -> Queue:
    return QueueFactory(slug="billing", name="Billing", sla_seconds=10 * MIN)


def test_stale_presence_and_online_non_members_do_not_count(queue):
    stale = agent_online(queue)
    presence.Presence.objects.filter(user=stale).update(
        seen_at=timezone.now() - presence.STALE_AFTER - timedelta(seconds=1)
    )
    elsewhere = MembershipFactory(queue=QueueFactory(slug="other")).agent
    presence.presence_join(channel_name="chan-elsewhere", user=elsewhere, case_id=None)

    assert queue_staffing(queue.pk).agents_online == 0
    assert wait_estimate(queue, 1).basis == "no_agents_online"


def test_history_older_than_a_day_or_of_another_queue_is_not_used(queue):
    agent_online(queue, capacity=1, holding=1)
    cases_handled(queue, 10, 10, 10, claimed_ago=timedelta(hours=25))
    cases_handled(QueueFactory(slug="other"), 10, 10, 10)

    assert wait_estimate(queue, 1).basis == "sla_target"


def test_the_live_estimate_is_never_under_a_minute(queue):
    agent_online(queue, capacity=10, holding=10)
    cases_handled(queue, 1, 1, 1)

    assert wait_estimate(queue, 1).seconds == MIN  # 1 x 60 s / 10 slots = 6 s → a minute


def test_a_claimed_case_has_no_wait(queue):
    assert wait_estimate(queue, None) == WaitEstimate(0, "claimed")
