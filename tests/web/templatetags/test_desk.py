"""The desk's template tags (web/templatetags/desk.py): a case's facts as rows."""

from web.templatetags.desk import fact_rows


def test_identifiers_come_first_whatever_order_the_database_kept():
    # PostgreSQL's jsonb returns keys shortest first; the order number must still lead.
    stored = {"amount": "49.99", "currency": "EUR", "order_id": "A-1009", "reason": "double"}

    rows = fact_rows(stored)

    assert [row.key for row in rows] == ["order_id", "amount", "reason"]
    assert rows[0].label == "Order ID"
    assert rows[1].shown == "€49.99 (EUR)"


def test_anything_but_a_mapping_has_no_rows():
    assert fact_rows(["a", "b"]) == []
