"""The capacity benchmark's load generator: Locust in library mode, in a process of its own
(``python -m bench.lib.crowd``; gevent patches the standard library before anything else).

Agents and supervisors are Locust users that do what the browser does: the sign-in form with
its CSRF token, full pages (each opens the desk's websocket as ``static/js/live.js`` does, with
a ping every 10 s), htmx posts with ``HX-Request``, ``X-CSRFToken`` and the form's fields
(``web/forms/``), the case page fetched again when a frame says another person changed it, the
console's live parts fetched again (at most once a second, ``static/js/console.js``) when a
frame comes. Bots post handoffs at R a second and the customers answer agents' replies.

It reads commands as JSON lines on stdin and answers each with one JSON line on stdout:
``{"cmd": "step", "agents": N, "rate": R, ...}`` grows the crowd and waits until everyone has
signed in; ``{"cmd": "measure", "seconds": T}`` measures a window; ``{"cmd": "quit"}``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import contextlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlencode, urlsplit  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402
import websocket  # noqa: E402
from gevent.socket import wait_read  # noqa: E402
from locust import FastHttpUser, task  # noqa: E402
from locust.contrib.fasthttp import FastHttpSession  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.exception import StopUser  # noqa: E402

from bench.lib.frames import Session, lost_frames, parse_sent  # noqa: E402
from bench.lib.stats import summary  # noqa: E402

PING_EVERY = 10.0  # live.js
CONSOLE_GAP = 1.0  # console.js: at most one refresh of the live parts a second
CONSOLE_EVERY = 30.0  # console.js: and every 30 s whatever happens
SETTLE = 2.0  # seconds after a window for its last frames
SENT_KEY = "bench:capacity:sent"  # bench.capacity_probe
CPU_HEADER = "X-Bench-CPU"
SIGN_IN = "sign in"
REPLIES = [
    "Thanks for waiting: I have looked at your order and the refund is on its way.",
    "I can see the booking now. I have moved it to the date you asked for.",
    "Sorry about the trouble. I have reset the setting on our side; please try again now.",
    "Thank you, that helps. The charge was made twice and I have reversed the second one.",
]
NOTE = "Checked the account history; nothing else open. Refund reference in the timeline."
CUSTOMER = ["Thank you!", "Ok, let me check.", "It still does not work.", "Great, that worked."]

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HX_TOKEN = re.compile(r'"X-CSRFToken": "([^"]+)"')
VERSION = re.compile(r'id="case-main"[^>]*data-version="(\d+)"')
ROW = re.compile(r'id="case-row-(\d+)"')
CONSOLE_ROW = re.compile(
    r'name="case" value="(\d+)".*?status-(\w+)', re.S
)  # a console row's case and its status


# --- what the window measured -------------------------------------------------------------------


class Window:
    """Everything measured since the last reset."""

    def __init__(self) -> None:
        self.reset()
        self.sessions: list[Session] = []

    def reset(self) -> None:
        self.started = time.time()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.error_samples: list[str] = []
        self.conflicts: Counter[str] = Counter()
        self.frames: Counter[str] = Counter()
        self.lags: list[float] = []

    def request(self, name: str, ms: float, error: str | None, cpu: float | None) -> None:
        if error:
            self.errors[name] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{name}: {error}"[:300])
            return
        self.times[name].append(ms)
        if cpu is not None:
            self.cpu[name].append(cpu)


WINDOW = Window()
CONFIG: dict[str, Any] = {}
AGENTS: Any = None  # iterator over the agents' specs
SUPERVISORS: Any = None
SIGNED_IN: list[str] = []
OPEN_CASES: set[int] = set()


def on_request(
    request_type: str, name: str, response_time: float, response_length: int,
    exception: Any = None, context: Any = None, response: Any = None, **_: Any,
) -> None:  # fmt: skip
    cpu = None
    if response is not None and getattr(response, "headers", None):
        value = response.headers.get(CPU_HEADER)
        cpu = float(value) if value else None
    WINDOW.request(name, response_time, str(exception) if exception else None, cpu)


def on_user_error(user_instance: Any, exception: Exception, tb: Any, **_: Any) -> None:
    """An exception in a simulated person's task (Locust logs it and goes on): an error."""
    WINDOW.request("exception in a task", 0, f"{type(exception).__name__}: {exception}", None)


