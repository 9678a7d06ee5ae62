"""Log lines: the request's id on every record made while serving it, and JSON lines when
``LOG_FORMAT=json`` (the default stays key=value text for people)."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

# Set by handoff_site.middleware.RequestIdMiddleware for the time of one request; a context
# variable, so it follows the request into sync_to_async's thread and stays out of others.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# An id a proxy sent (nginx's $request_id, a load balancer's trace id) is kept when it is short
# and plain; anything else is replaced, never echoed.
_SENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_from(sent: str | None) -> str:
    if sent and _SENT_ID.match(sent):
        return sent
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to records made while a request is served (and only to those)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        return True


class JsonLinesFormatter(JsonFormatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id while
    a request is served, exception (the traceback's text) when there is one, and any
    ``extra=`` fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
            timestamp="time",
            # Django hands the request object itself to django.request and django.server's
            # records: a repr of it says nothing the message does not.
            reserved_attrs=[*RESERVED_ATTRS, "request", "server_time", "color_message"],
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # Time first, as people and log shippers read a line.
        return {"time": log_data.pop("time"), **log_data}
