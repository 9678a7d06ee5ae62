"""The escalation policy editor: draft, save, dry run, publish with a note, roll back."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from cases.models import EscalationPolicy
from cases.risk import published_policy
from tests.factories import UserFactory
from web.forms.escalation import PolicyForm

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin() -> Client:
    client = Client()
    client.force_login(UserFactory(role="admin"))
    return client


def form_of(client: Client) -> dict[str, Any]:
    """The draft's form as the page fills it (unchecked boxes left out, as a browser does)."""
    draft = EscalationPolicy.objects.get(status="draft")
    initial = PolicyForm.initial_from(draft.thresholds, draft.edit_version)
    return {k: v for k, v in initial.items() if v is not False}


def test_an_admin_drafts_saves_publishes_and_rolls_back(admin: Client) -> None:
    # given a draft made from the defaults
    admin.post("/escalation/draft/")
    values = form_of(admin) | {"frustration_threshold": "0.4"}
    values.pop("human_request")  # an unchecked box is not posted

    # when it is saved and published with a note
    assert admin.post("/escalation/draft/save/", values).status_code == 302
    draft = EscalationPolicy.objects.get(status="draft")
    admin.post("/escalation/publish/", {"edit_version": draft.edit_version, "note": "calmer"})

    # then it is live for assess and intake
    live = published_policy()
    assert (live.version, live.frustration_threshold, live.human_request) == (1, 0.4, False)

    # and rolling back to the defaults publishes them again as version 3 after a second one
    admin.post("/escalation/draft/")
    draft = EscalationPolicy.objects.get(status="draft")
    admin.post("/escalation/publish/", {"edit_version": draft.edit_version, "note": "same"})
    admin.post("/escalation/versions/1/rollback/", {"note": "back"})
    assert published_policy().version == 3
    assert list(EscalationPolicy.objects.values_list("version", "status")) == [
        (3, "published"),
        (2, "archived"),
        (1, "archived"),
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("frustration_threshold", "1.5", "less than or equal to 1"),
        ("failed_steps", "x", "Enter a whole number"),
        ("sensitive_terms", "a" * 101, "At most 200 lines of 100 characters"),
        ("sensitive_terms", "\x00", "Null characters are not allowed"),
    ],
)
def test_bad_values_come_back_with_the_fields_message(
    admin: Client, field: str, value: str, message: str
) -> None:
    admin.post("/escalation/draft/")
    before = EscalationPolicy.objects.get(status="draft").thresholds

    response = admin.post("/escalation/draft/save/", form_of(admin) | {field: value})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert EscalationPolicy.objects.get(status="draft").thresholds == before


def test_a_stale_draft_is_a_conflict_and_publishing_needs_a_note(admin: Client) -> None:
    admin.post("/escalation/draft/")
    values = form_of(admin)
    admin.post("/escalation/draft/save/", values)

    stale = admin.post("/escalation/draft/save/", values)
    silent = admin.post("/escalation/publish/", {"edit_version": 1, "note": ""})

    assert stale.status_code == 409 and "Someone else saved this draft" in stale.content.decode()
    assert silent.status_code == 400
    assert not EscalationPolicy.objects.filter(status="published").exists()


def test_agents_and_supervisors_may_not_edit_it() -> None:
    for role in ("agent", "supervisor"):
        client = Client()
        client.force_login(UserFactory(role=role))
        assert client.get("/escalation/").status_code == 403
        assert client.post("/escalation/draft/").status_code == 403


def test_the_dry_run_says_how_many_it_would_escalate(admin: Client) -> None:
    admin.post("/escalation/draft/")

    response = admin.post("/escalation/dry-run/", {"limit": "50"}, HTTP_HX_REQUEST="true")
    bad = admin.post("/escalation/dry-run/", {"limit": "0"}, HTTP_HX_REQUEST="true")

    assert "Of the last 0 handoffs, the draft would have escalated" in response.content.decode()
    assert bad.status_code == 400