def think(share: float) -> None:
    """A person's pause: ``share`` of the pace, give or take half."""
    gevent.sleep(share * CONFIG["pace"] * random.uniform(0.5, 1.5))


# --- a page's websocket ---------------------------------------------------------------------------


class Socket:
    """The desk's socket of one page: hello, events, presence, pong every PING_EVERY."""

    def __init__(self, person: Person, case_id: int | None) -> None:
        self.person, self.case_id = person, case_id
        self.session = Session(time.time())
        self.ws: Any = None
        self.cursor: int | None = None
        self.pinged: float | None = None
        self.closed = False
        WINDOW.sessions.append(self.session)
        self.reader = gevent.spawn(self.run)

    def run(self) -> None:
        base = urlsplit(CONFIG["base_url"])
        query = f"?case={self.case_id}" if self.case_id else ""
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.person.client.cookiejar)
        started = time.perf_counter()
        try:
            self.ws = websocket.create_connection(
                f"ws://{base.netloc}/ws/desk/{query}", origin=CONFIG["base_url"],
                header=[f"Cookie: {cookie}"], timeout=60, enable_multithread=True,
            )  # fmt: skip
            pinger = gevent.spawn(self.ping_loop)
            try:
                self.read(started)
            finally:
                pinger.kill(block=False)
        except Exception as exc:
            if not self.closed:
                WINDOW.request("socket (open → hello)", 0, type(exc).__name__, None)
        finally:
            self.session.closed_at = self.session.closed_at or time.time()

    def read(self, started: float) -> None:
        while not self.closed:
            text = self.ws.recv()
            if not text:
                if not self.closed:
                    raise ConnectionError("closed by the server")
                return
            now, frame = time.time(), json.loads(text)
            kind = frame.get("type")
            WINDOW.frames[kind] += 1
            if kind == "hello":
                self.cursor = int(frame.get("cursor") or 0)
                self.session.groups = {f"queue.{q}" for q in frame.get("queues") or []}
                self.session.hello_at = now
                ms = (time.perf_counter() - started) * 1000
                WINDOW.request("socket (open → hello)", ms, None, None)
            elif kind == "pong" and self.pinged is not None:
                ms = (time.perf_counter() - self.pinged) * 1000
                WINDOW.request("socket heartbeat (ping → pong)", ms, None, None)
                self.pinged = None
                self.cursor = max(self.cursor or 0, int(frame.get("cursor") or 0))
            elif kind == "event":
                cursor = int(frame.get("cursor") or 0)
                self.cursor = max(self.cursor or 0, cursor)
                if frame.get("resync"):
                    WINDOW.frames["resync"] += 1
                else:
                    self.session.received.add(cursor)
                    if (stamp := frame.get("bench_committed_at")) is not None:
                        WINDOW.lags.append((now - float(stamp)) * 1000)
                self.person.on_event(frame)
            elif kind == "reload":
                WINDOW.errors["socket reload frame"] += 1

    def ping_loop(self) -> None:
        while not self.closed:
            gevent.sleep(PING_EVERY * random.uniform(0.9, 1.1))
            if self.closed:
                return
            since = {} if self.cursor is None else {"since": self.cursor}
            self.pinged = time.perf_counter()
            self.ws.send(json.dumps({"type": "ping", **since}))

    def close(self) -> None:
        self.closed = True
        self.session.closed_at = time.time()
        if self.ws is not None:
            with contextlib.suppress(Exception):  # a page closing: whatever the socket says
                self.ws.close(timeout=1)
        self.reader.kill(block=False)


# --- people -------------------------------------------------------------------------------------


