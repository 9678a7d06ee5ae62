"""The handoff package's own rules (cases/package.py), without HTTP: what validates, what is
refused and where, and what is reported back. The API's answers to the same input are in
tests/api/test_endpoints.py."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cases.package import MAX_DEPTH, CsatIn, HandoffPackage, json_problem
from tests.factories import full_package


def refused_at(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as raised:
        HandoffPackage.model_validate(body)
    return [error["loc"] for error in raised.value.errors()]


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_the_design_package_validates_with_every_part_read():
    package = HandoffPackage.model_validate(full_package())

    assert package.external_id == "conv-8812" and package.customer is not None
    assert package.customer.tier == "gold" and package.intent is not None
    assert [m.role for m in package.transcript] == ["customer", "bot"]
    assert package.attempted_steps[0].outcome == "failed"
    assert package.unknown_fields() == []


def test_unknown_fields_are_kept_out_and_listed_by_their_path():
    body = full_package(mood="upset")
    body["customer"]["shoe_size"] = 42
    body["transcript"][1]["confidence"] = 0.2

    package = HandoffPackage.model_validate(body)

    assert package.unknown_fields() == [
        "mood",
        "customer.shoe_size",
        "transcript[1].confidence",
    ]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        (lambda p: p.update(summary="a\x00b"), ("summary",)),
        (lambda p: p["transcript"][0].update(text="a\x00b"), ("transcript", 0, "text")),
        (lambda p: p["transcript"][0].update(text="   "), ("transcript", 0, "text")),
        (lambda p: p["transcript"][0].update(at="1970-01-01T00:00:00Z"), ("transcript", 0, "at")),
        (lambda p: p.update(external_id=""), ("external_id",)),
    ],
    ids=["nul-summary", "nul-message", "blank-message", "time-out-of-range", "empty-id"],
)
def test_a_value_the_desk_could_not_store_is_refused_where_it_is(change, loc):
    body = full_package()
    change(body)

    assert loc in refused_at(body)


def test_an_empty_transcript_needs_a_summary():
    assert refused_at(full_package(transcript=[], summary="")) == [()]
    assert HandoffPackage.model_validate(full_package(transcript=[])).summary


def test_risk_flags_are_cleaned_and_kept_once():
    package = HandoffPackage.model_validate(
        full_package(risk_flags=[" Chargeback_Threat ", "chargeback_threat", "legal_threat"])
    )

    assert package.risk_flags == ["chargeback_threat", "legal_threat"]


def test_free_form_json_is_refused_past_the_depth_limit_or_with_nul():
    assert json_problem(nested(MAX_DEPTH)) is None
    assert json_problem(nested(MAX_DEPTH + 1)) == (
        f"value at {'.'.join(['a'] * MAX_DEPTH)} is nested deeper than {MAX_DEPTH} levels"
    )
    assert json_problem({"notes": ["ok", "a\x00b"]}) is not None
    assert json_problem({"n": float("inf")}) == "number at n must be finite"


@pytest.mark.parametrize(("score", "valid"), [(1, True), (5.0, True), (0, False), (6, False)])
def test_a_rating_is_a_whole_number_from_1_to_5(score, valid):
    if valid:
        assert CsatIn.model_validate({"score": score}).score == int(score)
    else:
        with pytest.raises(ValidationError):
            CsatIn.model_validate({"score": score})
