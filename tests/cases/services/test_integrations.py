"""Integrations (cases/services/integrations.py): an API key shown once and stored hashed, key
rotation, and a signing secret rotated with a grace period for the old one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Integration
from cases.services.integrations import (
    API_KEY_PREFIX,
    SECRET_OVERLAP,
    hash_api_key,
    integration_create,
    integration_rotate_key,
    integration_rotate_secret,
)

pytestmark = pytest.mark.django_db


def test_a_new_integration_gets_a_key_that_is_stored_only_as_its_hash():
    # when
    integration, raw_key = integration_create(name="acme-bot", callback_url="https://x.example/h")

    # then
    stored = Integration.objects.get(pk=integration.pk)
    assert raw_key.startswith(API_KEY_PREFIX) and len(raw_key) > 40
    assert stored.key_hash == hash_api_key(raw_key) and raw_key not in stored.key_hash
    assert stored.key_prefix == raw_key[:10]
    assert stored.callback_url == "https://x.example/h"
    assert stored.signing_secret.startswith("whsec_")


def test_two_integrations_never_share_a_key_or_a_secret():
    first, first_key = integration_create(name="one")
    second, second_key = integration_create(name="two")

    assert first_key != second_key and first.signing_secret != second.signing_secret


def test_a_rotated_key_replaces_the_old_one():
    # given
    integration, old_key = integration_create(name="acme-bot")

    # when
    new_key = integration_rotate_key(integration=integration)

    # then: only the new key matches what is stored
    stored = Integration.objects.get(pk=integration.pk)
    assert new_key != old_key
    assert stored.key_hash == hash_api_key(new_key) != hash_api_key(old_key)
    assert stored.key_prefix == new_key[:10]


def test_a_rotated_secret_keeps_the_old_one_signing_for_the_overlap():
    # given
    integration, _ = integration_create(name="acme-bot")
    old_secret = integration.signing_secret

    # when
    new_secret = integration_rotate_secret(integration=integration)

    # then
    stored = Integration.objects.get(pk=integration.pk)
    assert stored.signing_secret == new_secret != old_secret
    assert stored.previous_signing_secret == old_secret
    expected_until = timezone.now() + SECRET_OVERLAP
    assert stored.previous_secret_valid_until is not None
    assert abs(stored.previous_secret_valid_until - expected_until) < timedelta(seconds=5)
