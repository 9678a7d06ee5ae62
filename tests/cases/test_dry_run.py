"""Dry runs: what a draft would do to recent real handoffs, beside the live rules."""

from __future__ import annotations

from typing import Any

import pytest

from cases.dry_run import dry_run
from queues import services
from queues.routing import RuleSpec
from tests.conftest import ApiClient
from tests.factories import IntegrationFactory, QueueFactory, UserFactory, full_package

pytestmark = pytest.mark.django_db


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, **({"value": value} if value is not None else {})}


BILLING = {
    "name": "Billing",
    "conditions": {"all": [cond("intent.name", "starts_with", "billing")]},
    "queue": "billing",
}


@pytest.fixture
def queues() -> dict[str, Any]:
    return {
        slug: QueueFactory(slug=slug, name=slug.title(), is_default=slug == "general")
        for slug in ("general", "billing", "vip")
    }


def test_dry_run_counts_the_moves_by_hand(queues):
    # given live rules sending billing intents to Billing, and 6 stored handoffs: 3 billing
    # intents (1 of them gold), 2 gold customers, 1 other
    admin = UserFactory(role="admin")
    live = services.rule_set_create_draft(rules=[BILLING], author=admin)
    services.rule_set_publish(ruleset=live, publisher=admin, note="start")
    api = ApiClient(IntegrationFactory(name="bot").raw_key)
    packages = [
        full_package(external_id="b1", risk_flags=[], customer={"id": "1", "tier": "bronze"}),
        full_package(external_id="b2", risk_flags=[], customer={"id": "2", "tier": "bronze"}),
        full_package(external_id="b3", risk_flags=[], customer={"id": "3", "tier": "gold"}),
        full_package(
            external_id="g1",
            risk_flags=[],
            customer={"id": "4", "tier": "gold"},
            intent={"name": "account.login"},
        ),
        full_package(
            external_id="g2", risk_flags=[], customer={"id": "5", "tier": "gold"}, intent=None
        ),
        full_package(
            external_id="o1",
            risk_flags=[],
            customer={"id": "6", "tier": "silver"},
            intent={"name": "general.question"},
        ),
    ]
    for package in packages:
        assert api.post("/api/v1/handoffs", package).status_code == 201
    vip_first = [
        {
            "name": "VIP",
            "conditions": {"all": [cond("customer.tier", "eq", "gold")]},
            "queue": "vip",
        },
        BILLING,
    ]

    def specs(rules: list[dict[str, Any]]) -> list[RuleSpec]:
        return [RuleSpec(r["name"], r["conditions"], r["queue"]) for r in rules]

    result = dry_run(specs(vip_first), specs([BILLING]), "general", limit=500)

    # then: b3 billing → vip; g1, g2 general → vip; nothing else moves
    assert result.total == 6
    assert dict(result.moves) == {("billing", "vip"): 1, ("general", "vip"): 2}
    assert result.summary() == "3 of the last 6 would move: 2 general → vip, 1 billing → vip"
    assert {m.case.external_id for m in result.sample} == {"b3", "g1", "g2"}
