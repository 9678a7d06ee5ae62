"""Admins unlock locked-out sign-ins from the desk (issue 13): a page that lists who and which
address is locked out and until when, an Unlock button per row, every lockout and unlock on
record. Supervisors and agents cannot; the admin role can in the Django admin too."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.admin.models import DELETION, LogEntry
from django.test import Client

from tests.factories import UserFactory

LIMIT = 5
RIGHT = "pw-for-tests"
PAGE = "/lockouts/"
UNLOCK = "/lockouts/unlock/"


@pytest.fixture(autouse=True)
def throttled(settings) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def sign_in(username: str, password: str, *, ip: str = "203.0.113.9", path: str = "/login/"):
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def lock_out(username: str, *, ip: str = "203.0.113.9") -> None:
    for _ in range(LIMIT):
        sign_in(username, "guess", ip=ip)
    assert sign_in(username, RIGHT, ip=ip).status_code == 429


def as_admin() -> Client:
    # The desk's admin role, not a superuser: the role itself must be enough.
    client = Client()
    client.force_login(UserFactory(username="ada", first_name="Ada", role="admin"))
    return client


@pytest.mark.django_db
def test_the_page_lists_the_locked_out_username_and_address_and_until_when() -> None:
    UserFactory(username="fay", role="agent")
    lock_out("fay")

    response = as_admin().get(PAGE)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Locked-out sign-ins" in body
    assert 'aria-label="Unlock username fay"' in body
    assert 'aria-label="Unlock address 203.0.113.9"' in body
    last = AccessAttempt.objects.get(username="fay").attempt_time
    assert f"{last + timedelta(minutes=15):%H:%M} UTC" in body
    assert "guess" not in body  # what was typed is never shown


@pytest.mark.django_db
def test_an_admin_unlocks_a_username_and_the_user_signs_in() -> None:
    # given a locked-out agent
    UserFactory(username="fay", role="agent")
    lock_out("fay")
    admin = as_admin()

    # when the admin presses Unlock on fay's row
    done = admin.post(UNLOCK, {"username": "fay"}, follow=True)

    # then the page says so, fay is no longer listed, and fay signs in
    body = done.content.decode()
    assert done.status_code == 200 and "Unlocked username fay" in body
    assert 'aria-label="Unlock username fay"' not in body
    assert not AccessAttempt.objects.filter(username="fay").exists()
    assert sign_in("fay", RIGHT).status_code == 302


@pytest.mark.django_db
def test_an_admin_unlocks_an_address_that_guessed_many_usernames() -> None:
    UserFactory(username="bo", role="agent")
    for n in range(LIMIT):
        sign_in(f"nobody{n}", "guess", ip="198.51.100.4")
    assert sign_in("bo", RIGHT, ip="198.51.100.4").status_code == 429

    as_admin().post(UNLOCK, {"ip_address": "198.51.100.4"})

    assert sign_in("bo", RIGHT, ip="198.51.100.4").status_code == 302


@pytest.mark.django_db
def test_each_lockout_and_each_unlock_is_on_record(caplog: pytest.LogCaptureFixture) -> None:
    UserFactory(username="fay", role="agent")
    lock_out("fay")
    admin = as_admin()

    with caplog.at_level(logging.INFO, logger="handoff_site.signin"):
        admin.post(UNLOCK, {"username": "fay"})

    # the unlock, in the admin's log (Admin > Recent actions), by whom and of what
    entry = LogEntry.objects.get(action_flag=DELETION)
    assert entry.user.username == "ada"
    assert entry.content_type is not None and entry.content_type.model_class() is AccessAttempt
    assert entry.object_repr == "username fay"
    # one structured line, without the username, address or any password
    lines = [r.getMessage() for r in caplog.records if "signin_unlocked" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("signin_unlocked by_user_id=") and "what=username" in lines[0]
    assert "fay" not in lines[0] and "203.0.113.9" not in lines[0] and "guess" not in lines[0]
    # and the page's history shows the lockout, then the unlock by Ada
    from handoff_site import lockouts  # here, so the other tests fail on their own before it

    history = lockouts.lockout_history()
    assert [(h.kind, h.subject) for h in history] == [
        ("unlocked", "username fay"),
        ("locked_out", "username fay from 203.0.113.9"),
    ]
    body = admin.get(PAGE).content.decode()
    assert "Unlocked by Ada" in body and "Locked out" in body


@pytest.mark.django_db
def test_unlocking_what_is_no_longer_locked_says_so_and_records_nothing() -> None:
    response = as_admin().post(UNLOCK, {"username": "nobody"}, follow=True)

    assert response.status_code == 200
    assert "nobody was not locked out" in response.content.decode()
    assert not LogEntry.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {},
        {"username": "a", "ip_address": "203.0.113.9"},
        {"ip_address": "not-an-address"},
        {"username": "a\x00b"},
        {"username": "x" * 300},
    ],
)
def test_a_bad_unlock_is_a_400_that_says_why_never_a_500(data: dict[str, str]) -> None:
    response = as_admin().post(UNLOCK, data)

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_cannot_see_or_unlock(role: str) -> None:
    UserFactory(username="fay", role="agent")
    lock_out("fay")
    client = Client()
    client.force_login(UserFactory(username=f"a-{role}", role=role))

    assert client.get(PAGE).status_code == 403
    assert client.post(UNLOCK, {"username": "fay"}).status_code == 403
    assert AccessAttempt.objects.filter(username="fay").exists()
    assert "/lockouts/" not in client.get("/").content.decode()


@pytest.mark.django_db
def test_signed_out_visitors_are_sent_to_sign_in() -> None:
    response = Client().get(PAGE)

    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_the_admin_nav_links_to_the_page() -> None:
    assert f'href="{PAGE}"' in as_admin().get("/").content.decode()


@pytest.mark.django_db
def test_the_admin_role_unlocks_in_the_django_admin_too() -> None:
    UserFactory(username="fay", role="agent")
    lock_out("fay")
    admin = as_admin()

    listing = admin.get("/admin/axes/accessattempt/")
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    done = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )

    assert listing.status_code == 200 and "fay" in listing.content.decode()
    assert done.status_code == 302
    assert sign_in("fay", RIGHT).status_code == 302
    assert admin.get("/admin/axes/accessfailurelog/").status_code == 200