class Person(FastHttpUser):
    """What agents and supervisors share: signing in, pages with their socket, htmx requests."""

    abstract = True
    host = "http://127.0.0.1"
    network_timeout = 60.0
    connection_timeout = 60.0

    def on_start(self) -> None:
        self.socket: Socket | None = None
        self.page, self.csrf, self.name = "/", "", ""
        self.sign_in()

    def on_stop(self) -> None:
        if self.socket is not None:
            self.socket.close()

    def sign_in(self) -> None:
        username, self.name = self.identity()
        form = self.call("GET", "/login/", "sign-in form")
        token = TOKEN.search(form.text or "")
        fields = {"csrfmiddlewaretoken": token.group(1) if token else "", "username": username,
                  "password": CONFIG["password"], "next": ""}  # fmt: skip
        answer = self.call("POST", "/login/", SIGN_IN, fields, ok=(302,))
        if answer.status_code != 302:
            raise StopUser  # counted as an error; this person goes home
        SIGNED_IN.append(username)
        self.open(answer.headers.get("Location") or "/", "home")

    def identity(self) -> tuple[str, str]:
        raise NotImplementedError

    def call(
        self, method: str, path: str, name: str, fields: Any = None, *, htmx: str = "",
        background: bool = False, ok: tuple[int, ...] = (200,), conflict: bool = False,
    ) -> Any:  # fmt: skip
        """One request as the page makes it; a status outside ``ok`` is an error, but a 409
        where ``conflict`` allows one (somebody else was first: the page shows it)."""
        headers = {"Origin": CONFIG["base_url"], "Accept": "text/html"}
        if htmx:
            headers |= {"HX-Request": "true", "HX-Target": htmx, "X-CSRFToken": self.csrf,
                        "HX-Current-URL": CONFIG["base_url"] + self.page}  # fmt: skip
        if background:
            headers["X-Desk-Background"] = "1"
        body = None
        if fields is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(fields, doseq=True)
        with self.client.request(
            method, path, name=name, data=body, headers=headers, allow_redirects=False,
            catch_response=True,
        ) as answer:  # fmt: skip
            if answer.status_code in ok:
                answer.success()
            elif conflict and answer.status_code in (409, 404):
                # 409: somebody was first; 404: a supervisor moved the case out of this agent's
                # queues meanwhile (the page says so): the desk's answers, not its failures.
                WINDOW.conflicts[name] += 1
                answer.success()
            else:
                answer.failure(f"{answer.status_code} {(answer.text or '')[:120]!r}")
        return answer

    def open(self, path: str, name: str) -> Any:
        """A full page: its HTML, its CSRF token, and its own socket (the last page's closes)."""
        answer = self.call("GET", path, name)
        self.page = path
        if found := HX_TOKEN.search(answer.text or ""):
            self.csrf = found.group(1)
        if self.socket is not None:
            self.socket.close()
        case = re.match(r"/cases/(\d+)/$", path)
        self.socket = Socket(self, int(case.group(1)) if case else None)
        return answer

    def form_token(self) -> str:
        return self.csrf

    def on_event(self, frame: dict[str, Any]) -> None:
        pass


