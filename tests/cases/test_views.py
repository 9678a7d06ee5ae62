from __future__ import annotations

import pytest

from tests.factories import (
    CaseFactory,
    MembershipFactory,
    MessageFactory,
    QueueFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>{{ secret }}"


def test_anonymous_users_are_sent_to_the_login_page(client):
    case = CaseFactory()

    for url in ["/", f"/cases/{case.pk}/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_login_page_renders(client):
    response = client.get("/login/")

    assert response.status_code == 200 and b"Sign in" in response.content


def test_agent_sees_cases_of_own_queues_only(client):
    membership = MembershipFactory()
    own = CaseFactory(queue=membership.queue, customer_name="Own Customer")
    other = CaseFactory(queue=QueueFactory(), customer_name="Other Customer")
    client.force_login(membership.agent)

    queue_page = client.get(f"/queues/{membership.queue.slug}/")
    assert b"Own Customer" in queue_page.content and b"Other Customer" not in queue_page.content
    assert client.get(f"/queues/{other.queue.slug}/").status_code == 404
    assert client.get(f"/cases/{own.pk}/").status_code == 200
    assert client.get(f"/cases/{other.pk}/").status_code == 404


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_see_every_queue(client, role):
    case = CaseFactory()
    client.force_login(UserFactory(role=role))

    assert client.get(f"/cases/{case.pk}/").status_code == 200


def test_customer_supplied_text_is_rendered_as_text(client):
    case = CaseFactory(
        customer_name=XSS,
        summary=XSS,
        facts={"order": XSS},
        customer={"name": XSS},
        trigger_detail=XSS,
    )
    MessageFactory(case=case, text=XSS)
    client.force_login(UserFactory(role="supervisor"))

    content = client.get(f"/cases/{case.pk}/").content.decode()

    assert "<script>alert(1)</script>" not in content
    assert "<img src=x" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "{{ secret }}" in content


def test_health_check(client):
    assert client.get("/healthz").json() == {"status": "ok"}
