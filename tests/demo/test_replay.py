"""Replaying recorded conversations: the STAR mapping, the demo packages, the HTTP replay."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from cases.models import Case
from cases.package import (
    MAX_FACTS,
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES,
    MAX_STEPS,
    HandoffPackage,
)
from demo.replay import (
    Pacer,
    as_recent,
    read_packages,
    read_source,
    read_star,
    replay,
    star_to_package,
    support_dialogues,
)
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory

DEMO_PATH = Path(settings.BASE_DIR) / "demo" / "handoffs.jsonl"


# --- STAR-like dialogues, built by hand --------------------------------------------------------


def say(text: str, t: int = 1_600_000_000) -> dict[str, Any]:
    return {"role": "customer", "text": text, "t": t}


def bot(text: str, t: int = 1_600_000_001, label: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"role": "bot", "text": text, "t": t}
    if label:
        event["label"] = label
    return event


def query(*constraints: dict[str, str], total: int) -> list[dict[str, Any]]:
    return [
        {"role": "query", "constraints": list(constraints), "t": 1_600_000_002},
        {"role": "query_result", "total": total, "item": None, "t": None},
    ]


def dialogue(*events: dict[str, Any] | list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    flat: list[dict[str, Any]] = []
    for event in events:
        flat.extend(event if isinstance(event, list) else [event])
    return {
        "id": 42,
        "completion": "Complete",
        "domains": ["bank"],
        "tasks": ["bank_fraud_report"],
        "happy": True,
        "multitask": False,
        "user_annoyed": False,
        "events": flat,
        **fields,
    }


def valid(package: dict[str, Any]) -> HandoffPackage:
    validated = HandoffPackage.model_validate(package)
    assert validated.unknown_fields() == []
    return validated


def test_star_dialogue_maps_to_a_valid_package() -> None:
    # given
    star = dialogue(
        say("Someone took $500 from my account!"),
        bot("Could I get your full name, please?", label="ask_name"),
        say("Tyler Jones"),
        bot("   "),
        *query({"FullName": '"Tyler Jones"'}, {"RequestType": '"Check"'}, total=1),
    )

    # when
    package = star_to_package(star)

    # then
    assert package["external_id"] == "star-42"
    assert package["channel"] == "web_chat"
    assert [m["id"] for m in package["transcript"]] == ["e0", "e1", "e2"]  # blank text skipped
    assert package["transcript"][0] == {
        "id": "e0",
        "role": "customer",
        "text": "Someone took $500 from my account!",
        "at": "2020-09-13T12:26:40Z",
    }
    assert package["intent"] == {"name": "security.fraud_report"}  # no invented confidence
    assert package["customer"] == {
        "name": "Tyler Jones",
        "language": "en",
        "id": "star-42-tyler-jones",
    }
    assert package["facts"] == {"full_name": "Tyler Jones", "amounts_mentioned": "$500"}
    assert package["attempted_steps"] == [
        {
            "name": "bank_check",
            "outcome": "succeeded",
            "detail": 'FullName="Tyler Jones"; RequestType="Check" → total 1',
            "at": "2020-09-13T12:26:42Z",
        }
    ]
    assert "trigger" not in package  # nothing went wrong: the desk derives one
    assert (
        package["summary"] == "bank_fraud_report conversation in the bank domain; 0 failed lookups"
    )
    valid(package)


def test_a_query_that_found_nothing_is_a_failed_step() -> None:
    package = star_to_package(
        dialogue(
            say("hi"), *query({"City": '"Detroit"'}, total=-1), *query({"Day": '"Monday"'}, total=0)
        )
    )

    assert [s["outcome"] for s in package["attempted_steps"]] == ["failed", "failed"]
    assert package["attempted_steps"][0]["detail"] == 'City="Detroit" → total -1: no result'
    assert package["trigger"] == {
        "reason": "repeated_failure",
        "detail": "2 lookups returned no result",
    }
    assert "2 failed lookups" in package["summary"]


def test_a_query_without_a_result_has_an_unknown_outcome() -> None:
    star = dialogue(say("hi"), {"role": "query", "constraints": [{"City": '"Rome"'}], "t": 5})

    (step,) = star_to_package(star)["attempted_steps"]

    assert step["outcome"] == "unknown"


def test_stars_after_the_fact_labels_are_not_inputs() -> None:
    # given: the worker's "did the user become annoyed?" and the unhappy-path script, which a
    # real bot never knows when it hands over (the labels an escalation model is judged by)
    star = dialogue(say("Hurry up!"), *query({"id": "611"}, total=-1), user_annoyed=True)

    package = star_to_package({**star, "happy": False})

    # then: no trigger or risk flag is read from them; the desk derives its own
    assert "trigger" not in package
    assert "risk_flags" not in package
    assert "annoyed" not in package["summary"]


def test_two_lookups_that_found_nothing_are_a_repeated_failure() -> None:
    star = dialogue(
        say("Flight 611"), *query({"id": "611"}, total=0), *query({"id": "6"}, total=-1)
    )

    package = star_to_package(star)

    assert package["trigger"] == {
        "reason": "repeated_failure",
        "detail": "2 lookups returned no result",
    }


@pytest.mark.parametrize(
    ("task", "intent"),
    [
        ("bank_fraud_report", "security.fraud_report"),
        ("bank_balance", "billing.balance"),
        ("ride_status", "orders.ride_status"),
        ("hotel_service_request", "technical.service_request"),
        ("party_plan", "party_plan"),  # not a support task: kept as STAR names it
    ],
)
def test_star_tasks_map_to_the_desks_support_intents(task: str, intent: str) -> None:
    package = star_to_package(dialogue(say("Hello"), tasks=[task]))

    assert package["intent"] == {"name": intent}


def test_only_support_conversations_are_picked_for_the_demo() -> None:
    talk = [say("Hello"), say("My card was used in a shop I never went to")]
    dialogues = [
        dialogue(*talk, id=1, tasks=["trivia"], domains=[None]),
        dialogue(*talk, id=2, tasks=["weather"], domains=["weather"]),
        dialogue(*talk, id=3),  # bank_fraud_report
        dialogue(say("hi"), id=4),  # one line: nothing to read
        dialogue(*talk, id=5, tasks=["ride_status"], domains=["ride"]),
    ]

    assert [d["id"] for d in support_dialogues(dialogues)] == [3, 5]


def test_asking_for_a_human_is_a_customer_request() -> None:
    star = dialogue(
        say("Are you a robot or a human?"),
        bot("I am a bot."),
        say("Let me speak to a real person."),
    )

    package = star_to_package(star)

    assert package["trigger"] == {
        "reason": "customer_request",
        "detail": "customer asked for a person (message e2)",
    }


def test_a_question_about_humans_is_not_a_request_for_one() -> None:
    package = star_to_package(dialogue(say("Are you a robot or a human?")))

    assert "trigger" not in package


def test_pin_and_security_answers_are_never_copied() -> None:
    # given: the customer says the PIN, and the bot queries with it
    star = dialogue(
        say("My name is Jane Doe, account 85731890."),
        say("My PIN is 9503. My mother's maiden name is Cooper."),
        say("Oh and the old pin was 1234"),
        *query(
            {"FullName": '"Jane Doe"'},
            {"AccountNumber": "85731890"},
            {"PIN": "9503"},
            {"SecurityAnswer1": '"Cooper"'},
            total=-1,
        ),
    )

    # when
    package = star_to_package(star)

    # then
    assert package["facts"] == {"full_name": "Jane Doe", "account_number": "85731890"}
    blob = json.dumps(package)
    for secret in ("9503", "Cooper", "1234"):
        assert secret not in blob
    assert package["transcript"][1]["text"] == (
        "My PIN is [redacted]. My mother's maiden name is [redacted]."
    )
    assert "PIN=[redacted]" in package["attempted_steps"][0]["detail"]


def test_facts_hold_only_values_the_customer_said() -> None:
    star = dialogue(
        say("Book me a table for Ben at 7 pm please"),
        *query(
            {"Name": 'api.is_equal_to("Hilton Hotel")'},  # the bot's choice, never said
            {"CustomerName": '"Ben"'},
            {"Time": '"7 pm"'},
            {"Cost": 'api.is_one_of(["Cheap","Moderate"])'},  # a filter, not a fact
            {"NeedParking": '"No"'},  # trivially "said"
            {"RequestType": '"Book"'},
            total=-1,
        ),
        domains=["restaurant"],
        tasks=["restaurant_book"],
    )

    package = star_to_package(star)

    assert package["facts"] == {"customer_name": "Ben", "time": "7 pm"}
    assert package["attempted_steps"][0]["name"] == "restaurant_book"


def test_a_later_lookup_corrects_a_fact() -> None:
    star = dialogue(
        say("My flight id is 567"),
        *query({"id": "567"}, total=-1),
        say("Sorry, it's 611"),
        *query({"id": "611"}, total=1),
        domains=["plane"],
        tasks=["plane_book"],
    )

    assert star_to_package(star)["facts"] == {"flight_id": "611"}


def test_multitask_lookups_are_named_after_the_nearest_bot_action() -> None:
    star = dialogue(
        say("Weather in Detroit?"),
        *query({"City": '"Detroit"'}, total=-1),
        bot("Sunny.", label="weather_inform_forecast"),
        domains=["bank", "weather"],
        tasks=["bank_balance", "weather"],
    )

    package = star_to_package(star)

    assert package["attempted_steps"][0]["name"] == "weather_lookup"
    assert package["summary"].startswith("bank_balance conversation in the bank domain")
    assert "also weather" in package["summary"]


def test_a_dialogue_without_events_still_validates() -> None:
    package = star_to_package(
        dialogue(happy=False, completion="EarlyDisconnectDuringDialogue", events=[])
    )

    assert package["transcript"] == []
    assert "customer" not in package
    assert "ended early (EarlyDisconnectDuringDialogue)" in package["summary"]
    valid(package)


def test_limits_are_respected() -> None:
    # given: more messages, lookups and fact candidates than the API accepts
    events: list[dict[str, Any]] = [
        say(f"message {index}", t=1_600_000_000 + index) for index in range(MAX_MESSAGES + 300)
    ]
    for index in range(MAX_STEPS + 20):
        events.extend(query({f"Field{index}": f'"value {index}"'}, total=-1))
    said = " ".join(f"value {index}" for index in range(MAX_STEPS + 20))
    events.append(say(said))

    # when
    package = star_to_package(dialogue(*events, tasks=["x" * 300]))

    # then
    validated = valid(package)
    assert len(validated.transcript) == MAX_MESSAGES
    assert validated.transcript[-1].text == said  # the last messages are kept
    assert validated.transcript[0].text == "message 301"
    assert len(validated.attempted_steps) == MAX_STEPS
    assert validated.attempted_steps[-1].detail.startswith("Field119=")
    assert len(validated.facts) <= MAX_FACTS
    assert all(len(key) <= 100 for key in validated.facts)
    assert validated.intent is not None and len(validated.intent.name) == 100


def test_long_messages_are_cut_and_the_body_fits_one_request() -> None:
    events = [say(f"{index} " + "x" * (MAX_MESSAGE_CHARS + 50)) for index in range(80)]

    package = star_to_package(dialogue(*events))

    validated = valid(package)
    assert all(len(m.text) == MAX_MESSAGE_CHARS for m in validated.transcript)
    assert len(json.dumps(package).encode()) <= 1024 * 1024
    assert validated.transcript[-1].text.startswith("79 ")  # the oldest were dropped


# --- reading files ------------------------------------------------------------------------------


def test_read_source_tells_star_from_packages(tmp_path: Path) -> None:
    # given
    star_file = tmp_path / "star.jsonl.gz"
    with gzip.open(star_file, "wt", encoding="utf-8") as out:
        for number in range(3):
            out.write(json.dumps(dialogue(say("hello"), id=number)) + "\n")
    packages_file = tmp_path / "packages.jsonl"
    packages_file.write_text(
        "\n".join(
            json.dumps({"external_id": f"p-{n}", "summary": "s", "transcript": []})
            for n in range(3)
        )
        + "\n\n"
    )

    # then
    assert [d["id"] for d in read_star(star_file, limit=2)] == [0, 1]
    assert [p["external_id"] for p in read_source(star_file)] == ["star-0", "star-1", "star-2"]
    assert [p["external_id"] for p in read_source(packages_file, 2)] == ["p-0", "p-1"]
    assert len(list(read_packages(packages_file))) == 3


def test_a_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"external_id": "a", "summary": "s", "transcript": []}\nnot json\n')

    with pytest.raises(ValueError, match=r"bad.jsonl:2: not JSON"):
        list(read_packages(path))


# --- the demo packages --------------------------------------------------------------------------


def demo_packages() -> list[dict[str, Any]]:
    return list(read_packages(DEMO_PATH))


@pytest.mark.parametrize("package", demo_packages(), ids=lambda p: p["external_id"])
def test_demo_package_is_valid(package: dict[str, Any]) -> None:
    valid(package)


def test_demo_packages_cover_the_cases_the_demo_needs() -> None:
    packages = [HandoffPackage.model_validate(p) for p in demo_packages()]

    assert [p.external_id for p in packages] == [
        f"demo-{n:03d}" for n in range(1, len(packages) + 1)
    ]
    assert len(packages) >= 12
    tiers = {p.customer.tier for p in packages if p.customer}
    assert {"gold", "platinum"} <= tiers
    assert any(p.customer and p.customer.language == "es" for p in packages)
    assert any(p.customer is None and not p.attempted_steps for p in packages)
    assert any(
        p.intent and p.intent.confidence is not None and p.intent.confidence < 0.5 for p in packages
    )
    intents = {p.intent.name.split(".")[0] for p in packages if p.intent}
    assert {"billing", "account", "security", "technical", "legal", "general"} <= intents


# --- posting ------------------------------------------------------------------------------------


def test_replay_counts_every_kind_of_answer() -> None:
    # given: a desk that creates, updates, rejects, and one that cannot be reached
    seen: list[httpx.Request] = []

    def desk(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        external_id = json.loads(request.content)["external_id"]
        if external_id == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if external_id == "bad":
            return httpx.Response(
                422,
                json={
                    "type": "https://handoff-desk.dev/problems/validation",
                    "title": "Unprocessable content",
                    "status": 422,
                    "detail": "1 invalid field(s): transcript",
                    "errors": [{"loc": ["body", "transcript"], "msg": "Field required"}],
                },
            )
        return httpx.Response(200 if external_id == "again" else 201, json={"case_id": 1})

    packages = [{"external_id": name} for name in ("new", "again", "bad", "down", "new2")]

    # when
    report = replay(
        packages,
        "http://desk.test/",
        "hd_key",
        concurrency=3,
        idempotency=True,
        transport=httpx.MockTransport(desk),
    )

    # then
    assert (report.sent, report.created, report.updated, report.rejected, report.errors) == (
        5,
        2,
        1,
        1,
        1,
    )
    assert not report.ok
    assert report.rejections[0].status == 422
    assert (
        report.rejections[0].detail == "1 invalid field(s): transcript; transcript: Field required"
    )
    assert "down: ConnectError" in report.error_messages[0]
    assert {str(r.url) for r in seen} == {"http://desk.test/api/v1/handoffs"}
    assert all(r.headers["Authorization"] == "Bearer hd_key" for r in seen)
    keys = [r.headers["Idempotency-Key"] for r in seen]
    assert len(set(keys)) == 5 and all(k.startswith("replay-") for k in keys)
    assert "rejected 1" in "\n".join(report.lines())


def test_idempotency_keys_are_sent_only_when_asked() -> None:
    seen: list[httpx.Request] = []

    def desk(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={})

    report = replay(
        [{"external_id": "a"}], "http://desk.test", "k", transport=httpx.MockTransport(desk)
    )

    assert report.ok and report.created == 1
    assert "Idempotency-Key" not in seen[0].headers


def test_pacer_spaces_sends_without_bursting() -> None:
    now = [100.0]
    pacer = Pacer(rate=4, clock=lambda: now[0])

    assert [pacer.delay(), pacer.delay(), pacer.delay()] == [0.0, 0.25, 0.5]
    now[0] = 110.0  # fell far behind: no catch-up burst
    assert [pacer.delay(), pacer.delay()] == [0.0, 0.25]
    assert Pacer(rate=0).delay() == 0.0


def test_as_recent_moves_every_time_by_one_amount_and_keeps_the_original() -> None:
    package: dict[str, Any] = {
        "external_id": "c-1",
        "transcript": [
            {"role": "customer", "text": "hi", "at": "2026-03-02T07:48:04Z"},
            {"role": "bot", "text": "hello", "at": "2026-03-02T07:48:40+00:00"},
            {"role": "customer", "text": "no time"},
            {"role": "customer", "text": "bad time", "at": "yesterday"},
        ],
        "attempted_steps": [{"name": "lookup", "outcome": "failed", "at": "2026-03-02T07:48:10"}],
    }
    now = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)

    moved = as_recent(package, now)

    assert [m.get("at") for m in moved["transcript"]] == [
        "2026-12-02T08:59:24Z",  # 36 s before the latest, as in the recording
        "2026-12-02T09:00:00Z",
        None,
        "yesterday",
    ]
    assert moved["attempted_steps"][0]["at"] == "2026-12-02T08:59:30Z"  # naive: read as UTC
    assert package["transcript"][0]["at"] == "2026-03-02T07:48:04Z"  # the original is untouched
    assert as_recent({"external_id": "x", "transcript": []}, now) == {
        "external_id": "x",
        "transcript": [],
    }


# --- a desk-advised bot: it hands off where the desk's escalation advice says, not where the
# recording ended, and never from STAR's after-the-fact labels


def conversation(external_id: str, *customer: str) -> dict[str, Any]:
    transcript = []
    for index, text in enumerate(customer):
        transcript.append({"id": f"c{index}", "role": "customer", "text": text})
        transcript.append({"id": f"b{index}", "role": "bot", "text": f"Answer number {index}."})
    return {"external_id": external_id, "transcript": transcript}


@pytest.mark.django_db(transaction=True)
def test_a_conversation_is_handed_off_at_the_message_the_desk_advises(live_server: Any) -> None:
    # given a desk, and two recorded conversations: one asks for a person at its second turn
    MembershipFactory(queue=QueueFactory(slug="general", is_default=True))
    key = IntegrationFactory().raw_key
    asking = conversation(
        "asking", "My card was charged twice", "Get me a human agent", "Hello?", "Anyone?"
    )
    calm = conversation("calm", "What time do you open?", "Thanks, bye")

    # when the demo replays them as a desk-advised bot
    report = replay([asking, calm], live_server.url, key, assess=True)

    # then the first is handed off right after the request, with the desk's suggested trigger,
    # and the calm one at its recorded end
    assert report.created == 2 and report.ok
    early = Case.objects.get(external_id="asking")
    assert list(early.messages.order_by("seq").values_list("text", flat=True)) == [
        "My card was charged twice",
        "Answer number 0.",
        "Get me a human agent",
    ]
    assert early.trigger_reason == "customer_request"
    assert "the desk's advice" in early.trigger_detail
    assert Case.objects.get(external_id="calm").messages.count() == 4
