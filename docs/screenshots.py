"""Regenerate docs/<page>-1440.png and docs/<page>-390.png: every page of the desk, as the demo
role that works on it, on a laptop and on a phone.

    python3 desk.py screenshots            # or: .venv/bin/python docs/screenshots.py [--out DIR]

A fresh demo desk of its own (a temporary directory holds its SQLite file and broker; the
user's var/ is never touched), seeded and fed the demo's handoffs as the Quickstart does, served
by uvicorn with a Celery worker beside it. Chromium signs in as each role and saves each page
full-length. A page the desk does not have (yet) is reported and skipped, never fatal.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # Django's settings and models, to pick what to show

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDTHS = {1440: {"width": 1440, "height": 900}, 390: {"width": 390, "height": 844}}
PASSWORD = "{}-demo-pass"  # seed_demo's passwords
SERVER_SECONDS = 90  # migrate, seed and start, on a busy machine
ARRIVAL_SECONDS = 30  # the demo's handoffs arriving
# Nav links that are not the desk's own pages.
NOT_DESK_PAGES = {"Admin", "API"}


@dataclass
class Shot:
    name: str
    role: str | None  # None: signed out
    path: str | Callable[[Any, str], str | None]  # a path, or one picked by (page, url)
    status: int = 200
    before: Callable[[Any, str], None] | None = None  # what to do in the page first


STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[screenshots {time.monotonic() - STARTED:3.0f} s] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def demo_desk(var: Path, port: int) -> Iterator[str]:
    """The Quickstart itself (``desk.py run``: migrate, seed, Celery, uvicorn, the demo's
    handoffs) on ``port``, its data under ``var``, until the block ends."""
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(HANDOFF_VAR_DIR=str(var), PYTHONUNBUFFERED="1")
    log_path = var / "desk.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  our own desk.py, by this Python
            [sys.executable, str(ROOT / "desk.py"), "run", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        if not up(f"{url}/healthz", SERVER_SECONDS, process):  # migrated and seeded
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the demo desk did not come up:\n{tail}")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)  # desk.py stops its Celery and uvicorn with it
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def up(url: str, seconds: float, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  our own desk
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def settle(seconds: float) -> int:
    """Wait while the demo's handoffs arrive through the API: until the number of cases has
    not changed for two seconds (or ``seconds`` pass). The number of cases."""
    from cases.models import Case

    deadline, last, steady_since = time.monotonic() + seconds, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = Case.objects.count()
        if count != last:
            last, steady_since = count, time.monotonic()
        elif count and time.monotonic() - steady_since >= 2:
            break
        time.sleep(0.5)
    return last


def seeded() -> Any:
    """Django on the demo desk's database, to pick the queue and the case worth showing."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "handoff_site.settings")
    django.setup()
    from django.contrib.auth.models import User
    from django.db.models import Count

    from cases.models import Case

    class Data:
        def queue_of(self, username: str) -> str | None:
            user = User.objects.get(username=username)
            cases = Case.objects.exclude(status="resolved")
            if not user.has_perm("queues.view_all_queues"):
                cases = cases.filter(queue__memberships__agent=user)
            busiest = cases.values("queue__slug").annotate(n=Count("id")).order_by("-n").first()
            return busiest["queue__slug"] if busiest else None

        def rich_case(self, username: str) -> int | None:
            """The case that shows the most of the case page: flagged, long, still open."""
            user = User.objects.get(username=username)
            cases = Case.objects.exclude(status="resolved").annotate(n=Count("messages"))
            if not user.has_perm("queues.view_all_queues"):
                cases = cases.filter(queue__memberships__agent=user)
            rich = sorted(cases, key=lambda c: (bool(c.risk_flags), bool(c.facts), c.n))
            return rich[-1].pk if rich else None

    return Data()


def start_draft(page: Any, url: str) -> None:
    page.goto(f"{url}/routing/")
    button = page.get_by_role("button", name="Edit as a draft")
    if button.count():
        button.click()
        page.wait_for_load_state("load")


def first_rule(page: Any, url: str) -> str | None:
    page.goto(f"{url}/routing/")
    link = page.locator("table.rules tbody a").first
    return link.get_attribute("href") if link.count() else None


