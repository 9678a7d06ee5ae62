"""A trigram index for the queue page's search box, on PostgreSQL only.

Its expression is, term for term, ``cases.selectors.SearchText``: the planner uses the index
only for the very same expression, and ``tests/cases/test_search.py`` checks that it does. Like
``case_waiting`` it holds waiting cases only, the ones the queue page lists. SQLite has no
trigram index and scans, as it did before.
"""

from django.db import migrations

SEARCH_INDEX = """
CREATE INDEX IF NOT EXISTS case_waiting_search ON cases_case USING gin (
    (LOWER(customer_name || ' ' || customer_email || ' ' || external_id || ' '
           || customer_ref || ' ' || (facts)::text)) gin_trgm_ops
) WHERE status = 'waiting'
"""


def create_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm ships with PostgreSQL and is a trusted extension: a database owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(SEARCH_INDEX)


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS case_waiting_search")


class Migration(migrations.Migration):
    dependencies = [("cases", "0011_case_waiting_index")]

    operations = [migrations.RunPython(create_search_index, drop_search_index)]
