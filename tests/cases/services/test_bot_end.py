"""The bot ends the session with a person (Botpress's stopHitl), through the service: the open
case is resolved as ``ended_by_bot`` whoever held it, the change of hands audited and told,
the end pushed live; a closed or unknown conversation changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from cases.live import events as live_events
from cases.models import AGENT_RESOLUTIONS, Case, Delivery
from cases.services import agent_work, intake
from cases.services.ownership import HOLDER_CHANGED
from tests.factories import CaseFactory, IntegrationFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(monkeypatch) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    monkeypatch.setattr(live_events, "broadcast", lambda groups, message: frames.append(message))
    return frames


def test_an_assigned_case_ends_and_the_bot_holds_the_conversation_again(
    pushed, django_capture_on_commit_callbacks
):
    # given: a person holds the conversation
    membership = MembershipFactory()
    bot = IntegrationFactory(name="bp", callback_url="https://bot.example/hook")
    case = CaseFactory(queue=membership.queue, integration=bot, external_id="bp-1")
    agent_work.case_claim(case_id=case.pk, agent=membership.agent)
    pushed.clear()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        outcome = intake.conversation_end_by_bot(
            integration=bot, external_id="bp-1", action="stopHitl"
        )

    # then
    assert outcome is not None and outcome.ended
    case.refresh_from_db()
    assert (case.status, case.resolution_code, case.held_by) == (
        Case.Status.RESOLVED,
        Case.Resolution.ENDED_BY_BOT,
        None,
    )
    event = case.events.get(kind="ended_by_bot")
    assert event.data == {
        "action": "stopHitl",
        "status_was": "assigned",
        "held_by_was": membership.agent.pk,
    }
    assert event.case_version == case.version
    told = Delivery.objects.filter(case=case, kind=HOLDER_CHANGED).order_by("id").last()
    assert told is not None and told.payload["data"]["holder"] == "bot"
    assert told.payload["data"]["reason"] == "ended_by_bot"
    assert [frame["kind"] for frame in pushed] == ["case.ended_by_bot"]


def test_a_closed_conversation_is_left_as_it_is():
    bot = IntegrationFactory(name="bp")
    case = CaseFactory(integration=bot, external_id="bp-2", status=Case.Status.RETURNED)

    outcome = intake.conversation_end_by_bot(integration=bot, external_id="bp-2", action="stop")

    assert outcome is not None and outcome.case.pk == case.pk and not outcome.ended
    case.refresh_from_db()
    assert case.status == Case.Status.RETURNED and not case.events.exists()


def test_an_unknown_conversation_is_none():
    bot = IntegrationFactory(name="bp")
    CaseFactory(external_id="bp-3")  # another integration's

    assert intake.conversation_end_by_bot(integration=bot, external_id="bp-3", action="x") is None


def test_agents_cannot_pick_the_bots_resolution():
    membership = MembershipFactory()
    case = CaseFactory(queue=membership.queue)

    assert "ended_by_bot" not in dict(AGENT_RESOLUTIONS)
    with pytest.raises(agent_work.CaseActionError):
        agent_work.case_resolve(
            case_id=case.pk,
            agent=membership.agent,
            resolution_code="ended_by_bot",
            customer_repeated=False,
        )
