"""Sign-in throttling (django-axes): per username, per address, on the desk's and the admin's
sign-in; a page that says when to try again; admins unlock; every failure is on record."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tests.factories import (
    UserFactory,
)

LIMIT = 5
RIGHT = "pw-for-tests"


@pytest.fixture(autouse=True)
def throttled(settings) -> None:
    # The defaults, spelled out: what these tests assert does not move with the environment.
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def sign_in(client: Client, username: str, password: str, *, path: str = "/login/", ip: str = ""):
    extra = {"REMOTE_ADDR": ip} if ip else {}
    return client.post(path, {"username": username, "password": password}, **extra)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_wrong_passwords_for_one_user_lock_that_user_out_with_a_time_to_retry(path: str) -> None:
    user = UserFactory(username="ana", role="admin")
    client = Client()

    for _ in range(LIMIT - 1):
        assert sign_in(client, "ana", "guess", path=path).status_code == 200  # the form again
    locked = sign_in(client, "ana", "guess", path=path)
    then = sign_in(client, "ana", RIGHT, path=path)  # the right one no longer works

    for response in (locked, then):
        assert response.status_code == 429
        body = response.content.decode()
        assert "Sign-in paused" in body and "Try again at" in body and "UTC" in body
    assert "_auth_user_id" not in client.session
    assert not User.objects.get(pk=user.pk).last_login


@pytest.mark.django_db
def test_the_page_names_the_time_the_lockout_ends() -> None:
    UserFactory(username="ana", role="agent")
    client = Client()
    for _ in range(LIMIT):
        response = sign_in(client, "ana", "guess")

    last = AccessAttempt.objects.get(username="ana").attempt_time
    ends = timezone.localtime(last + timedelta(minutes=15))
    assert f"{ends:%H:%M} UTC" in response.content.decode()


@pytest.mark.django_db
def test_one_address_guessing_many_usernames_is_locked_out() -> None:
    UserFactory(username="bo", role="agent")
    client = Client()
    for n in range(LIMIT):
        sign_in(client, f"nobody{n}", "guess", ip="203.0.113.7")

    assert sign_in(client, "bo", RIGHT, ip="203.0.113.7").status_code == 429
    # Another address is not held back by it.
    assert sign_in(Client(), "bo", RIGHT, ip="198.51.100.1").status_code == 302


@pytest.mark.django_db
def test_one_username_guessed_from_many_addresses_is_locked_out() -> None:
    UserFactory(username="cy", role="agent")
    for n in range(LIMIT):
        sign_in(Client(), "cy", "guess", ip=f"203.0.113.{n + 1}")

    assert sign_in(Client(), "cy", RIGHT, ip="198.51.100.1").status_code == 429


@pytest.mark.django_db
def test_the_lockout_ends_by_itself_after_the_cool_off() -> None:
    UserFactory(username="di", role="agent")
    client = Client()
    for _ in range(LIMIT):
        sign_in(client, "di", "guess")

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert sign_in(client, "di", RIGHT).status_code == 302


@pytest.mark.django_db
def test_guessing_while_locked_out_does_not_push_the_time_back() -> None:
    UserFactory(username="ed", role="agent")
    client = Client()
    for _ in range(LIMIT):
        sign_in(client, "ed", "guess")
    first = AccessAttempt.objects.get(username="ed").attempt_time

    sign_in(client, "ed", "guess")

    assert AccessAttempt.objects.get(username="ed").attempt_time == first


@pytest.mark.django_db
def test_an_admin_unlocks_a_user_in_the_admin() -> None:
    # given a locked-out agent
    UserFactory(username="fay", role="agent")
    for _ in range(LIMIT):
        sign_in(Client(), "fay", "guess", ip="203.0.113.9")
    assert sign_in(Client(), "fay", RIGHT, ip="203.0.113.9").status_code == 429
    admin = Client()
    admin.force_login(UserFactory(username="root", role="admin", is_superuser=True))

    # when an admin deletes the attempts on record (Admin > Axes > Access attempts)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "fay" in listing.content.decode()
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    done = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )

    # then the agent signs in
    assert done.status_code == 302
    assert sign_in(Client(), "fay", RIGHT, ip="203.0.113.9").status_code == 302


@pytest.mark.django_db
def test_every_failure_lockout_and_sign_in_is_on_record(caplog: pytest.LogCaptureFixture) -> None:
    UserFactory(username="gil", role="agent")
    sign_in(Client(), "gil", RIGHT)
    client = Client()
    with caplog.at_level(logging.WARNING, logger="handoff_site.signin"):
        for _ in range(LIMIT):
            sign_in(client, "gil", "guess")

    failures = list(AccessFailureLog.objects.filter(username="gil").order_by("attempt_time"))
    assert len(failures) == LIMIT and failures[-1].locked_out and not failures[0].locked_out
    assert AccessLog.objects.filter(username="gil").count() == 1  # the sign-in that worked
    mine = [r.getMessage() for r in caplog.records if r.name == "handoff_site.signin"]
    assert len(mine) == 1 and mine[0].startswith("signin_locked_out path=/login/ until=")


@pytest.mark.django_db
def test_a_successful_sign_in_clears_the_count() -> None:
    UserFactory(username="hal", role="agent")
    client = Client()
    for _ in range(LIMIT - 1):
        sign_in(client, "hal", "guess")
    assert sign_in(client, "hal", RIGHT).status_code == 302
    client.logout()

    for _ in range(LIMIT - 1):
        sign_in(client, "hal", "guess")

    assert sign_in(client, "hal", RIGHT).status_code == 302


@pytest.mark.django_db
def test_a_username_longer_than_any_real_one_is_counted_and_locked_out_like_any_other() -> None:
    # given a guess far longer than the 255 characters axes keeps (a 500 on PostgreSQL once)
    client = Client()
    guess = "a" * 10_000

    # when it fails as often as the limit allows
    answers = [sign_in(client, guess, "guess").status_code for _ in range(LIMIT)]

    # then each try is the form again until the last, which is the lockout page
    assert answers == [200] * (LIMIT - 1) + [429]
    assert AccessAttempt.objects.get().username == "a" * 150


@pytest.mark.django_db
def test_login_page_renders(client):
    response = client.get("/login/")

    assert response.status_code == 200 and b"Sign in" in response.content
