"""A live desk for the benchmarks that drive a running server (push, assignment): queues with a
routing rule each (handoffs carry the queue's slug as a fact), agents with a signed-in session
each (no sign-in form: a session row made directly), handoff bodies routed to a queue, and the
commit times ``bench.push_probe`` notes in Redis."""

from __future__ import annotations

from typing import Any

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


def agent_users(prefix: str, count: int) -> list[Any]:
    """``count`` agents (plain bulk inserts, no usable password) in the agent group."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User

    users = User.objects.bulk_create(
        User(username=f"{prefix}-agent-{n:03d}", first_name=f"Agent{n}",
             password=make_password(None))
        for n in range(count)
    )  # fmt: skip
    Group.objects.get(name="agent").user_set.add(*users)
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


def handoff_body(packages: list[Any], n: int, external_id: str, slug: str) -> bytes:
    """The n-th package (round robin) with this external id, routed to the queue ``slug``."""
    return db.body(db.template(packages[n % len(packages)], **{ROUTING_FACT: slug}), external_id)


def commit_times_reset() -> None:
    """Forget the stamps of earlier runs (a fresh database numbers its cases from 1 again)."""
    import redis
    from django.conf import settings

    from bench.push_probe import COMMITS_KEY

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.delete(COMMITS_KEY)
    finally:
        client.close()


def commit_times(case_ids: list[int]) -> dict[int, float]:
    """When each case's intake committed: its on-commit callback's start, as the server's probe
    (``bench.push_probe``) noted it."""
    import redis
    from django.conf import settings

    from bench.push_probe import COMMITS_KEY

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        stamps = client.hmget(COMMITS_KEY, [str(case_id) for case_id in case_ids])
    finally:
        client.close()
    return {case_id: float(stamp) for case_id, stamp in zip(case_ids, stamps, strict=True) if stamp}
