"""The replay command: recorded conversations posted to a running desk over HTTP."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from cases.models import AttemptedStep, Case, Integration, Message
from demo.replay import (
    read_packages,
    read_star,
)

DEMO_PATH = Path(settings.BASE_DIR) / "demo" / "handoffs.jsonl"


STAR_PATH = Path(settings.BASE_DIR).parent / "shared" / "data" / "star" / "dialogues.jsonl.gz"


def demo_packages() -> list[dict[str, Any]]:
    return list(read_packages(DEMO_PATH))


@pytest.mark.django_db(transaction=True)
def test_the_command_replays_recorded_conversations_as_recent(
    live_server: Any, integration: Integration
) -> None:
    before = timezone.now()

    call_command(
        "replay", str(DEMO_PATH), "--url", live_server.url, "--key", integration.raw_key,
        "--recent", stdout=io.StringIO(),
    )  # fmt: skip

    newest = Message.objects.filter(case__external_id="demo-001").order_by("-sent_at").first()
    oldest = Message.objects.filter(case__external_id="demo-001").order_by("sent_at").first()
    assert newest is not None and oldest is not None
    assert before - timedelta(seconds=2) <= newest.sent_at <= timezone.now()
    recorded = [m["at"] for m in demo_packages()[0]["transcript"]]
    span = datetime.fromisoformat(max(recorded)) - datetime.fromisoformat(min(recorded))
    assert newest.sent_at - oldest.sent_at == span


def test_recent_and_idempotency_keys_do_not_go_together() -> None:
    with pytest.raises(CommandError, match="use one or the other"):
        call_command("replay", str(DEMO_PATH), "--key", "k", "--recent", "--idempotency")


def test_the_command_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HANDOFF_API_KEY", raising=False)

    with pytest.raises(CommandError, match="integration key"):
        call_command("replay", str(DEMO_PATH))


@pytest.mark.django_db(transaction=True)
def test_replay_of_the_demo_packages_through_http(
    live_server: Any, integration: Integration
) -> None:
    key: str = integration.raw_key
    args = ["replay", str(DEMO_PATH), "--url", live_server.url, "--key", key, "--idempotency"]
    first, second = io.StringIO(), io.StringIO()

    # when: the same file twice, with idempotency keys
    call_command(*args, "--concurrency", "1", stdout=first)
    call_command(*args, "--rate", "1000", stdout=second)

    # then: the second run was answered from the first
    count = len(demo_packages())
    assert f"accepted {count}: {count} created (201), 0 updated (200), 0 idempotent" in (
        first.getvalue()
    )
    assert f"{count} idempotent replays" in second.getvalue()
    assert Case.objects.count() == count
    bare = Case.objects.get(external_id="demo-010")
    assert {"customer_identity", "intent", "attempted_steps"} <= set(bare.missing_context)


@pytest.mark.django_db(transaction=True)
def test_a_rejected_replay_exits_non_zero(live_server: Any, integration: Integration) -> None:
    with pytest.raises(CommandError, match="12 rejected") as raised:
        call_command("replay", str(DEMO_PATH), "--url", live_server.url, "--key", "hd_wrong")

    assert raised.value.returncode == 1
    assert Case.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_first_200_star_dialogues_are_all_accepted(
    live_server: Any, integration: Integration
) -> None:
    if not STAR_PATH.is_file():
        pytest.skip(f"the STAR dataset is not at {STAR_PATH}")
    key: str = integration.raw_key
    dialogues = list(read_star(STAR_PATH, limit=200))
    secrets = {
        str(value).strip('"')
        for d in dialogues
        for event in d["events"]
        if event["role"] == "query"
        for constraint in event["constraints"]
        for key, value in constraint.items()
        if key in {"PIN", "Code", "SecurityAnswer1", "SecurityAnswer2", "DateOfBirth"}
        and len(str(value).strip('"')) >= 3
        and value != "null"
    }

    # when: posted through the real HTTP API
    out = io.StringIO()
    call_command(
        "replay",
        str(STAR_PATH),
        "--limit",
        "200",
        "--url",
        live_server.url,
        "--key",
        key,
        stdout=out,
    )

    # then: every one created a case, none rejected (the command raises on any rejection)
    report = out.getvalue()
    assert "accepted 200: 200 created (201), 0 updated (200)" in report
    assert "rejected 0" in report and "errors 0" in report
    assert Case.objects.count() == 200
    assert set(Case.objects.values_list("external_id", flat=True)) == {
        f"star-{d['id']}" for d in dialogues
    }
    assert AttemptedStep.objects.filter(outcome="failed").exists()
    assert secrets, "the first 200 dialogues include a spaceship access code"
    for secret in secrets:
        alone = rf"(^|[^0-9A-Za-z]){re.escape(secret)}([^0-9A-Za-z]|$)"
        assert not Message.objects.filter(text__regex=alone).exists()
        assert all(
            secret not in json.dumps(f) for f in Case.objects.values_list("facts", flat=True)
        )
        assert not AttemptedStep.objects.filter(detail__regex=alone).exists()