class Agent(Person):
    """Queue → claim or take next → case page → 2-4 replies at the pace → a note → resolve."""

    weight = 1

    def identity(self) -> tuple[str, str]:
        spec = next(AGENTS)
        self.queue_id, self.slug = spec["queue_id"], spec["slug"]
        self.case_id: int | None = None
        self.version = 0
        self.refreshing = False
        return spec["username"], spec["name"]

    @task
    def work(self) -> None:
        queue = self.open(f"/queues/{self.slug}/", "queue page")
        think(0.1)
        if not self.get_case(ROW.findall(queue.text or "")):
            think(0.2)
            return
        think(0.2)  # reading the case
        for _ in range(random.randint(2, 4)):
            think(1.0)
            text = random.choice(REPLIES)
            fields = {"mode": "reply", "text": text}
            self.call("POST", f"/cases/{self.case_id}/guard/", "guard (while typing)", fields,
                      htmx="guard", background=True)  # fmt: skip
            if self.compose("reply", {"mode": "reply", "text": text, "submit": "send"}):
                delay = CONFIG["pace"] * random.uniform(0.3, 0.8)
                gevent.spawn_later(delay, customer_message, self.case_id)
        think(0.3)
        self.compose("note", {"mode": "note", "text": NOTE, "submit": "send"})
        think(0.1)
        fields = {"mode": "reply", "text": "", "submit": "resolve",
                  "resolution_code": "solved", "customer_repeated": "no"}  # fmt: skip
        self.compose("resolve", fields)
        OPEN_CASES.discard(self.case_id or 0)
        self.case_id = None

    def get_case(self, waiting: list[str]) -> bool:
        """Half the time claim one of the first rows (a race with teammates), else take next."""
        if waiting and random.random() < 0.5:
            case_id = int(random.choice(waiting[:5]))
            self.show(case_id, self.open(f"/cases/{case_id}/", "case page"))
            think(0.05)
            claim = self.call("POST", f"/cases/{case_id}/claim/", "claim",
                              {"csrfmiddlewaretoken": self.csrf, "version": self.version},
                              htmx="case-main", conflict=True)  # fmt: skip
            if claim.status_code == 200:
                self.show(case_id, claim)
                OPEN_CASES.add(case_id)
                return True
            think(0.05)
        fields = {"csrfmiddlewaretoken": self.csrf, "next": self.page, "queue": self.queue_id}
        taken = self.call("POST", "/take-next/", "take next", fields, ok=(302,))
        where = (taken.headers.get("Location") or "") if taken.status_code == 302 else ""
        case = re.match(r"/cases/(\d+)/$", where)
        if case is None:  # nothing to take: the queue page again, with the message
            if where:
                self.open(where, "queue page")
            return False
        case_id = int(case.group(1))
        self.show(case_id, self.open(where, "case page"))
        OPEN_CASES.add(case_id)
        return True

    def show(self, case_id: int, answer: Any) -> None:
        self.case_id = case_id
        if found := VERSION.search(answer.text or ""):
            self.version = int(found.group(1))

    def compose(self, what: str, fields: dict[str, Any]) -> bool:
        """The composer's post (all its fields, as the form sends them); after a conflict (the
        customer wrote meanwhile) the agent sends again from the page the 409 showed."""
        path = f"/cases/{self.case_id}/compose/"
        for _ in range(2):
            sent = {"csrfmiddlewaretoken": self.csrf, "version": self.version, "canned_id": "",
                    "resolution_code": "", **fields}  # fmt: skip
            answer = self.call("POST", path, what, sent, htmx="case-main", conflict=True)
            self.show(self.case_id or 0, answer)
            if answer.status_code != 409:
                return bool(answer.status_code == 200)
        return False

    def on_event(self, frame: dict[str, Any]) -> None:
        """live.js: a newer version of the open case by someone else fetches #case-main."""
        if (
            frame.get("case_id") == self.case_id
            and int(frame.get("version") or 0) > self.version
            and frame.get("actor") != self.name
            and not self.refreshing
        ):
            self.refreshing = True
            gevent.spawn(self.refresh)

    def refresh(self) -> None:
        try:
            case_id = self.case_id
            answer = self.call("GET", f"/cases/{case_id}/", "case refresh (live)",
                               htmx="case-main", background=True, conflict=True)  # fmt: skip
            if case_id == self.case_id:
                self.show(case_id or 0, answer)
        finally:
            self.refreshing = False