def shots(data: Any) -> list[Shot]:
    return [
        Shot("sign-in", None, "/login/"),
        Shot("home", "agent", "/"),
        Shot("queue", "agent", lambda *_: (q := data.queue_of("agent")) and f"/queues/{q}/"),
        Shot("case", "agent", lambda *_: (c := data.rich_case("agent")) and f"/cases/{c}/"),
        Shot("demo-bot", "agent", "/demo/bot/"),
        Shot("not-found", "agent", "/no-such-page/", status=404),
        Shot("console", "supervisor", "/console/"),
        Shot(
            "console-queue",
            "supervisor",
            lambda *_: (q := data.queue_of("supervisor")) and f"/console/{q}/",
        ),
        Shot("metrics", "supervisor", "/metrics/"),
        # The editor as an admin works in it: a draft open, its rules movable.
        Shot("routing", "admin", "/routing/", before=start_draft),
        Shot("versions", "admin", "/routing/versions/"),
        Shot("rule-form", "admin", first_rule, before=start_draft),
        Shot("callbacks", "admin", "/deliveries/?show=all"),
    ]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def sign_in(page: Any, url: str, role: str) -> None:
    page.goto(f"{url}/login/")
    page.fill("#id_username", role)
    page.fill("#id_password", PASSWORD.format(role))
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def nav_pages(page: Any, url: str, known: set[str]) -> list[tuple[str, str]]:
    """Pages in the signed-in role's top bar that the list above does not know (a page added
    since, such as canned replies): shown too, named after their link."""
    page.goto(f"{url}/")
    found = []
    for link in page.locator("header nav a").all():
        name, href = link.inner_text().strip(), link.get_attribute("href") or ""
        path = href.split("?")[0]
        if name not in NOT_DESK_PAGES and href.startswith("/") and path not in known:
            found.append((slug(name), href))
    return found


def save(page: Any, url: str, shot: Shot, target: Path) -> str | None:
    """Save one page's screenshot; what went wrong instead, if anything."""
    if shot.before:
        shot.before(page, url)
    path = shot.path(page, url) if callable(shot.path) else shot.path
    if not path:
        return "nothing in the demo data to show"
    response = page.goto(f"{url}{path}")
    status = response.status if response else 0
    if status != shot.status:
        return f"{path} answered {status} (not in the desk yet?)"
    page.wait_for_load_state("load")
    if shot.role and page.locator("#live-state").count():
        # The top bar as a person sees it: connected (the socket opens after the load).
        page.locator("#live-state[data-state=live]").wait_for(timeout=5000)
    page.screenshot(path=str(target), full_page=True)
    return None


def take(browser: Any, url: str, out: Path, data: Any) -> list[str]:
    saved, skipped = [], []
    plan = shots(data)
    known = {s.path.split("?")[0] for s in plan if isinstance(s.path, str)} | {"/"}
    for role in [None, "agent", "supervisor", "admin"]:
        todo = [s for s in plan if s.role == role]
        session = None
        if role:  # signed in once; both widths share the session
            context = browser.new_context()
            page = context.new_page()
            sign_in(page, url, role)
            extra = nav_pages(page, url, known)
            todo += [Shot(name, role, href) for name, href in extra]
            known |= {href.split("?")[0] for _, href in extra}
            session = context.storage_state()
            context.close()
        for width, viewport in WIDTHS.items():
            phone = width < 600
            context = browser.new_context(
                viewport=viewport,
                is_mobile=phone,
                has_touch=phone,
                reduced_motion="reduce",
                storage_state=session,
            )
            context.set_default_timeout(15_000)
            page = context.new_page()
            for shot in todo:
                try:
                    problem = save(page, url, shot, out / f"{shot.name}-{width}.png")
                except Exception as error:  # one broken page must not stop the set
                    problem = f"{type(error).__name__}: {str(error).splitlines()[0]}"
                if problem:
                    skipped.append(f"{shot.name}-{width}: {problem}")
                else:
                    saved.append(f"{shot.name}-{width}.png")
            context.close()
    for line in skipped:
        say(f"skipped {line}")
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where the PNGs go")
    options = parser.parse_args()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="desk-screenshots-"))
    os.environ.update(HANDOFF_VAR_DIR=str(var), LOG_LEVEL="WARNING")
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the ORM picks pages; Playwright's loop runs
    try:
        say(f"starting a fresh demo desk in {var}")
        with demo_desk(var, free_port()) as url:
            say("the desk is up; waiting for the demo's handoffs")
            data = seeded()
            say(f"{settle(ARRIVAL_SECONDS)} cases; signing in as each role")
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                saved = take(browser, url, out, data)
                browser.close()
    finally:
        shutil.rmtree(var, ignore_errors=True)
    say(f"{len(saved)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
