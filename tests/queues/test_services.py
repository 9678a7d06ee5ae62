"""Rule-set services: drafts, validation, publishing and rolling back (``queues.services``)."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import Case
from queues import services
from queues.models import RuleSet
from tests.conftest import ApiClient
from tests.factories import IntegrationFactory, QueueFactory, UserFactory, full_package

pytestmark = pytest.mark.django_db


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, **({"value": value} if value is not None else {})}


@pytest.fixture
def queues() -> dict[str, Any]:
    return {
        slug: QueueFactory(slug=slug, name=slug.title(), is_default=slug == "general")
        for slug in ("general", "billing", "vip", "compliance")
    }


@pytest.fixture
def admin() -> Any:
    return UserFactory(role="admin")


def published_with(rules: list[dict[str, Any]], admin: Any) -> RuleSet:
    draft = services.rule_set_create_draft(rules=rules, author=admin)
    return services.rule_set_publish(ruleset=draft, publisher=admin, note="start")


def add(
    draft: RuleSet,
    queues: dict[str, Any],
    name: str,
    conditions: dict[str, Any],
    queue: str,
    **extra: Any,
) -> Any:
    draft.refresh_from_db()
    return services.rule_save(
        ruleset_id=draft.pk,
        expected_edit_version=draft.edit_version,
        rule_id=None,
        name=name,
        conditions=conditions,
        queue=queues[queue],
        priority=extra.get("priority"),
        sla_seconds=None,
        enabled=extra.get("enabled", True),
    )


BILLING = {
    "name": "Billing",
    "conditions": {"all": [cond("intent.name", "starts_with", "billing")]},
    "queue": "billing",
}


def test_a_draft_starts_as_a_copy_of_the_live_rules(queues, admin):
    live = published_with([BILLING], admin)

    draft = services.rule_set_draft(author=admin)

    assert draft.status == RuleSet.Status.DRAFT and draft.version == live.version + 1
    assert [r.name for r in services.rule_specs(draft)] == ["Billing"]
    assert services.rule_set_draft(author=admin) == draft  # one draft at a time


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"all": []}, "at least one condition"),
        ({"all": [cond("customer.shoe_size", "eq", "9")]}, "unknown field"),
        ({"all": [cond("intent.confidence", "gte", "high")]}, "not a number"),
        ({"all": [cond("customer.tier", "gte", 3)]}, "operator 'gte'"),
        ({"all": [cond("customer.tier", "in", "gold")]}, "give a list"),
        ({"every": [cond("channel", "eq", "sms")]}, "must be"),
        ({"all": [{"any": [{"all": [cond("channel", "eq", "sms")]}]}]}, "one level"),
    ],
)
def test_a_rule_that_makes_no_sense_is_refused_with_the_reason(queues, admin, conditions, message):
    draft = services.rule_set_draft(author=admin)

    with pytest.raises(services.RuleSetInvalid, match=message):
        add(draft, queues, "Broken", conditions, "vip")
    assert draft.rules.count() == 0


def test_a_rule_after_a_catch_all_is_unreachable_and_blocks_publishing(queues, admin):
    draft = services.rule_set_draft(author=admin)
    everything = {"any": [cond("channel", "exists"), cond("channel", "missing")]}
    add(draft, queues, "Everything else", everything, "general")
    add(draft, queues, "VIP", {"all": [cond("customer.tier", "eq", "gold")]}, "vip")

    problems = services.rule_set_problems(draft)

    assert [(p.rule, "never reached" in p.message) for p in problems] == [("VIP", True)]
    with pytest.raises(services.RuleSetInvalid, match="never reached"):
        services.rule_set_publish_draft(ruleset_id=draft.pk, publisher=admin, note="try")


def test_publishing_needs_a_note_and_a_second_editor_sees_a_conflict(queues, admin):
    draft = services.rule_set_draft(author=admin)
    seen = draft.edit_version
    add(draft, queues, "VIP", {"all": [cond("customer.tier", "eq", "gold")]}, "vip")

    with pytest.raises(services.RuleSetConflict):
        services.rule_save(
            ruleset_id=draft.pk,
            expected_edit_version=seen,
            rule_id=None,
            name="Late",
            conditions={"all": [cond("channel", "eq", "sms")]},
            queue=queues["general"],
            priority=None,
            sla_seconds=None,
            enabled=True,
        )
    with pytest.raises(services.RuleSetInvalid, match="note"):
        services.rule_set_publish_draft(ruleset_id=draft.pk, publisher=admin, note=" ")


def test_a_published_version_routes_the_next_handoff_at_once(queues, admin):
    api = ApiClient(IntegrationFactory(name="bot").raw_key)
    published_with([BILLING], admin)
    assert api.post("/api/v1/handoffs", full_package(external_id="a")).json()["queue"] == "billing"

    draft = services.rule_set_draft(author=admin)
    add(
        draft,
        queues,
        "Chargebacks",
        {"all": [cond("risk_flags", "contains", "chargeback_threat")]},
        "compliance",
    )
    draft.refresh_from_db()
    services.rule_move(
        ruleset_id=draft.pk,
        expected_edit_version=draft.edit_version,
        rule_id=draft.rules.get(name="Chargebacks").pk,
        offset=-1,
    )
    new = services.rule_set_publish_draft(
        ruleset_id=draft.pk, publisher=admin, note="chargebacks first"
    )

    body = api.post("/api/v1/handoffs", full_package(external_id="b")).json()
    assert body["queue"] == "compliance"
    case = Case.objects.get(pk=body["case_id"])
    assert case.ruleset_version == new.version and case.routing_rule == "Chargebacks"
    assert case.routing_explanation.startswith("Chargebacks: risk_flags contains chargeback_threat")


def test_rollback_publishes_an_old_version_again_as_a_new_one(queues, admin):
    first = published_with([BILLING], admin)
    draft = services.rule_set_draft(author=admin)
    draft.refresh_from_db()
    services.rule_delete(
        ruleset_id=draft.pk, expected_edit_version=draft.edit_version, rule_id=draft.rules.get().pk
    )
    services.rule_set_publish_draft(ruleset_id=draft.pk, publisher=admin, note="no rules")

    rolled = services.rule_set_rollback(version=first.version, publisher=admin)

    assert rolled.status == RuleSet.Status.PUBLISHED and rolled.version == first.version + 2
    assert [r.name for r in services.rule_specs(rolled)] == ["Billing"]
    assert RuleSet.objects.filter(status=RuleSet.Status.PUBLISHED).count() == 1
    diff = services.rule_set_diff(RuleSet.objects.get(version=first.version + 1), rolled)
    assert diff[0][0] == "added" and diff[0][1].startswith("Billing")


def test_publishing_a_draft_changed_since_the_page_loaded_is_a_conflict(queues, admin):
    # given an admin who loaded the draft, then another who added a rule to it
    draft = services.rule_set_draft(author=admin)
    seen = draft.edit_version
    add(draft, queues, "VIP", {"all": [cond("customer.tier", "eq", "gold")]}, "vip")

    # when the first publishes what they saw
    with pytest.raises(services.RuleSetConflict):
        services.rule_set_publish_draft(
            ruleset_id=draft.pk, publisher=admin, note="as seen", expected_edit_version=seen
        )

    # then nothing is published; with the version as it is now, it is
    draft.refresh_from_db()
    assert draft.status == RuleSet.Status.DRAFT
    services.rule_set_publish_draft(
        ruleset_id=draft.pk,
        publisher=admin,
        note="seen",
        expected_edit_version=draft.edit_version,
    )
    draft.refresh_from_db()
    assert draft.status == RuleSet.Status.PUBLISHED
