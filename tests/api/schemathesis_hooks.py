"""Schemathesis hooks for tests/api/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

A generated Idempotency-Key is drawn from a small alphabet, so two different bodies often share
one, and the desk rightly answers 422 (the key was reused with another body), which the
positive-data check would count as a valid request refused. Each valid key is made unique;
keys the schema refuses (over 255 characters) are left for the negative tests. The coverage
phase builds its requests without ``map_headers``, so ``before_call`` does the same there.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis


def _unique(headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """A valid key (at most 255 characters) made unique, long ones too: a generated key of 230
    zeros, sent twice with two bodies, was a 422 the check counted as a valid request refused."""
    key = (headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and len(key) <= 255:
        return {**(headers or {}), "Idempotency-Key": f"{key[:222]}-{uuid.uuid4().hex}"}
    return headers


@schemathesis.hook
def map_headers(ctx: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    return _unique(headers)


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    if case.headers:
        case.headers = _unique(case.headers)
