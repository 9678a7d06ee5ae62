"""The integration_create command: a bot's integration, its key printed once and stored hashed."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from cases.models import Integration
from cases.services.integrations import hash_api_key

pytestmark = pytest.mark.django_db


def test_the_key_is_printed_once_and_only_its_hash_is_kept():
    # when
    out = io.StringIO()
    call_command("integration_create", "acme-bot", "--callback-url", "https://x.example/h",
                 stdout=out)  # fmt: skip

    # then
    printed = re.search(r"API key \(shown once, keep it safe\): (\S+)", out.getvalue())
    assert printed is not None
    integration = Integration.objects.get(name="acme-bot")
    assert integration.key_hash == hash_api_key(printed.group(1))
    assert integration.callback_url == "https://x.example/h"
    assert integration.signing_secret in out.getvalue()


@pytest.mark.parametrize(("name", "message"), [("  ", "needs a name"), ("taken", "exists already")])
def test_a_blank_or_taken_name_is_refused(name, message):
    call_command("integration_create", "taken", stdout=io.StringIO())

    with pytest.raises(CommandError, match=message):
        call_command("integration_create", name, stdout=io.StringIO())
    assert Integration.objects.count() == 1
