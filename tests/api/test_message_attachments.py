"""``POST /api/v1/cases/{id}/messages`` with attachments: the same schema, limits and allow-list
as the handoff's transcript messages, stored by the same code (cases/services/attachments.py);
a refusal is a 422 naming the field with nothing stored, no file either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from cases.models import Attachment, Message
from cases.package import AttachmentIn
from cases.services import agent_work, intake
from tests.attachments import PDF, linked, png, uploaded
from tests.factories import MembershipFactory, UserFactory, full_package

pytestmark = pytest.mark.django_db

SCREENSHOT = png()


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


@pytest.fixture
def case_id(api) -> int:
    response = api.post("/api/v1/handoffs", full_package())
    assert response.status_code == 201
    return int(response.json()["case_id"])


def messages_url(case_id: int) -> str:
    return f"/api/v1/cases/{case_id}/messages"


def test_a_customer_message_with_a_screenshot_and_a_link_is_kept_and_shown(api, case_id, media):
    # when
    response = api.post(
        messages_url(case_id),
        {
            "id": "after-1",
            "text": "Here is the second charge",
            "attachments": [
                uploaded("charge.png", SCREENSHOT, "image/png"),
                linked("bank.pdf", "https://files.example.com/b.pdf", "application/pdf", size=9),
            ],
        },
    )

    # then: stored with its message, the file under MEDIA_ROOT by the desk's name
    assert response.status_code == 201, response.json()
    message = Message.objects.get(pk=response.json()["message_id"])
    screenshot, statement = message.attachments.order_by("position")
    assert (screenshot.name, screenshot.size, screenshot.stored) == (
        "charge.png",
        len(SCREENSHOT),
        True,
    )
    assert (statement.url, statement.size, statement.stored) == (
        "https://files.example.com/b.pdf",
        9,
        False,
    )
    (path,) = stored_files(media)
    assert path.read_bytes() == SCREENSHOT and path.parent.name == str(case_id)
    assert message.case.events.get(kind="customer_message").data["attachments"] == 2
    # the bot reads them back
    read = api.get(f"/api/v1/cases/{case_id}").json()
    last = read["messages"][-1]
    assert [a["name"] for a in last["attachments"]] == ["charge.png", "bank.pdf"]
    assert [a["stored"] for a in last["attachments"]] == [True, False]
    # and an agent sees a thumbnail served by the desk, and the link
    browser = Client()
    browser.force_login(UserFactory(role="supervisor"))
    page = browser.get(reverse("cases:detail", args=[case_id])).content.decode()
    served = reverse("cases:attachment", args=[case_id, screenshot.pk])
    assert f'src="{served}"' in page
    assert "https://files.example.com/b.pdf" in page
    assert b"".join(browser.get(served).streaming_content) == SCREENSHOT


def test_a_screenshot_alone_is_a_message(api, case_id, media):
    response = api.post(
        messages_url(case_id), {"attachments": [uploaded("a.png", SCREENSHOT, "image/png")]}
    )

    assert response.status_code == 201, response.json()
    message = Message.objects.get(pk=response.json()["message_id"])
    assert message.text == "" and message.attachments.count() == 1


def test_the_same_message_sent_twice_is_stored_once(api, case_id, media):
    body = {"id": "after-2", "attachments": [uploaded("a.pdf", PDF, "application/pdf")]}

    first = api.post(messages_url(case_id), body)
    retry = api.post(messages_url(case_id), body)

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["duplicate"] is True
    assert Attachment.objects.filter(message__case_id=case_id).count() == 1
    assert len(stored_files(media)) == 1


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        (
            {"text": "x", "attachments": [uploaded("a.html", b"<b>", "text/html")]},
            ["body", "attachments", 0, "content_type"],
            "may not be uploaded",
        ),
        (
            {"text": "x", "attachments": [{"name": "a.png", "content_type": "image/png"}]},
            ["body", "attachments", 0],
            "one of the two",
        ),
        (
            {"text": "x", "attachments": [linked("a", "javascript:alert(1)", "text/plain")]},
            ["body", "attachments", 0, "url"],
            "pattern",
        ),
        (
            {"attachments": []},
            ["body", "text"],
            "required unless the message has attachments",
        ),
        (
            {"text": "x", "attachments": [linked("n", "https://e.x/a", "a/b")] * 11},
            ["body", "attachments"],
            "at most 10",
        ),
    ],
    ids=["html-upload", "neither-url-nor-content", "javascript-url", "nothing", "eleven"],
)  # fmt: skip
def test_a_bad_attachment_is_a_422_naming_the_field_and_nothing_is_stored(
    api, case_id, media, body, loc, words
):
    before = Message.objects.filter(case_id=case_id).count()

    response = api.post(messages_url(case_id), body)

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert errors[0]["loc"] == loc, errors
    assert words in errors[0]["msg"]
    assert Message.objects.filter(case_id=case_id).count() == before
    assert not Attachment.objects.exists() and stored_files(media) == []


def test_an_upload_over_the_limit_is_refused(api, case_id, media, settings):
    settings.HANDOFF_ATTACHMENT_MAX_BYTES = 1000

    response = api.post(
        messages_url(case_id),
        {"text": "big", "attachments": [uploaded("big.pdf", PDF + b"0" * 1000, "application/pdf")]},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "attachments", 0, "content"]
    assert "over the upload limit of 1000 bytes" in response.json()["errors"][0]["msg"]
    assert stored_files(media) == []


def test_a_bots_file_while_a_person_holds_the_conversation_is_refused_and_not_written(
    api, case_id, media, default_queue
):
    agent_work.case_claim(case_id=case_id, agent=MembershipFactory(queue=default_queue).agent)

    response = api.post(
        messages_url(case_id),
        {"role": "bot", "attachments": [uploaded("a.png", SCREENSHOT, "image/png")]},
    )

    assert response.status_code == 409
    assert response.json()["type"].endswith("conversation_held_by_agent")
    assert stored_files(media) == [] and not Attachment.objects.exists()


def test_files_written_for_a_message_that_rolls_back_are_removed(api, case_id, media, monkeypatch):
    # given: a step after the file's write that fails
    def fail(*args: Any, **kwargs: Any) -> None:
        assert stored_files(media), "the file was written inside the transaction"
        raise RuntimeError("the live event could not be built")

    monkeypatch.setattr(intake, "publish_case", fail)
    item = AttachmentIn.model_validate(uploaded("a.png", SCREENSHOT, "image/png"))

    # when
    with pytest.raises(RuntimeError):
        intake.case_customer_message_add(case_id=case_id, text="", attachments=[item])

    # then
    assert stored_files(media) == [] and not Attachment.objects.exists()


def test_an_uploads_size_is_measured_not_taken_from_the_sender(api, case_id, media):
    # a schema-valid request (schemathesis sent one): the desk keeps the length it counted
    response = api.post(
        messages_url(case_id),
        {"attachments": [uploaded("a.png", SCREENSHOT, "image/png", size=3)]},
    )

    assert response.status_code == 201
    assert Attachment.objects.get().size == len(SCREENSHOT)


def test_the_published_schema_is_the_transcript_messages(api):
    schemas = api.get("/api/v1/openapi.json").json()["components"]["schemas"]

    message = schemas["CustomerMessageIn"]
    assert message["properties"]["attachments"]["maxItems"] == 10
    assert message["properties"]["attachments"]["items"] == {
        "$ref": "#/components/schemas/AttachmentIn"
    }
    assert message["anyOf"] == schemas["TranscriptMessage"]["anyOf"]