class Supervisor(Person):
    """The console open (its live parts fetched again on events); now and then a queue's page
    and a reassignment of waiting cases to another queue."""

    fixed_count = 1

    def identity(self) -> tuple[str, str]:
        self.due: float | None = None
        self.busy = self.again = False
        self.last = 0.0
        spec = next(SUPERVISORS)
        return spec["username"], spec["name"]

    def on_start(self) -> None:
        super().on_start()
        self.open("/console/", "console")
        self.ticker = gevent.spawn(self.every_30s)

    def on_stop(self) -> None:
        self.ticker.kill(block=False)
        super().on_stop()

    @task
    def reassign(self) -> None:
        gevent.sleep(CONFIG["reassign_every"] * random.uniform(0.5, 1.5))
        queue_id, slug = random.choice(CONFIG["queues"])
        page = self.open(f"/console/{slug}/", "console queue page")
        waiting = [
            int(c) for c, status in CONSOLE_ROW.findall(page.text or "") if status == "waiting"
        ]
        think(0.1)
        if waiting:
            target = random.choice([q for q, _ in CONFIG["queues"] if q != queue_id])
            fields = {"csrfmiddlewaretoken": self.csrf, "next": self.page, "agent": "",
                      "case": waiting[:3], "queue": target,
                      "reason": "Balancing the queues"}  # fmt: skip
            done = self.call("POST", f"/console/{slug}/reassign/", "reassign", fields, ok=(302,))
            if done.status_code == 302:
                self.open(done.headers.get("Location") or self.page, "console queue page")
            think(0.1)
        self.open("/console/", "console")

    def on_event(self, frame: dict[str, Any]) -> None:
        self.schedule()

    def every_30s(self) -> None:
        while True:
            gevent.sleep(CONSOLE_EVERY)
            self.schedule()

    def schedule(self) -> None:
        if self.due is None:
            self.due = max(time.time(), self.last + CONSOLE_GAP)
            gevent.spawn_later(max(self.due - time.time(), 0.0), self.refresh)

    def refresh(self) -> None:
        self.due = None
        if self.busy:
            self.again = True
            return
        self.busy, self.last = True, time.time()
        parts = (
            ["console-table"] if self.page == "/console/" else ["console-cases", "console-agents"]
        )
        try:
            jobs = [gevent.spawn(self.call, "GET", self.page, "console refresh (live)",
                                 htmx=part, background=True) for part in parts]  # fmt: skip
            gevent.joinall(jobs)
        finally:
            self.busy = False
            if self.again:
                self.again = False
                self.schedule()


# --- bots and customers over the API ------------------------------------------------------------

BOTS: FastHttpSession | None = None


def bot_session(env: Environment) -> FastHttpSession:
    return FastHttpSession(
        base_url=CONFIG["base_url"], request_event=env.events.request, user=None,
        concurrency=32, network_timeout=60.0, connection_timeout=60.0,
    )  # fmt: skip


def api(path: str, name: str, body: str, ok: tuple[int, ...], conflict: bool = False) -> Any:
    assert BOTS is not None
    headers = {"Authorization": f"Bearer {CONFIG['api_key']}", "Content-Type": "application/json"}
    with BOTS.request("POST", path, name=name, data=body, headers=headers,
                      catch_response=True) as answer:  # fmt: skip
        if answer.status_code in ok:
            answer.success()
        elif conflict and answer.status_code == 409:
            WINDOW.conflicts[name] += 1
            answer.success()
        else:
            answer.failure(f"{answer.status_code} {(answer.text or '')[:200]!r}")
    return answer


def customer_message(case_id: int | None) -> None:
    """The customer answers an agent's reply (unless the case was resolved meanwhile)."""
    if case_id is None or case_id not in OPEN_CASES:
        return
    body = json.dumps({"text": random.choice(CUSTOMER)})
    api(f"/api/v1/cases/{case_id}/messages", "customer message (API)", body, (201,), True)


def bots(state: dict[str, float]) -> None:
    """Handoffs at ``state["rate"]`` a second, on schedule whatever the server does."""
    packages, queues = CONFIG["packages"], CONFIG["queues"]
    counter, due = itertools.count(), time.perf_counter()
    while True:
        rate = state["rate"]
        if rate <= 0:
            gevent.sleep(0.2)
            due = time.perf_counter()
            continue
        due += 1.0 / rate
        gevent.sleep(max(due - time.perf_counter(), 0))
        n = next(counter)
        package = dict(packages[n % len(packages)])
        package["facts"] = {**(package.get("facts") or {}),
                            "bench_queue": queues[n % len(queues)][1]}  # fmt: skip
        package["external_id"] = f"capacity-{CONFIG['run']}-{n}"
        body = json.dumps(package, separators=(",", ":"))
        gevent.spawn(api, "/api/v1/handoffs", "handoff (API)", body, (201,))


