"""Integrations: the bots that hand off to the desk, their API keys and signing secrets."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from cases.callbacks.outbox import new_signing_secret
from cases.models import Integration

API_KEY_PREFIX = "hd_"


def hash_api_key(raw_key: str) -> str:
    # API keys are 32 random bytes: a fast hash is enough, and lets the lookup use an index.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def integration_create(
    *, name: str, callback_url: str = "", platform: str = ""
) -> tuple[Integration, str]:
    """Create an integration; the raw API key is returned once and never stored.

    ``platform``: the bot platform whose own form its callbacks take (``Integration.Platform``).
    """
    if platform not in Integration.Platform.values:
        raise ValueError(f"unknown platform {platform!r}")
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    integration = Integration.objects.create(
        name=name,
        key_prefix=raw_key[:10],
        key_hash=hash_api_key(raw_key),
        callback_url=callback_url,
        platform=platform,
        signing_secret=new_signing_secret(),
    )
    return integration, raw_key


def integration_rotate_key(*, integration: Integration) -> str:
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    integration.key_prefix = raw_key[:10]
    integration.key_hash = hash_api_key(raw_key)
    integration.save(update_fields=["key_prefix", "key_hash"])
    return raw_key


SECRET_OVERLAP = timedelta(days=3)


@transaction.atomic
def integration_rotate_secret(*, integration: Integration) -> str:
    """A new signing secret; the old one keeps signing beside it for ``SECRET_OVERLAP``."""
    integration.previous_signing_secret = integration.signing_secret
    integration.previous_secret_valid_until = timezone.now() + SECRET_OVERLAP
    integration.signing_secret = new_signing_secret()
    integration.save(
        update_fields=["signing_secret", "previous_signing_secret", "previous_secret_valid_until"]
    )
    return integration.signing_secret
