"""A Rasa actions server, run as a Rasa team runs one, for the handoff custom action's tests.

rasa-sdk cannot be installed beside the desk (it pins grpcio, pydantic and websockets below the
desk's own), so it gets a virtualenv of its own, built once from
integrations/rasa/requirements-tested.txt and cached outside the repository, under
``~/.cache/handoff-desk/`` (``$XDG_CACHE_HOME`` if set), in a directory named after the pinned
rasa-sdk, the Python version and a digest of the pins: a new pin builds a new one. The action
file is dropped into an ``actions`` package as the README tells users, and the real server
(``python -m rasa_sdk --actions actions``) runs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tests.servers import wait_until_answering

ROOT = Path(__file__).resolve().parent.parent
ACTION_FILE = ROOT / "integrations" / "rasa" / "handoff_action.py"
PINS = ROOT / "integrations" / "rasa" / "requirements-tested.txt"
# A cold build (virtualenv, then pip on ~40 wheels) took 60-95 s here (pip's own cache warm or
# not); a stuck index or a build from source must not hold CI much longer than that.
BUILD_SECONDS = 300
START_SECONDS = 60


class RasaSdkUnavailable(Exception):
    """No cached virtualenv, and it cannot be built. ``offline`` when the index is out of
    reach (the one case a run may skip); otherwise a real failure, with pip's words."""

    def __init__(self, reason: str, *, offline: bool) -> None:
        super().__init__(reason)
        self.offline = offline


def pinned_version() -> str:
    found = re.search(r"^rasa-sdk==(\S+)$", PINS.read_text(), re.MULTILINE)
    assert found, f"{PINS} pins no rasa-sdk"
    return found.group(1)


def venv_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "handoff-desk"
    digest = hashlib.sha256(PINS.read_bytes()).hexdigest()[:12]
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return cache / f"rasa-sdk-{pinned_version()}-{python}-{digest}"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _index_reachable() -> tuple[bool, str]:
    """Whether pip's index answers a TCP connection: what tells "offline" from "broken"."""
    url = urlsplit(os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/")
    host = url.hostname or "pypi.org"
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError:
        return False, host
    return True, host


def _run(command: list[str], deadline: float, what: str) -> None:
    left = deadline - time.monotonic()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=max(left, 1), check=False
        )
    except subprocess.TimeoutExpired as error:
        raise RasaSdkUnavailable(
            f"{what} took longer than {BUILD_SECONDS} s: {' '.join(command)}", offline=False
        ) from error
    if done.returncode:
        tail = (done.stderr or done.stdout)[-3000:]
        raise RasaSdkUnavailable(f"{what} failed: {' '.join(command)}\n{tail}", offline=False)


def rasa_sdk_python() -> Path:
    """The Python of the cached rasa-sdk virtualenv, built first if it is not there."""
    venv = venv_dir()
    if (venv / ".complete").exists() and venv_python(venv).exists():
        return venv_python(venv)
    shutil.rmtree(venv, ignore_errors=True)  # its base Python gone (a dangling link): anew
    for left in venv.parent.glob(f"{venv.name}.building-*"):  # runs killed while building
        if time.time() - left.stat().st_mtime > 2 * BUILD_SECONDS:
            shutil.rmtree(left, ignore_errors=True)
    reachable, host = _index_reachable()
    if not reachable:
        raise RasaSdkUnavailable(
            f"rasa-sdk {pinned_version()} is not cached at {venv} and {host} is unreachable",
            offline=True,
        )
    # Built beside its final place and renamed when whole: an interrupted build is never
    # taken for a good one, and two runs building at once do not mix their files.
    building = venv.with_name(f"{venv.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + BUILD_SECONDS
    try:
        _run([sys.executable, "-m", "venv", str(building)], deadline, "creating the virtualenv")
        pip = [str(venv_python(building)), "-m", "pip", "--disable-pip-version-check"]
        _run([*pip, "install", "-q", "--no-input", "-r", str(PINS)], deadline, "pip install")
        _run(
            [str(venv_python(building)), "-c", "import rasa_sdk.endpoint"],
            deadline,
            "importing rasa_sdk",
        )
        (building / ".complete").write_text(pinned_version())
        try:
            building.rename(venv)
        except OSError:  # another run finished first; its copy is as good
            if not (venv / ".complete").exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return venv_python(venv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def actions_server(python: Path, workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """The action file in ``workdir/actions/``, served by ``python -m rasa_sdk --actions
    actions`` with ``env`` (the desk's URL and key) on a free port; yields the server's URL."""
    package = workdir / "actions"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    shutil.copy(ACTION_FILE, package / "handoff_action.py")
    port = free_port()
    log = (workdir / "actions-server.log").open("w")
    process = subprocess.Popen(
        [str(python), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=workdir,
        env={**os.environ, **env, "SANIC_HOST": "127.0.0.1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a group of its own: nothing of it outlives the test
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(
            process, f"{url}/health", seconds=START_SECONDS, log=workdir / "actions-server.log"
        )
        yield url
    finally:
        # The whole group: Sanic's main process, told alone just after it started serving,
        # waited out its 15 s graceful shutdown before it stopped its worker.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
