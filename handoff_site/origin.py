"""The websocket's origin check: the page must come from this desk, port included.

Channels' ``AllowedHostsOriginValidator`` matches the origin's host name against ALLOWED_HOSTS
and ignores the port, so a page served by any other program on the same host
(``http://127.0.0.1:9999``) could open a socket with the agent's cookies. Here the origin must
also name the host *and port* the socket was opened on (as Django's CSRF check does for a POST),
or be one of CSRF_TRUSTED_ORIGINS.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult, urlparse, urlsplit

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings

DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def _host_port(netloc: str, scheme: str) -> tuple[str, int | None] | None:
    """``host[:port]`` as (lower-case host, port), the scheme's default port when absent."""
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname, port if port is not None else DEFAULT_PORTS.get(scheme)


class SameOriginValidator(OriginValidator):
    """An allowed host (as Channels checks) on the very host and port of the connection."""

    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=[])

    def validate_origin(self, parsed_origin: ParseResult) -> bool:
        # The running settings, not those at import (tests override them).
        allowed = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not allowed:  # as Django and Channels do
            allowed = ["localhost", "127.0.0.1", "[::1]"]
        return any(p == "*" or self.match_allowed_origin(parsed_origin, p) for p in allowed)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        try:
            origin = urlparse(headers[b"origin"].decode("latin1"))
        except (KeyError, UnicodeDecodeError, ValueError):
            origin = None
        if self.same_origin(origin, headers.get(b"host", b"").decode("latin1")):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)

    def same_origin(self, origin: ParseResult | None, host: str) -> bool:
        if origin is None or not self.validate_origin(origin):  # an allowed host, as Channels does
            return False
        trusted = {o.lower().rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS}
        if f"{origin.scheme}://{origin.netloc}".lower() in trusted:
            return True
        mine = _host_port(host, origin.scheme)
        return mine is not None and mine == _host_port(origin.netloc, origin.scheme)
