"""The assignment pages: an agent's state control, answering an offer, and the supervisor's
forms for a queue's mode and an agent's cap across queues. Bad input is a message, never a 500."""

from __future__ import annotations

import pytest

from cases import presence
from cases.models import AgentStatus, Case, CaseEvent, Offer
from cases.services import assignment
from queues.models import Queue
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def offered(client):
    queue = QueueFactory(slug="push", assignment_mode="push")
    agent = MembershipFactory(queue=queue).agent
    presence.agent_page_seen(user_id=agent.pk)
    CaseFactory(queue=queue, customer_name="Ana <b>Ruiz</b>")
    (offer,) = assignment.queue_assign(queue_id=queue.pk)
    client.force_login(agent)
    return offer


def test_the_top_bar_shows_the_state_control_and_the_offer_template(client, offered):
    page = client.get("/").content.decode()

    assert 'id="agent-state"' in page and 'data-shortcut="p"' in page
    assert 'id="offer-template"' in page and 'data-shortcut="a"' in page
    assert 'data-pull-queues=""' in page  # the agent's only queue pushes


def test_an_agent_sets_their_state_by_htmx_and_a_bad_one_is_a_message(client, offered):
    response = client.post("/me/state/", {"state": "away"}, headers={"HX-Request": "true"})

    assert response.status_code == 200 and 'data-chosen="away"' in response.content.decode()
    assert AgentStatus.objects.get(user=offered.agent).chosen == "away"

    bad = client.post("/me/state/", {"state": "busy"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "Pick online, away or offline." in bad.content.decode()
    plain = client.post("/me/state/", {"state": "", "next": "//evil.example/"}, follow=True)
    assert plain.status_code == 200 and "Pick online, away or offline." in plain.content.decode()


def test_the_p_shortcut_switches_from_the_state_the_desk_holds_not_the_one_the_page_drew(
    client, offered
):
    # given a page drawn while the agent was online, then the desk set them away (missed offers)
    AgentStatus.objects.filter(user=offered.agent).update(chosen="away", state="away")

    # when they press p on that page
    response = client.post("/me/state/", {"state": "switch"}, headers={"HX-Request": "true"})

    # then they are back online, and p again steps away
    assert 'data-chosen="online"' in response.content.decode()
    client.post("/me/state/", {"state": "switch"}, headers={"HX-Request": "true"})
    assert AgentStatus.objects.get(user=offered.agent).chosen == "away"


def test_accepting_opens_the_case(client, offered):
    response = client.post(f"/offers/{offered.pk}/accept/", {"next": "/"})

    assert response.status_code == 302 and response["Location"] == f"/cases/{offered.case_id}/"
    assert Case.objects.get(pk=offered.case_id).assignee == offered.agent
    assert CaseEvent.objects.filter(case_id=offered.case_id, kind="offer_accepted").exists()


def test_declining_by_htmx_is_204_and_a_second_answer_says_why(client, offered):
    response = client.post(f"/offers/{offered.pk}/decline/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert Offer.objects.get(pk=offered.pk).state == "declined"

    again = client.post(f"/offers/{offered.pk}/decline/", headers={"HX-Request": "true"})
    assert again.status_code == 409 and again.content.decode() == "You declined this case."
    late = client.post(f"/offers/{offered.pk}/accept/", {"next": "/"}, follow=True)
    assert "You declined this case." in late.content.decode()


def test_another_agents_offer_is_refused(client, offered):
    client.force_login(UserFactory(role="agent"))

    response = client.post(f"/offers/{offered.pk}/accept/", follow=True)

    assert response.status_code == 200 and "not yours" in response.content.decode()
    assert Offer.objects.get(pk=offered.pk).state == "pending"


def test_a_supervisor_turns_a_queue_to_push_and_bad_values_are_messages(client):
    queue = QueueFactory(slug="billing")
    client.force_login(UserFactory(role="supervisor"))
    url = "/console/billing/assignment/"
    good = {"mode": "push", "offer_seconds": 20, "misses_before_away": 2, "reserved_slots": 1}

    page = client.post(url, good, follow=True).content.decode()

    queue = Queue.objects.get(pk=queue.pk)
    assert (queue.assignment_mode, queue.offer_seconds, queue.reserved_slots) == ("push", 20, 1)
    assert "the desk offers each case to a free agent, 20 s to answer" in page
    bad = client.post(url, good | {"mode": "shove", "offer_seconds": "soon"}, follow=True)
    assert "Pick pull or push." in bad.content.decode()
    assert "The offer time is a number of seconds" in bad.content.decode()


def test_an_agent_cannot_change_a_queues_assignment(client):
    QueueFactory(slug="billing")
    client.force_login(UserFactory(role="agent"))

    response = client.post("/console/billing/assignment/", {"mode": "push"})

    assert response.status_code == 403


def test_a_supervisor_caps_an_agent_across_queues(client):
    membership = MembershipFactory(queue=QueueFactory(slug="billing"))
    client.force_login(UserFactory(role="supervisor"))

    page = client.post(
        "/console/billing/overall-cap/", {"agent": membership.agent_id, "max_open": 3}, follow=True
    ).content.decode()

    assert AgentStatus.objects.get(user=membership.agent).max_open == 3
    assert "up to 3 open cases in all queues" in page
    bad = client.post(
        "/console/billing/overall-cap/", {"agent": membership.agent_id, "max_open": 0}, follow=True
    )
    assert "from 1 to 200" in bad.content.decode()