# --- the commands ---------------------------------------------------------------------------------


def lines() -> Any:
    buffer = b""
    fd = sys.stdin.fileno()
    while True:
        wait_read(fd)
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield json.loads(line)


def answer(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()


def main() -> None:
    global AGENTS, SUPERVISORS, BOTS
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    commands = lines()
    CONFIG.update(next(commands))
    AGENTS, SUPERVISORS = iter(CONFIG["agents"]), itertools.cycle(CONFIG["supervisors"])
    Person.host = CONFIG["base_url"]
    Supervisor.fixed_count = len(CONFIG["supervisors"])
    env = Environment(user_classes=[Agent, Supervisor])
    env.events.request.add_listener(on_request)
    env.events.user_error.add_listener(on_user_error)
    runner = env.create_local_runner()
    BOTS = bot_session(env)
    client = redis.Redis.from_url(CONFIG["redis_url"])
    state = {"rate": 0.0}
    gevent.spawn(bots, state)
    answer({"ready": True, "pid": os.getpid()})
    for command in commands:
        if command["cmd"] == "quit":
            break
        if command["cmd"] == "step":
            users = command["agents"] + len(CONFIG["supervisors"])
            began = time.time()
            WINDOW.reset()
            state["rate"] = command["rate"]
            runner.start(users, spawn_rate=command["spawn_rate"])
            deadline = began + command["timeout"]
            while len(SIGNED_IN) < users and time.time() < deadline:
                gevent.sleep(0.5)
            signin = WINDOW.times.get(SIGN_IN, [])
            answer({"users": runner.user_count, "signed_in": len(SIGNED_IN),
                    "seconds": round(time.time() - began, 1), "errors": dict(WINDOW.errors),
                    "error_samples": WINDOW.error_samples,
                    "sign_in_ms": summary(signin, digits=1) | {"count": len(signin)},
                    "sign_in_cpu_ms": summary(WINDOW.cpu.get(SIGN_IN, []), digits=1)})  # fmt: skip
        elif command["cmd"] == "measure":
            WINDOW.reset()
            WINDOW.sessions = [s for s in WINDOW.sessions if s.closed_at is None]
            cpu_started = time.process_time()
            gevent.sleep(command["seconds"])
            ended = time.time()
            cpu = time.process_time() - cpu_started
            gevent.sleep(SETTLE)
            names = sorted(set(WINDOW.times) | set(WINDOW.errors))
            answer({
                "seconds": round(ended - WINDOW.started, 2),
                "crowd_cpu_s": round(cpu, 2),
                "interactions": {
                    name: {"count": len(WINDOW.times.get(name, [])), "errors": WINDOW.errors[name],
                           "conflicts": WINDOW.conflicts[name],
                           "ms": summary(WINDOW.times.get(name, []), digits=1),
                           "cpu_ms": round(sum(WINDOW.cpu.get(name, [])) / len(WINDOW.cpu[name]), 2)
                           if WINDOW.cpu.get(name) else None}
                    for name in names
                },
                "errors": sum(WINDOW.errors.values()), "error_samples": WINDOW.error_samples,
                "frames": dict(WINDOW.frames), "lag_ms": summary(WINDOW.lags, digits=1),
                "lagged": len(WINDOW.lags), "open_sockets": sum(
                    1 for s in WINDOW.sessions if s.closed_at is None and s.hello_at),
                **lost_frames(parse_sent(client.lrange(SENT_KEY, 0, -1)), WINDOW.sessions,
                              WINDOW.started, ended),
            })  # fmt: skip
    runner.quit()


if __name__ == "__main__":
    main()
