"""Each shared word is defined once (vocabulary.py) and every place that speaks it covers it."""

from __future__ import annotations

import pytest
from django.test import override_settings

from cases.live.rows import tier_badge
from cases.metrics.chart import TRIGGER_COLOURS
from cases.models import Case
from cases.notices import TRIGGER_SENTENCES
from cases.package import HandoffPackage
from queues.rules import PRIORITY_NAMES
from vocabulary import Priority, TriggerReason, is_high_value_tier


def test_every_trigger_reason_has_a_sentence_for_the_customer_and_a_colour_in_the_chart() -> None:
    assert set(TRIGGER_SENTENCES) == set(TriggerReason.values)
    assert set(TRIGGER_COLOURS) == set(TriggerReason.values)


def test_the_package_schema_the_model_and_routing_read_the_same_words() -> None:
    schema = HandoffPackage.model_json_schema()
    assert schema["$defs"]["TriggerReason"]["enum"] == TriggerReason.values
    assert Case.Trigger is TriggerReason and Case.Priority is Priority
    assert PRIORITY_NAMES == {0: "low", 1: "normal", 2: "high", 3: "urgent"}


@pytest.mark.parametrize(
    ("tier", "high"), [("Gold", True), ("diamond", True), ("silver", False), ("", False)]
)
def test_the_tier_badge_stars_the_tiers_the_setting_names(tier: str, high: bool) -> None:
    # given a desk whose high-value tiers are its own, not the defaults
    with override_settings(HANDOFF_HIGH_VALUE_TIERS=["gold", "diamond"]):
        # then the badge and intake's flag agree on them
        assert is_high_value_tier(tier) is high
        assert ("★" in str(tier_badge(tier))) is high
