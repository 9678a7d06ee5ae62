"""The rule editor's pages (admins): every post read by a form, a mistake answered with the form
again and the field's message (400), a draft changed meanwhile with a conflict, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from queues import services
from queues.models import RoutingRule, RuleSet
from tests.factories import CaseFactory, MessageFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, **({"value": value} if value is not None else {})}


@pytest.fixture
def queues() -> dict[str, Any]:
    return {
        slug: QueueFactory(slug=slug, name=slug.title(), is_default=slug == "general")
        for slug in ("general", "billing", "vip")
    }


@pytest.fixture
def admin(client: Any) -> Any:
    user = UserFactory(role="admin")
    client.force_login(user)
    return user


@pytest.fixture
def draft(queues: dict[str, Any], admin: Any) -> RuleSet:
    return services.rule_set_draft(author=admin)


def rule_post(draft: RuleSet, **fields: Any) -> dict[str, Any]:
    """What the rule form posts for a gold-customers rule; keyword arguments replace fields."""
    draft.refresh_from_db()
    post = {
        "edit_version": draft.edit_version,
        "name": "Gold",
        "queue": "vip",
        "priority": "",
        "sla_seconds": "",
        "enabled": "on",
        "combine": "all",
        "field_0": "customer.tier",
        "op_0": "eq",
        "value_0": "gold",
        "conditions_json": "",
    }
    post.update(fields)
    return {key: value for key, value in post.items() if value is not None}


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_only_admins_edit_publish_and_roll_back(client, queues, role):
    client.force_login(UserFactory(role=role))

    assert client.get("/routing/").status_code == 403
    assert client.post("/routing/draft/").status_code == 403
    assert client.post("/routing/publish/", {"note": "x"}).status_code == 403
    assert client.post("/routing/versions/1/rollback/").status_code == 403
    assert RuleSet.objects.count() == 0


def test_an_admin_edits_dry_runs_and_publishes_in_the_pages(client, queues, admin):
    assert client.get("/routing/").status_code == 200
    client.post("/routing/draft/")
    draft = RuleSet.objects.get(status="draft")

    bad = client.post("/routing/rules/new/", rule_post(draft, op_0="gte"))
    assert bad.status_code == 400 and "operator" in bad.content.decode()

    good = client.post(
        "/routing/rules/new/",
        rule_post(draft, op_0="in", value_0="gold, platinum", priority="2"),
    )
    assert good.status_code == 302
    rule = draft.rules.get()
    assert rule.conditions == {"all": [cond("customer.tier", "in", ["gold", "platinum"])]}
    assert rule.priority == 2 and rule.enabled

    dry = client.post("/routing/dry-run/", {"limit": "50"})
    assert "None of the last 0 handoffs would move." in dry.content.decode()
    tested = client.post("/routing/test/", {"package": '{"customer": {"tier": "Gold"}}'})
    assert "→ vip" in tested.content.decode()

    draft.refresh_from_db()
    client.post("/routing/publish/", {"note": "VIP first", "edit_version": draft.edit_version})
    draft.refresh_from_db()
    assert draft.status == "published" and draft.note == "VIP first"
    assert "VIP first" in client.get("/routing/versions/").content.decode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "Give the rule a name."),
        ({"name": "x" * 121}, "at most 120 characters"),
        ({"name": "a\x00b"}, "Null characters are not allowed."),
        ({"queue": "no-such-queue"}, "pick an active queue"),
        ({"priority": "9"}, "Pick a priority from the list."),
        ({"sla_seconds": "0"}, "The SLA is a whole number of seconds"),
        ({"sla_seconds": "99999999999999999999"}, "The SLA is a whole number of seconds"),
        ({"sla_seconds": "soon"}, "The SLA is a whole number of seconds"),
        ({"combine": "every"}, "Conditions combine with all or any."),
        ({"edit_version": "-1"}, "reload the page"),
        ({"edit_version": None}, "reload the page"),
        # the engine's own sentences, from its pydantic models
        ({"field_0": "customer.shoe_size"}, "unknown field &#x27;customer.shoe_size&#x27;"),
        ({"op_0": "gte"}, "customer.tier: operator &#x27;gte&#x27; is not one of"),
        ({"op_0": "no-such-op"}, "operator &#x27;no-such-op&#x27;"),
        ({"field_0": "intent.confidence", "op_0": "gte", "value_0": "high"}, "is not a number"),
        ({"field_0": "intent.confidence", "op_0": "gte", "value_0": "nan"}, "is not a number"),
        ({"op_0": "in", "value_0": " , "}, "give a list of values"),
        ({"field_0": "", "value_0": "gold"}, "Name the field this value is for."),
        ({"field_0": "", "value_0": ""}, "a rule needs at least one condition"),
        ({"value_0": "a\x00b"}, "Null characters are not allowed."),
        ({"conditions_json": "{not json"}, "This is not valid JSON"),
        ({"conditions_json": "[1, 2]"}, "Write the conditions as"),
        ({"conditions_json": "[" * 5000 + "]" * 5000}, "nested too deeply"),
        (
            {
                "conditions_json": '{"all": [{"field": "intent.confidence", "op": "gte", '
                '"value": NaN}]}'
            },
            "NaN is not a number JSON allows",
        ),
        (
            {
                "conditions_json": '{"all": [{"any": [{"all": [{"field": "channel", '
                '"op": "exists"}]}]}]}'
            },
            "conditions nest one level at most",
        ),
    ],
)
def test_a_mistake_comes_back_with_the_form_and_its_message(client, draft, fields, message):
    response = client.post("/routing/rules/new/", rule_post(draft, **fields))

    page = response.content.decode()
    assert response.status_code == 400
    assert message in page
    assert 'role="alert"' in page and "Not saved." in page
    assert draft.rules.count() == 0


def test_the_form_again_keeps_what_was_typed(client, draft):
    response = client.post(
        "/routing/rules/new/",
        rule_post(
            draft,
            name="Confident",
            field_0="intent.confidence",
            op_0="gte",
            value_0="high",
            field_1="channel",
            op_1="eq",
            value_1="sms",
            sla_seconds="600",
            combine="any",
        ),
    )

    page = response.content.decode()
    assert response.status_code == 400
    for shown in ('value="Confident"', 'value="high"', 'value="sms"', 'value="600"'):
        assert shown in page
    assert '<option value="any" selected>' in page
    # the mistaken row says so beside it, and its group points at the sentence
    assert 'aria-describedby="condition-0-error"' in page
    assert 'id="condition-0-error"' in page and 'id="condition-1-error"' not in page


def test_typed_values_are_saved_as_the_fields_types(client, draft):
    response = client.post(
        "/routing/rules/new/",
        rule_post(
            draft,
            field_0="intent.confidence",
            op_0="gte",
            value_0="0.8",
            field_1="customer.lifetime_value",
            op_1="in",
            value_1="500, 1000",
            field_2="facts.order_total",
            op_2="lte",
            value_2="20",
            field_3="risk_flags",
            op_3="exists",
            value_3="ignored",
            sla_seconds="300",
            enabled=None,
        ),
    )

    assert response.status_code == 302
    rule = draft.rules.get()
    assert rule.conditions == {
        "all": [
            cond("intent.confidence", "gte", 0.8),
            cond("customer.lifetime_value", "in", [500, 1000]),
            cond("facts.order_total", "lte", 20),
            cond("risk_flags", "exists"),
        ]
    }
    assert rule.sla_seconds == 300 and not rule.enabled


def test_nested_conditions_are_edited_as_json(client, queues, draft):
    nested = {"any": [{"all": [cond("channel", "eq", "sms")]}, cond("customer.tier", "eq", "x")]}
    rule = services.rule_save(
        ruleset_id=draft.pk,
        expected_edit_version=draft.edit_version,
        rule_id=None,
        name="Nested",
        conditions=nested,
        queue=queues["vip"],
        priority=None,
        sla_seconds=None,
        enabled=True,
    )

    page = client.get(f"/routing/rules/{rule.pk}/").content.decode()
    assert "<details open>" in page and "&quot;channel&quot;" in page

    response = client.post(
        f"/routing/rules/{rule.pk}/",
        rule_post(draft, name="Nested", field_0="", value_0="", conditions_json=str(nested)),
    )
    assert response.status_code == 400  # Python's quotes are not JSON's
    assert "This is not valid JSON" in response.content.decode()


def test_a_draft_changed_meanwhile_is_a_conflict_and_the_page_catches_up(client, draft):
    seen = rule_post(draft)
    assert client.post("/routing/rules/new/", rule_post(draft, name="First")).status_code == 302

    response = client.post("/routing/rules/new/", seen | {"name": "Second"})

    page = response.content.decode()
    draft.refresh_from_db()
    assert response.status_code == 409 and "Another admin changed this draft" in page
    assert f'name="edit_version" value="{draft.edit_version}"' in page
    assert 'value="Second"' in page
    assert [rule.name for rule in draft.rules.all()] == ["First"]


def test_a_rule_change_with_an_unreadable_version_changes_nothing(client, queues, draft):
    client.post("/routing/rules/new/", rule_post(draft))
    rule = RoutingRule.objects.get()

    forged = client.post(f"/routing/rules/{rule.pk}/delete/", {"edit_version": "x"})
    stale = client.post(f"/routing/rules/{rule.pk}/delete/", {"edit_version": "0"})

    assert forged.status_code == 400 and "reload the page" in forged.content.decode()
    assert stale.status_code == 302
    assert "Another admin changed this draft" in client.get("/routing/").content.decode()
    assert RoutingRule.objects.filter(pk=rule.pk).exists()


@pytest.mark.parametrize(
    ("limit", "status", "shown"),
    [
        ("", 200, "None of the last 0 handoffs would move."),
        ("5000", 200, "None of the last 0 handoffs would move."),
        ("0", 400, "Dry-run 1 to 5,000 recent handoffs."),
        ("5001", 400, "Dry-run 1 to 5,000 recent handoffs."),
        ("lots", 400, "Dry-run 1 to 5,000 recent handoffs."),
    ],
)
def test_a_dry_run_reads_its_limit_with_a_form(client, draft, limit, status, shown):
    response = client.post("/routing/dry-run/", {"limit": limit})

    assert response.status_code == status and shown in response.content.decode()
    if status == 400:  # desk.js swaps it into the result like an answer
        assert response["X-Desk-Failure"] == "invalid-form"


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({}, "Give a case number or paste a package."),
        ({"package": "{oops"}, "This is not valid JSON"),
        ({"package": "[1]"}, "The package must be a JSON object."),
        ({"package": "[" * 5000 + "]" * 5000}, "nested too deeply"),
        ({"case_id": "999999"}, "No case #999999."),
        ({"case_id": "99999999999999999999"}, "A case number is a whole number, 1 or more."),
        ({"case_id": "-1"}, "A case number is a whole number, 1 or more."),
        ({"package": "a\x00b"}, "Null characters are not allowed."),
    ],
)
def test_testing_a_package_answers_a_mistake_with_its_message(client, draft, post, message):
    response = client.post("/routing/test/", post)

    assert response.status_code == 400 and message in response.content.decode()
    assert response["X-Desk-Failure"] == "invalid-form"


def test_a_stored_handoff_is_tested_by_its_case_number(client, queues, draft):
    client.post("/routing/rules/new/", rule_post(draft))
    case = CaseFactory(queue=queues["general"], customer={"tier": "gold"})
    MessageFactory(case=case, text="hello")

    response = client.post("/routing/test/", {"case_id": str(case.pk), "package": "ignored"})

    assert response.status_code == 200 and "→ vip" in response.content.decode()


def test_publishing_without_a_note_or_from_a_stale_page_publishes_nothing(client, draft):
    client.post("/routing/rules/new/", rule_post(draft))
    draft.refresh_from_db()

    no_note = client.post("/routing/publish/", {"note": " ", "edit_version": draft.edit_version})
    stale = client.post("/routing/publish/", {"note": "go", "edit_version": 0}, follow=True)

    assert no_note.status_code == 400
    assert "Publishing needs a note: what changes and why." in no_note.content.decode()
    assert 'aria-invalid="true"' in no_note.content.decode()
    assert "Not published. Another admin changed this draft" in stale.content.decode()
    draft.refresh_from_db()
    assert draft.status == RuleSet.Status.DRAFT


def test_a_rollback_note_too_long_is_refused_beside_its_form(client, draft, admin):
    client.post("/routing/rules/new/", rule_post(draft))
    draft.refresh_from_db()
    client.post("/routing/publish/", {"note": "first", "edit_version": draft.edit_version})

    response = client.post(f"/routing/versions/{draft.version}/rollback/", {"note": "x" * 501})
    rolled = client.post(f"/routing/versions/{draft.version}/rollback/", {"note": "again"})

    assert response.status_code == 400
    assert "A note is at most 500 characters." in response.content.decode()
    assert rolled.status_code == 302
    assert RuleSet.objects.get(status="published").note == "again"
