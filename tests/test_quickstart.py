"""The Quickstart's run command, as a new user runs it: it serves the desk and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def wait_for(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if get(url)[0] == 200:
                return True
        except OSError:
            time.sleep(0.5)
    return False


@pytest.mark.slow
def test_run_command_serves_the_desk_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    env["HANDOFF_VAR_DIR"] = str(tmp_path / "var")
    process = subprocess.Popen(
        [sys.executable, "desk.py", "run", "--port", str(port), "--star", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal would give it
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(line.decode(errors="replace") for line in process.stdout),
        daemon=True,
    )
    reader.start()
    try:
        # when the desk says it is up
        deadline = time.monotonic() + 180
        while not any("Handoff Desk is running" in line for line in lines):
            assert process.poll() is None, "".join(lines)[-3000:]
            assert time.monotonic() < deadline, "the desk never came up"
            time.sleep(0.2)
        assert wait_for(f"http://127.0.0.1:{port}/healthz", 10)
        status, body = get(f"http://127.0.0.1:{port}/login/")
        assert status == 200 and "Sign in" in body
        status, css = get(f"http://127.0.0.1:{port}/static/css/desk.css")
        assert status == 200 and "--accent" in css
    finally:
        # then Ctrl-C (SIGINT to the whole group) stops the server and the worker
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("desk.py run did not stop within 30 s of Ctrl-C")
        reader.join(timeout=5)
    text = "".join(lines)
    assert "agent-demo-pass" in text
    with pytest.raises(OSError):
        get(f"http://127.0.0.1:{port}/healthz")

    def leftovers() -> str:
        found = subprocess.run(
            ["pgrep", "-g", str(process.pid)], capture_output=True, text=True, check=False
        )
        return found.stdout.strip()

    deadline = time.monotonic() + 15  # worker pool children finish their warm shutdown
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers() == "", "processes were left running"
