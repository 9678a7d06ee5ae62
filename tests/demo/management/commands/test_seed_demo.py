"""The demo's seeded day: a support desk with work in every queue and data behind every figure."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from cases.metrics import figures as metrics
from cases.models import (
    CannedReply,
    CannedReplyUse,
    Case,
    CaseEvent,
    CsatResponse,
    Delivery,
    Integration,
    Intent,
    IntentCorrection,
)
from demo.day import HISTORY_PREFIX
from demo.replay import SUPPORT_INTENTS
from queues.models import Queue

pytestmark = pytest.mark.django_db

STAR_PATH = Path(settings.BASE_DIR).parent / "shared" / "data" / "star" / "dialogues.jsonl.gz"


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_the_seeded_day_reads_as_a_support_desk_and_feeds_every_figure() -> None:
    # when
    report = seed()

    # then: cases in every queue, no General-only pile, support intents only
    cases = Case.objects.filter(external_id__startswith=HISTORY_PREFIX)
    assert "History:" in report and cases.count() >= 80
    per_queue = Counter(cases.values_list("queue__slug", flat=True))
    assert set(per_queue) == set(Queue.objects.values_list("slug", flat=True))
    assert max(per_queue.values()) < cases.count() / 3
    catalogue = set(Intent.objects.filter(is_active=True).values_list("name", flat=True))
    assert set(cases.values_list("detected_intent", flat=True)) <= catalogue
    assert set(cases.values_list("current_intent", flat=True)) <= catalogue

    # worked by the desk's agents: claimed, waiting on the customer, resolved and rated
    statuses = Counter(cases.values_list("status", flat=True))
    assert statuses[Case.Status.RESOLVED] > cases.count() / 2
    assert statuses[Case.Status.ASSIGNED] + statuses[Case.Status.AWAITING_CUSTOMER] >= 3
    assert statuses[Case.Status.WAITING] >= 1
    assert cases.exclude(resolution_code="").values("resolution_code").distinct().count() >= 4
    ratings = CsatResponse.objects.filter(case__in=cases)
    assert ratings.count() >= 30
    assert {1, 5} <= set(ratings.values_list("score", flat=True))
    assert ratings.exclude(comment="").exists()
    assert IntentCorrection.objects.filter(case__in=cases).count() >= 3
    assert cases.exclude(queue=F("routed_queue")).count() >= 2  # misroutes put right
    assert CaseEvent.objects.filter(case__in=cases, kind="reassigned").count() >= 3
    breached = cases.filter(sla_breached=True).count()
    assert 1 <= breached <= cases.count() / 5  # a few, not most
    assert cases.filter(repeat_detected=True).exists()
    greetings = CannedReplyUse.objects.filter(case__in=cases, reply__name="Greeting")
    assert greetings.count() >= 10  # the team's saved greeting, counted for the metrics
    assert CannedReply.objects.filter(queue__isnull=False).count() >= 5

    # dated over the days before and today, in the order the work happened
    now = timezone.now()
    days = {timezone.localtime(at).date() for at in cases.values_list("handed_off_at", flat=True)}
    assert len(days) >= 4 and timezone.localdate() in days
    resolved = cases.filter(status=Case.Status.RESOLVED)
    assert not resolved.filter(resolved_at__lte=F("handed_off_at")).exists()
    assert not resolved.filter(first_claimed_at__gt=F("resolved_at")).exists()
    assert not cases.filter(handed_off_at__gt=now).exists()
    assert not CaseEvent.objects.filter(case__in=cases, created_at__gt=now).exists()
    assert not greetings.filter(used_at__gt=now).exists()
    first = resolved.earliest("handed_off_at")
    events = list(first.events.order_by("pk").values_list("created_at", flat=True))
    assert events == sorted(events) and events[0] == first.handed_off_at

    # every figure of the metrics page has data
    filters = metrics.Filters(start=min(days), end=timezone.localdate())
    headline, tables = metrics.current(filters)
    for figure, value in vars(headline).items():
        assert value, f"{figure} is {value!r}"
    assert tables.confusion and len(tables.volume) >= 5

    # and seeding again adds no second day
    assert "History: already seeded." in seed()
    assert Case.objects.count() == cases.count()


@pytest.mark.skipif(not STAR_PATH.is_file(), reason="the STAR dataset is not at hand")
def test_stars_support_conversations_join_the_day_and_arrive_spread_over_the_queues(
    tmp_path: Path,
) -> None:
    live = tmp_path / "live.jsonl"

    seed(
        "--star", str(STAR_PATH), "--live", "20", "--live-file", str(live),
        "--callback-url", "https://bot.example/hooks",
    )  # fmt: skip

    packages = [json.loads(line) for line in live.read_text().splitlines()]
    assert len(packages) == 20
    intents = Counter(p["intent"]["name"] for p in packages)
    assert set(intents) <= set(SUPPORT_INTENTS.values())
    assert max(intents.values()) <= 6  # spread, not one pile
    assert sum(p.get("customer", {}).get("tier") == "gold" for p in packages) == 4  # VIP's
    recorded = Case.objects.filter(external_id__startswith=f"{HISTORY_PREFIX}").filter(
        external_id__contains="-star-"
    )
    assert recorded.count() >= 30
    assert not recorded.filter(detected_intent__in=["trivia", "weather", "party_plan"]).exists()
    # nothing after the fact: the trigger comes from the conversation or the desk's detectors
    assert not recorded.filter(trigger_detail__icontains="annoyed").exists()
    # the past's callbacks are not queued now; the bot keeps its address for the live ones
    assert not Delivery.objects.exists()
    assert Integration.objects.get().callback_url == "https://bot.example/hooks"


def test_a_run_without_history_seeds_the_desk_only() -> None:
    seed("--no-history")

    assert Queue.objects.count() == 6 and not Case.objects.exists()
