"""Log lines (observability/logs.py, handoff_site.middleware.RequestIdMiddleware): JSON lines
that parse and carry time, level, logger, message, the request's id and the exception; the
default stays key=value text."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from django.test import Client

from observability.logs import REQUEST_ID, JsonLinesFormatter, RequestIdFilter

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the desk's loggers write, as the JSON handler writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    # The test client runs the (async) middleware chain through async_to_sync, which copies the
    # last request's context back into this thread; under ASGI each request is a task of its own.
    token = REQUEST_ID.set(None)
    yield stream
    REQUEST_ID.reset(token)
    root.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_fields(json_lines):
    token = REQUEST_ID.set("req-42")
    try:
        logging.getLogger("cases.services.intake").warning(
            "handoff_refused case=%s", 7, extra={"reason": "closed"}
        )
        try:
            raise ValueError("a bad package")
        except ValueError:
            logging.getLogger("api").exception("handoff_failed")
    finally:
        REQUEST_ID.reset(token)
    logging.getLogger("cases.tasks").warning("sweep_done")

    refused, failed, outside = lines(json_lines)
    assert list(refused)[:4] == ["time", "level", "logger", "message"]
    assert datetime.fromisoformat(str(refused["time"])).utcoffset() is not None
    assert refused["level"] == "WARNING" and refused["logger"] == "cases.services.intake"
    assert refused["message"] == "handoff_refused case=7" and refused["reason"] == "closed"
    assert refused["request_id"] == "req-42" and "exception" not in refused
    assert failed["level"] == "ERROR" and failed["request_id"] == "req-42"
    assert "Traceback" in str(failed["exception"]) and "ValueError: a bad package" in str(
        failed["exception"]
    )
    assert "request_id" not in outside  # no request was being served


@pytest.mark.django_db
def test_lines_written_while_serving_a_request_carry_its_id(json_lines):
    response = Client().get("/no-such-page/")

    not_found = next(line for line in lines(json_lines) if line["logger"] == "django.request")
    assert response.status_code == 404
    assert len(response["X-Request-ID"]) == 32
    assert not_found["request_id"] == response["X-Request-ID"]
    assert "request" not in not_found and not_found["status_code"] == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sent", "kept"),
    [("edge-7f3a.b_2:1", True), ("x" * 65, False), ("bad id\nforged: line", False)],
)
def test_a_proxy_request_id_is_kept_when_plain_and_replaced_otherwise(sent, kept):
    response = Client().get("/healthz", headers={"X-Request-ID": sent})

    answered = response["X-Request-ID"]
    assert answered == sent if kept else (len(answered) == 32 and int(answered, 16) >= 0)


def django_logs(log_format: str | None, tmp_path: Path) -> list[str]:
    env = {**os.environ, "HANDOFF_VAR_DIR": str(tmp_path), "LOG_LEVEL": "INFO"}
    env.pop("LOG_FORMAT", None)
    if log_format:
        env["LOG_FORMAT"] = log_format
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('cases.tasks').info('sweep_done sent=%s', 3)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "handoff_site.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stderr.splitlines()


def test_log_format_json_switches_the_desk_to_json_lines(tmp_path):
    (line,) = django_logs("json", tmp_path)

    record = json.loads(line)
    assert (record["level"], record["logger"], record["message"]) == (
        "INFO",
        "cases.tasks",
        "sweep_done sent=3",
    )


def test_the_default_stays_key_value_text(tmp_path):
    (line,) = django_logs(None, tmp_path)

    assert line.endswith("level=INFO logger=cases.tasks sweep_done sent=3")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
