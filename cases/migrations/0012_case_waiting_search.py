"""A trigram index for the queue page's search box, on PostgreSQL only.

Its expression is, term for term, ``cases.selectors.SearchText``: the planner uses the index
only for the very same expression, and ``tests/cases/test_selectors.py`` checks that it does. Like
``case_waiting`` it holds waiting cases only, the ones the queue page lists. SQLite has no
trigram index and scans, as it did before.

The index is built CONCURRENTLY (so the migration is not atomic): on a desk with millions of
cases the build reads the whole table, and handoffs must go on arriving meanwhile. A build that
was interrupted leaves an invalid index, which the next run drops and builds again.

It needs the pg_trgm extension, which ships with PostgreSQL. Creating it takes the CREATE
privilege on the database (a superuser before PostgreSQL 13). Where the desk's role may not, the
migration still applies, without the index, and says how to add it later: the search is then a
scan of the queue's waiting cases, correct and slower.
"""

import sys

from django.db import migrations, transaction
from django.db.utils import DatabaseError

SEARCH_INDEX = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS case_waiting_search ON cases_case USING gin (
    (LOWER(customer_name || E'\\n' || customer_email || E'\\n' || external_id || E'\\n'
           || customer_ref || E'\\n' || (facts)::text)) gin_trgm_ops
) WHERE status = 'waiting'
"""

WITHOUT_TRIGRAMS = (
    "cases.0012: no pg_trgm extension and no right to create it, so the queue search has no "
    "index and scans. To add it: CREATE EXTENSION pg_trgm; (as a superuser, in this database), "
    "then: manage.py migrate cases 0011 && manage.py migrate\n"
)


def _has_trigrams(schema_editor) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone():
            return True
        try:
            # Its own transaction (the migration is not atomic): a refusal leaves nothing.
            with transaction.atomic(using=schema_editor.connection.alias):
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError:
            return False
    return True


def create_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    if not _has_trigrams(schema_editor):
        sys.stderr.write(WITHOUT_TRIGRAMS)
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT indisvalid FROM pg_index"
            " WHERE indexrelid = to_regclass('case_waiting_search')"
        )
        left_invalid = cursor.fetchone()
    if left_invalid and left_invalid[0]:
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS case_waiting_search")
    schema_editor.execute(SEARCH_INDEX)


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS case_waiting_search")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("cases", "0011_case_waiting_index")]

    operations = [migrations.RunPython(create_search_index, drop_search_index)]
