"""The metrics chart's axis (cases/metrics/chart.py)."""

from __future__ import annotations

import pytest

from cases.metrics.chart import _scale

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("busiest", "step", "top"),
    [(1, 1, 1), (4, 1, 4), (9, 2, 10), (36, 10, 40), (134, 50, 150)],
)
def test_the_charts_axis_has_round_steps_just_over_the_busiest_bar(
    busiest: int, step: int, top: int
) -> None:
    assert _scale(busiest) == (step, top)
