"""Presence (cases/presence.py): a row per open page, refreshed by its heartbeat; stale rows do
not count and are purged."""

from __future__ import annotations

import pytest
from django.utils import timezone

from cases import presence
from cases.models import Presence
from tests.factories import CaseFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def make_stale(channel_name: str) -> None:
    Presence.objects.filter(channel_name=channel_name).update(
        seen_at=timezone.now() - presence.STALE_AFTER - presence.STALE_AFTER
    )


def test_who_views_a_case_and_who_of_a_queue_is_online():
    # given: two agents of a queue, one with the case open, and a supervisor outside the queue
    case = CaseFactory()
    ana = MembershipFactory(queue=case.queue, agent__first_name="Ana", agent__last_name="R").agent
    ben = MembershipFactory(queue=case.queue, agent__first_name="Ben", agent__last_name="S").agent
    lead = UserFactory(role="supervisor", first_name="Lea", last_name="T")

    # when
    presence.presence_join(channel_name="c1", user=ana, case_id=case.pk)
    presence.presence_join(channel_name="c2", user=ben, case_id=None)
    presence.presence_join(channel_name="c3", user=lead, case_id=case.pk)

    # then
    assert presence.case_viewers(case.pk) == ["Ana R", "Lea T"]
    assert presence.queue_online(case.queue_id) == ["Ana R", "Ben S"]
    assert presence.online_user_ids() == {ana.pk, ben.pk, lead.pk}
    assert presence.queue_presence_frame(case.queue_id) == {
        "type": "desk.presence",
        "queue_id": case.queue_id,
        "online": ["Ana R", "Ben S"],
    }


def test_a_page_that_left_or_went_stale_does_not_count():
    agent = MembershipFactory().agent
    presence.presence_join(channel_name="gone", user=agent, case_id=None)
    presence.presence_join(channel_name="stale", user=UserFactory(), case_id=None)

    presence.presence_leave(channel_name="gone")
    make_stale("stale")

    assert presence.online_user_ids() == set()
    assert presence.presence_purge() == 1
    assert not Presence.objects.exists()


def test_a_heartbeat_says_when_a_stale_page_counts_again():
    # given: a page that is live, and one whose row went stale while its socket stayed open
    agent = UserFactory()
    presence.presence_join(channel_name="live", user=agent, case_id=None)
    presence.presence_join(channel_name="asleep", user=agent, case_id=None)
    make_stale("asleep")

    # when / then: only the page that had stopped counting is news
    assert presence.presence_touch(channel_name="live", user=agent, case_id=None) is False
    assert presence.presence_touch(channel_name="asleep", user=agent, case_id=None) is True
    assert presence.presence_touch(channel_name="purged", user=agent, case_id=None) is True
    assert Presence.objects.count() == 3 and presence.online_user_ids() == {agent.pk}
