"""The queue page's search box: what it finds, and on PostgreSQL that it reads the trigram index."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection, transaction

from cases.models import Case
from cases.selectors import QueueFilters, waiting_cases
from tests.factories import CaseFactory, QueueFactory

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
