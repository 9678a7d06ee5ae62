"""No 500 from any page or form, whatever is typed or forged (issue 13, item 2).

Every URL pattern of the site (``get_resolver()`` walked, so a new page is covered without
touching this file; the API is left to Schemathesis) is asked, as each role and anonymously:

- with its path parameters filled by real rows' ids and by ids no row has (0, a number past
  any integer column, a slug of 300 characters; -1 where the converter takes it);
- by GET, with every query parameter the view reads (recorded while it runs, plus a generic
  set) set to NUL, a number past 64 bits, -1, dates 0001-01-01 and 9999-12-31, garbage and
  100 KB of text;
- by POST, with every field of every form the role's pages show for that address (their
  values kept, one field at a time made hostile), and with every field the view reads set to
  NUL, 100 KB of text, huge and negative numbers, extreme dates, 5,000 nested brackets or
  nothing at all.

A clear 4xx, a redirect, or a page with a message is fine; a 5xx is a failure, reported with the
address, the input and the exception. PostgreSQL refuses NUL in text where SQLite stores it, so
run it on both (``DATABASE_URL=postgres://…``). Each request runs in a savepoint rolled back
after it: one probe's changes (a case resolved, a row deleted) never hide another page.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import django.core.handlers.wsgi
import django.http.request
import pytest
from django.db import transaction
from django.http import QueryDict
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from cases.models import CannedReply, Case, Delivery, Intent, IntentCorrection
from queues import services as routing
from queues.models import RoutingRule
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    MessageFactory,
    QueueFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NUL = "a\x00b"
HUGE = "99999999999999999999"
BIG_TEXT = "x" * 100_000
DEEP = "[" * 5_000 + "]" * 5_000
# Query parameters every page is asked with, whatever it reads.
GENERIC_KEYS = ["q", "page", "from", "to", "queue", "integration", "intent", "view", "show", "next"]
QUERY_VARIANTS = [NUL, HUGE, "-1", "0001-01-01", "9999-12-31", "garbage\xff\ufffd%", BIG_TEXT]
# The date pairs metrics-style pages read, both ends at once.
PERIODS = [
    {"from": "0001-01-01", "to": "9999-12-31"},
    {"from": "9999-12-31", "to": "0001-01-01"},
    {"from": "1900-01-01", "to": "2100-12-31"},
    {"from": "2026-02-30", "to": "2026-13-01"},
]
POST_VARIANTS = [NUL, HUGE, "-1", "0001-01-01", "9999-12-31T23:59:59+20:00", BIG_TEXT, DEEP, ""]
ADMIN_POST_VARIANTS = [NUL, HUGE, BIG_TEXT, ""]
# Made hostile one field at a time, the form's other values kept.
FIELD_VARIANTS = [NUL, HUGE]
ROLES = ["anonymous", "agent", "supervisor", "admin"]
SKIPPED_PREFIXES = ("api/",)  # the API: tests/api/test_schemathesis.py


# --- recording what a view reads ---------------------------------------------------------------

READ_GET: set[str] = set()
READ_POST: set[str] = set()


class RecordingQueryDict(QueryDict):
    """A QueryDict that notes every key looked up: the parameters a view reads."""

    read = READ_GET

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)

    def getlist(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().getlist(key, default)


class RecordingPost(RecordingQueryDict):
    read = READ_POST


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> None:
    # request.GET is built in the WSGI handler's module, request.POST (urlencoded) in request's.
    monkeypatch.setattr(django.core.handlers.wsgi, "QueryDict", RecordingQueryDict)
    monkeypatch.setattr(django.http.request, "QueryDict", RecordingPost)


# --- the forms a page shows ----------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class FormParser(HTMLParser):
    """Every form of a page: its action, method and fields with the values the page gives."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            action = urljoin(self.page, a.get("action") or a.get("hx-post") or self.page)
            self._form = Form(urlsplit(action).path, (a.get("method") or "get").lower())
            self.forms.append(self._form)
            return
        form = self._form
        if form is None or not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text")
            if kind in {"checkbox", "radio"} and "checked" not in a and name in form.fields:
                return
            form.fields.setdefault(name, a.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "button":
            form.fields.setdefault(name, a.get("value", ""))
        elif tag == "select":
            self._select = name
            form.fields.setdefault(name, "")
        elif tag == "textarea":
            self._textarea = name
            form.fields.setdefault(name, "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea and not self._form.fields[self._textarea]:
            self._form.fields[self._textarea] = data


def forms_of(page: str, html: str) -> list[Form]:
    parser = FormParser(page)
    parser.feed(html)
    return parser.forms


# --- the site's addresses ------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name"
    route: str  # the pattern's text, for messages
    converters: dict[str, str]  # parameter -> converter class name


def walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        text = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if text.lstrip("^").startswith(SKIPPED_PREFIXES):
                continue
            inner = f"{namespace}:{entry.namespace}" if entry.namespace else namespace
            yield from walk(entry.url_patterns, text, inner.lstrip(":"))
        elif isinstance(entry, URLPattern) and entry.name:
            converters = {
                name: type(conv).__name__
                for name, conv in getattr(entry.pattern, "converters", {}).items()
            }
            for name in re.findall(r"\(\?P<(\w+)>", text):  # regex patterns (admin's app list)
                converters.setdefault(name, "RegexConverter")
            yield Route(f"{namespace}:{entry.name}".lstrip(":"), text, converters)


def all_routes() -> list[Route]:
    # Resolver's prefixes of included resolvers stack; some routes are named twice (the same
    # view at two addresses is not): one of each text.
    unique: dict[str, Route] = {}
    for route in walk(get_resolver().url_patterns):
        unique.setdefault(route.route, route)
    return list(unique.values())


ROUTES = all_routes()


# --- the rows the pages are asked about ----------------------------------------------------------


@pytest.fixture
def world() -> dict[str, Any]:
    general = QueueFactory(slug="general", name="General", is_default=True)
    billing = QueueFactory(slug="billing", name="Billing")
    integration = IntegrationFactory(name="acme-bot", callback_url="https://x.test")
    agent = UserFactory(username="agent", role="agent", first_name="Sam")
    supervisor = UserFactory(username="supervisor", role="supervisor", first_name="Kim")
    admin = UserFactory(username="admin", role="admin", first_name="Ada")
    for queue in (general, billing):
        MembershipFactory(agent=agent, queue=queue)
    Intent.objects.create(name="billing.refund", label="Refund")
    Intent.objects.create(name="billing.double_charge", label="Double charge")
    waiting = CaseFactory(integration=integration, queue=general, facts={"order_id": "A-1"})
    held = CaseFactory(
        integration=integration,
        queue=billing,
        status=Case.Status.ASSIGNED,
        assignee=agent,
        first_claimed_at=timezone.now(),
    )
    resolved = CaseFactory(
        integration=integration,
        queue=general,
        status=Case.Status.RESOLVED,
        assignee=agent,
        resolved_at=timezone.now(),
        resolution_code=Case.Resolution.choices[0][0],
    )
    for case in (waiting, held, resolved):
        MessageFactory(case=case)
    IntentCorrection.objects.create(
        case=resolved, from_intent="billing.refund", to_intent="billing.double_charge", agent=agent
    )
    reply = CannedReply.objects.create(name="Hello", body="Hi {{customer.name}}", queue=billing)
    delivery = Delivery.objects.create(
        case=held,
        integration=integration,
        kind="agent.message",
        payload={"type": "agent.message", "data": {"case_id": held.pk}},
        state=Delivery.State.DEAD,
        attempts=1,
        next_attempt_at=timezone.now(),
    )
    rules = [
        {
            "name": "Billing",
            "conditions": {"all": [{"field": "intent.name", "op": "starts_with", "value": "bill"}]},
            "queue": "billing",
        }
    ]
    first = routing.rule_set_create_draft(rules=rules, author=admin)
    published = routing.rule_set_publish(ruleset=first, publisher=admin, note="start")
    draft = routing.rule_set_draft(author=admin)
    rule = RoutingRule.objects.filter(ruleset=draft).first()
    assert rule is not None
    users = {"agent": agent, "supervisor": supervisor, "admin": admin}
    ids = {
        "case_id": [waiting.pk, held.pk, resolved.pk],
        "reply_id": [reply.pk],
        "delivery_id": [delivery.pk],
        "rule_id": [rule.pk],
        "version": [published.version],
        "integration_id": [integration.pk],
        "content_type_id": [],
        "slug": ["general", "billing"],
    }
    return {"users": users, "ids": ids}


# Parameters whose values are words, not ids: every word the view knows, and one it does not.
WORDS = {
    "action": ["claim", "release", "intent", "await", "reopen", "reassign", "no-such-action"],
    "change": ["delete", "up", "down", "toggle", "no-such-change"],
    "table": [
        "queues",
        "integrations",
        "overrides",
        "confusion",
        "misroutes",
        "volume",
        "canned",
        "nope",
    ],
    "app_label": ["cases", "queues", "auth"],
}
HOSTILE_PATH = {
    "IntConverter": [HUGE, "0"],
    "SlugConverter": ["no-such-slug", "a" * 300],
    "StringConverter": ["no-such-thing", quote(NUL)],
    "PathConverter": [HUGE, "-1", "0", quote(NUL), "a" * 300],
    "RegexConverter": [],
}


def admin_model(route: Route) -> Any:
    """The model of an admin page (``admin:cases_case_change``), if it is one."""
    from django.contrib import admin

    for model in admin.site._registry:
        if route.name.startswith(f"admin:{model._meta.app_label}_{model._meta.model_name}_"):
            return model
    return None


def real_value(route: Route, param: str, world: dict[str, Any]) -> list[str]:
    if param in WORDS:
        return WORDS[param]
    if param == "object_id":
        model = admin_model(route)
        row = model.objects.order_by("pk").first() if model else None
        return [str(row.pk)] if row else ["1"]
    if param == "content_type_id":
        from django.contrib.contenttypes.models import ContentType

        return [str(ContentType.objects.get_for_model(Case).pk)]
    return [str(value) for value in world["ids"].get(param, [])]


# How much each address is asked: everything (the route with real values), its forms posted
# (other real values: another case, another action), or plainly (ids no row has).
FULL, POSTS, PLAIN = "full", "posts", "plain"


def addresses(route: Route, world: dict[str, Any]) -> list[tuple[str, str]]:
    """The route with real values, then each parameter in turn another real value or hostile."""
    params = list(route.converters)
    real = {p: real_value(route, p, world) for p in params}
    if any(not values for values in real.values()):
        return []
    base = {p: values[0] for p, values in real.items()}
    if route.name == "admin:view_on_site":
        base["object_id"] = str(world["ids"]["case_id"][0])
    kwargs_sets = [(base, FULL)]
    for param in params:
        kwargs_sets += [({**base, param: value}, POSTS) for value in real[param][1:]]
        hostile = HOSTILE_PATH.get(route.converters[param], [])
        kwargs_sets += [({**base, param: value}, PLAIN) for value in hostile]
    urls: dict[str, str] = {}
    for kwargs, level in kwargs_sets:
        try:
            urls.setdefault(reverse(route.name, kwargs=kwargs), level)
        except NoReverseMatch:  # a value the converter refuses is no address of the site
            continue
    return list(urls.items())


# --- probing --------------------------------------------------------------------------------------


def shown(data: dict[str, Any] | None) -> str:
    def short(value: Any) -> Any:
        return value[:20] + "…" if isinstance(value, str) and len(value) > 20 else value

    return repr({key: short(value) for key, value in (data or {}).items()})


@dataclass
class Probe:
    client: Client
    failures: list[str] = field(default_factory=list)
    forms: dict[str, list[Form]] = field(default_factory=dict)
    count: int = 0

    def request(self, method: str, url: str, data: dict[str, Any] | None = None) -> Any:
        READ_GET.clear()
        READ_POST.clear()
        self.count += 1
        cookies = copy.deepcopy(self.client.cookies)  # a probe of logout/ must not sign us out
        with transaction.atomic():
            if method == "get":
                response = self.client.get(url, data)
            else:
                body = urlencode(data or {}, doseq=True)
                response = self.client.post(
                    url, body, content_type="application/x-www-form-urlencoded"
                )
            transaction.set_rollback(True)
        self.client.cookies = cookies
        if response.status_code >= 500:
            error = ""
            if getattr(response, "exc_info", None):
                exc = response.exc_info[1]
                error = f" {type(exc).__name__}: {str(exc)[:160]}"
            failure = f"{method.upper()} {url} {shown(data)} -> {response.status_code}{error}"
            self.failures.append(failure)
        return response

    def crawl(self, url: str) -> tuple[bool, set[str]]:
        """GET a page plainly; note its forms and the query parameters it read."""
        response = self.request("get", url)
        read = set(READ_GET)
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            for form in forms_of(url, response.content.decode(errors="replace")):
                if form.method == "post":
                    self.forms.setdefault(form.action, []).append(form)
        return response.status_code == 200, read


def client_for(role: str, world: dict[str, Any]) -> Client:
    client = Client(raise_request_exception=False)
    if role != "anonymous":
        client.force_login(world["users"][role])
    return client


def refused(response: Any) -> bool:
    """Nothing behind it for this role: signed out, forbidden, not found, another method."""
    if response.status_code in {401, 403, 404, 405}:
        return True
    return response.status_code == 302 and response["Location"].startswith(
        (reverse("login"), reverse("admin:login"))
    )


def get_probes(probe: Probe, url: str, read: set[str], each_key: bool) -> None:
    keys = sorted(read | set(GENERIC_KEYS))
    for value in QUERY_VARIANTS:
        probe.request("get", url, {key: value for key in keys})
    # One at a time: an early refusal must not hide a later key (the admin's lists: the search).
    for key in sorted(read) if each_key else ["q"]:
        for value in (NUL, HUGE):
            probe.request("get", url, {key: value})
    if read & {"from", "to"}:
        for period in PERIODS:
            probe.request("get", url, period)
    probe.request("get", url, {key: ["1", NUL] for key in keys})  # a key given twice


def post_probes(probe: Probe, url: str, site: bool) -> None:
    """The site's forms field by field and every variant; the admin's (Django's own forms,
    sampled) with their fields all made hostile at once."""
    if refused(probe.request("post", url, {})):
        return
    read = set(READ_POST)
    forms = probe.forms.get(urlsplit(url).path, [])
    if not forms and not read:
        return  # the view reads nothing posted
    seen: set[frozenset[str]] = set()
    for form in forms:
        if frozenset(form.fields) in seen:
            continue
        seen.add(frozenset(form.fields))
        probe.request("post", url, form.fields)
        read |= READ_POST
        names = [name for name in form.fields if name != "csrfmiddlewaretoken"]
        for name in names if site else []:
            # A number past any id where the page has a number (or nothing) in the field.
            numeric = form.fields[name].strip().isdigit() or not form.fields[name]
            for value in FIELD_VARIANTS if numeric else [NUL]:
                probe.request("post", url, {**form.fields, name: value})
                read |= READ_POST
    for value in POST_VARIANTS if site else ADMIN_POST_VARIANTS:
        probe.request("post", url, {key: value for key in sorted(read)})


def run(role: str, world: dict[str, Any], admin_pages: bool) -> Probe:
    probe = Probe(client_for(role, world))
    routes = [r for r in ROUTES if r.name.startswith("admin:") == admin_pages]
    pages = [(route, url, level) for route in routes for url, level in addresses(route, world)]
    # First every page plainly, to learn the forms each shows this role and where they post.
    crawled = {url: probe.crawl(url) for _, url, _ in pages}
    for route, url, level in pages:
        reachable, read = crawled[url]
        # The admin is sampled: its lists get every query, its forms every value at once.
        sampled = route.name.startswith("admin:") and not route.name.endswith("_changelist")
        if level == FULL and reachable and not sampled:
            get_probes(probe, url, read, each_key=not route.name.startswith("admin:"))
        else:
            probe.request("get", url, {key: NUL for key in read | set(GENERIC_KEYS)})
        if level == PLAIN:
            probe.request("post", url, {})
        else:
            post_probes(probe, url, site=not route.name.startswith("admin:"))
    return probe


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("admin_pages", [False, True], ids=["site", "admin"])
def test_no_page_or_form_answers_a_5xx_to_hostile_input(
    role: str, admin_pages: bool, world: dict[str, Any], recording: None, settings: Any
) -> None:
    probe = run(role, world, admin_pages)
    assert probe.count > 0
    assert not probe.failures, (
        f"{len(probe.failures)} of {probe.count} requests failed:\n" + "\n".join(probe.failures)
    )


def test_every_page_of_the_site_is_probed() -> None:
    """The walk finds the pages, the admin's among them, and no API path."""
    names = {route.name for route in ROUTES}
    assert {"cases:queue", "cases:metrics", "cases:action", "queues:reassign", "login"} <= names
    assert "admin:cases_case_changelist" in names
    assert not any(route.route.startswith("api/") for route in ROUTES)
