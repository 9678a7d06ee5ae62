"""A live desk for the benchmarks that drive a running server (push, assignment): queues with a
routing rule each (handoffs carry the queue's slug as a fact), agents with a signed-in session
each (no sign-in form: a session row made directly), their pages' sockets, handoff bodies routed
to a queue, and the commit times ``bench.probe`` notes in Redis."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlsplit

from bench.lib import db

ROUTING_FACT = "bench_queue"


def routed_queues(run: str, count: int, prefix: str) -> tuple[list[Any], str]:
    """The default queue and ``count - 1`` more, a published rule set sending a handoff whose
    ``facts.bench_queue`` is a queue's slug there, and an integration; (queues, its API key)."""
    from bench.lib import app

    queues = list(app.Queue.objects.filter(is_default=True)[:1])
    queues += [
        app.queue_ensure(slug=f"{prefix}-{n}", name=f"{prefix.title()} {n}", is_default=n == 0)
        for n in range(len(queues), count)
    ]
    rules = [
        {"name": f"bench {q.slug}", "queue": q.slug, "conditions": {"all": [
            {"field": f"facts.{ROUTING_FACT}", "op": "eq", "value": q.slug}]}}
        for q in queues if not q.is_default
    ]  # fmt: skip
    app.rule_set_publish(ruleset=app.rule_set_create_draft(rules=rules), note=f"bench/{prefix}")
    _, api_key = app.integration_create(name=f"{prefix}-{run}")
    return queues, api_key


def people(
    prefix: str, count: int, group: str = "agent", password: str | None = None,
    queues: list[Any] | None = None,
) -> list[Any]:  # fmt: skip
    """``count`` users of ``group`` (plain bulk inserts), each a member of one of ``queues`` in
    turn (capacity 5) when given. No usable password unless ``password``: then one hash for
    all, which each sign-in still checks in full."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User

    from bench.lib import app

    hashed = make_password(password)
    users = User.objects.bulk_create(
        User(username=f"{prefix}-{group}-{n:03d}", first_name=f"{group.title()}{n}",
             password=hashed) for n in range(count)
    )  # fmt: skip
    Group.objects.get(name=group).user_set.add(*users)
    if queues:
        app.Membership.objects.bulk_create(
            app.Membership(agent=user, queue=queues[n % len(queues)], capacity=5)
            for n, user in enumerate(users)
        )
    return users


def session_cookie(user: Any) -> str:
    """A signed-in session for the user, as the ``Cookie`` header's value."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


async def keep_socket(
    base_url: str, cookie: str, serve: Callable[[Any], Awaitable[None]],
    failed: Callable[[str], None], closing: Callable[[], bool], open_timeout: float = 30.0,
    sock: Callable[[], Awaitable[Any]] | None = None,
) -> None:  # fmt: skip
    """An agent page's ``/ws/desk/`` socket kept as ``static/js/live.js`` keeps it: the session
    cookie and Origin, permessage-deflate as browsers ask, ``serve(ws)`` until it closes, then a
    new one after min(30 s, 0.5 s x 2^attempt) x 0.75-1.25. A failed attempt is ``failed(what)``;
    ``sock`` makes each attempt's TCP socket."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    url, origin, attempt = f"ws://{urlsplit(base_url).netloc}/ws/desk/", cast(Any, base_url), 0
    while not closing():
        try:
            extra = {"sock": await sock()} if sock else {}
            ws = await connect(
                url, origin=origin, open_timeout=open_timeout, ping_interval=None, proxy=None,
                compression="deflate", additional_headers={"Cookie": cookie}, **extra,
            )  # fmt: skip
        except InvalidStatus as exc:
            failed(f"handshake rejected ({exc.response.status_code})")
        except Exception as exc:
            failed("refused" if isinstance(exc, ConnectionError) else type(exc).__name__)
        else:
            attempt = 0
            await serve(ws)
        if not closing():
            attempt += 1
            await asyncio.sleep(min(30.0, 0.5 * 2**attempt) * random.uniform(0.75, 1.25))


def handoff_body(packages: list[Any], n: int, external_id: str, slug: str) -> bytes:
    """The n-th package (round robin) with this external id, routed to the queue ``slug``."""
    return db.body(db.template(packages[n % len(packages)], **{ROUTING_FACT: slug}), external_id)


def commit_times_reset() -> None:
    """Forget the stamps of earlier runs (a fresh database numbers its cases from 1 again)."""
    import redis
    from django.conf import settings

    from bench.probe import COMMITS_KEY, SENT_KEY

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.delete(COMMITS_KEY, SENT_KEY)
    finally:
        client.close()


def commit_times(case_ids: list[int]) -> dict[int, float]:
    """When each case's intake committed: its on-commit callback's start, as the server's probe
    (``bench.probe``) noted it."""
    import redis
    from django.conf import settings

    from bench.probe import COMMITS_KEY

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        stamps = client.hmget(COMMITS_KEY, [str(case_id) for case_id in case_ids])
    finally:
        client.close()
    return {case_id: float(stamp) for case_id, stamp in zip(case_ids, stamps, strict=True) if stamp}
