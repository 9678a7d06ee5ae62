#!/usr/bin/env python3
"""Handoff Desk's one entry point, needing only Python 3.11 and git.

    python3 desk.py run    # virtualenv, install, migrate, seed the demo, serve on :8000
    python3 desk.py test   # virtualenv if needed, then the whole test suite
    python3 desk.py lint   # ruff, mypy and the migrations check, as CI runs them
    python3 desk.py screenshots  # docs/<page>-1440.png and -390.png from a fresh demo desk

`run` serves the desk with an ASGI server (uvicorn) and a Celery worker with beat beside it on
the embedded broker; Ctrl-C stops everything. Nothing here needs the project's dependencies.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".installed"
STAR = ROOT.parent / "shared" / "data" / "star" / "dialogues.jsonl.gz"
DEMO_HANDOFFS = ROOT / "demo" / "handoffs.jsonl"
WORKER_RESTARTS = 5  # a worker that keeps dying is a fault to show, not to hide


def say(message: str) -> None:
    print(f"\033[1m[desk]\033[0m {message}", flush=True)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit("Handoff Desk needs Python 3.11 or newer.")
    if not PYTHON.exists():
        say(f"creating the virtualenv in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    say("installing dependencies (requirements.lock)")
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(LOCK)], check=True)
    STAMP.write_text(wanted)


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(PYTHON), "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_for(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()


def replay_demo(
    url: str, key: str, sources: list[str], env: dict[str, str], processes: list[Any]
) -> None:
    for path in sources:
        # Dated as if they had just happened; handed off where the desk's advice says.
        command = ["manage.py", "replay", path, "--url", url, "--key", key, "--recent", "--assess"]
        replay = subprocess.Popen(
            [str(PYTHON), *command],
            cwd=ROOT,
            env=env,
        )
        processes.append(replay)  # stopped with the desk on Ctrl-C
        replay.wait()


def demo_sources(live_file: Path) -> list[str]:
    """The demo's own handoffs, then the recorded support conversations seed_demo picked."""
    return [str(DEMO_HANDOFFS), *([str(live_file)] if live_file.is_file() else [])]


def seed_arguments(options: argparse.Namespace, live_file: Path) -> list[str]:
    """The day of history always; STAR's support conversations join it and arrive live."""
    star = Path(options.star_path) if options.star_path else STAR
    live_file.unlink(missing_ok=True)  # a run with --star 0 replays none of an earlier run's
    if not options.star or not star.exists():
        return []
    return ["--star", str(star), "--live", str(options.star), "--live-file", str(live_file)]


def stop_on_sigterm() -> None:
    """A service manager's SIGTERM stops the desk like Ctrl-C, children included."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run(options: argparse.Namespace) -> int:
    ensure_venv()
    stop_on_sigterm()
    env = {**os.environ}
    env.setdefault("HANDOFF_BASE_URL", f"http://127.0.0.1:{options.port}")
    env.setdefault("LOG_LEVEL", "WARNING")  # keep the terminal for what the user needs
    var = Path(env.get("HANDOFF_VAR_DIR", ROOT / "var"))
    key_file = var / "demo-api-key"
    live_file = var / "demo-live.jsonl"
    say("migrating the database")
    manage("migrate", "--no-input", "-v0", env=env)
    say("seeding the demo")
    manage(
        "seed_demo",
        "--key-file",
        str(key_file),
        "--demo-receiver",
        f"http://127.0.0.1:{options.port}",
        *seed_arguments(options, live_file),
        env=env,
    )
    worker_command = [
        str(BIN / "celery"),
        *["-A", "handoff_site", "worker", "--beat", "--loglevel", "warning"],
        *["--concurrency", "2", "--schedule", str(var / "celerybeat-schedule")],
    ]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        worker = subprocess.Popen(worker_command, cwd=ROOT, env=env)
        processes.append(worker)
        web = subprocess.Popen(
            [
                str(BIN / "uvicorn"),
                "handoff_site.asgi:application",
                "--host",
                options.host,
                "--port",
                str(options.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
        )
        processes.append(web)
        url = f"http://127.0.0.1:{options.port}"
        if not wait_for(f"{url}/healthz", 60):
            say("the server did not come up; see the output above")
            return 1
        key = key_file.read_text().strip()
        say(f"Handoff Desk is running on {url}  (Ctrl-C stops it)")
        say(
            "sign in as agent / agent-demo-pass, supervisor / supervisor-demo-pass, "
            "admin / admin-demo-pass"
        )
        say(f"API key of the demo-bot integration: {key}")
        say(f"what the customers are told: {url}/demo/bot/")
        # The demo's handoffs arrive through the real API while the desk is already usable.
        threading.Thread(
            target=replay_demo,
            args=(url, key, demo_sources(live_file), env, processes),
            daemon=True,
        ).start()
        restarts = 0
        while web.poll() is None:
            time.sleep(0.5)
            if worker.poll() is None:
                continue
            # Callbacks and SLA sweeps wait in the broker meanwhile; nothing is lost.
            if restarts == WORKER_RESTARTS:
                say(f"the worker stopped {restarts + 1} times; shutting down")
                return 1
            restarts += 1
            say(f"the worker stopped (exit {worker.returncode}); starting it again")
            processes.remove(worker)
            worker = subprocess.Popen(worker_command, cwd=ROOT, env=env)
            processes.append(worker)
        say("the web server stopped; shutting down")
        return 1
    except KeyboardInterrupt:
        say("stopping")
        return 0
    finally:
        stop(processes)


def test(extra: list[str]) -> int:
    ensure_venv()
    return subprocess.run([str(BIN / "pytest"), *extra], cwd=ROOT, check=False).returncode


def screenshots(extra: list[str]) -> int:
    """Every page at 1440 and 390 px into docs/, from a demo desk of its own: see
    docs/screenshots.py."""
    ensure_venv()
    script = [str(PYTHON), str(ROOT / "docs" / "screenshots.py"), *extra]
    return subprocess.run(script, cwd=ROOT, check=False).returncode


def lint() -> int:
    """What CI checks before the tests: lint, format, types, migrations in step with models."""
    ensure_venv()
    # Static checks need no services: the embedded settings (SQLite, no Redis) serve them.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    checks = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "mypy"), "."],
        [str(BIN / "lint-imports"), "--no-cache"],  # the layers of .importlinter
        [str(PYTHON), "manage.py", "makemigrations", "--check", "--dry-run"],
    ]
    for command in checks:
        say(" ".join(Path(command[0]).name if i == 0 else part for i, part in enumerate(command)))
        if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode:
            return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="serve the demo desk on http://127.0.0.1:8000")
    run_parser.add_argument("--host", default="127.0.0.1")
    run_parser.add_argument("--port", type=int, default=8000)
    run_parser.add_argument(
        "--star",
        type=int,
        default=20,
        help="recorded STAR support conversations that arrive as handoffs once the desk is up; "
        "more of them fill the seeded history (0: none, the history from the demo's own)",
    )
    run_parser.add_argument("--star-path", help="STAR dialogues file (default: ../shared/data)")
    commands.add_parser("test", help="run the whole test suite (arguments go to pytest)")
    commands.add_parser("lint", help="ruff, mypy and the migrations check, as CI runs them")
    commands.add_parser(
        "screenshots", help="every page at 1440 and 390 px wide into docs/ (--out DIR elsewhere)"
    )
    options, extra = parser.parse_known_args()
    if options.command == "run":
        return run(options)
    if options.command == "lint":
        return lint()
    if options.command == "screenshots":
        return screenshots(extra)
    return test(extra)


if __name__ == "__main__":
    sys.exit(main())
