"""Attachments in the handoff package (cases/package.py): a link or the file itself (base64), on a
size limit and a type allow-list; a refusal is a 422 naming the field, with nothing stored."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from cases.models import Attachment, Case, Message
from cases.package import HandoffPackage
from cases.services import intake
from cases.services.escalation_timing import case_escalation_time
from handoff_site.settings import attachment_types
from tests.attachments import PDF, linked, png, uploaded
from tests.factories import full_package

pytestmark = pytest.mark.django_db

SCREENSHOT = png()


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


def with_files(*attachments: dict[str, Any], text: str = "Here is the charge") -> dict[str, Any]:
    message = {"id": "m3", "role": "customer", "at": "2026-11-20T10:01:09Z"}
    if text:
        message["text"] = text
    package = full_package()
    package["transcript"].append({**message, "attachments": list(attachments)})
    return package


def test_an_uploaded_screenshot_and_a_link_are_kept_with_their_message(api, media):
    # when
    response = api.post(
        "/api/v1/handoffs",
        with_files(
            uploaded("charge.png", SCREENSHOT, "image/png"),
            linked(
                "statement.pdf",
                "https://files.example.com/s/123.pdf",
                "application/pdf",
                size=48_213,
            ),
        ),
    )

    # then: the case has both, in order, on the customer's message
    assert response.status_code == 201, response.json()
    message = Message.objects.get(case_id=response.json()["case_id"], external_id="m3")
    screenshot, statement = message.attachments.order_by("position")
    assert (screenshot.name, screenshot.content_type, screenshot.size) == (
        "charge.png",
        "image/png",
        len(SCREENSHOT),
    )
    assert screenshot.sha256 == hashlib.sha256(SCREENSHOT).hexdigest()
    assert screenshot.url == ""
    # stored under MEDIA_ROOT by a name of the desk's, not the sender's
    (path,) = stored_files(media)
    assert path.read_bytes() == SCREENSHOT
    assert "charge" not in path.name and path.suffix == ""
    assert path.parent.name == str(message.case_id)
    # the link is only a link: nothing fetched, nothing stored
    assert (statement.url, statement.size, bool(statement.file)) == (
        "https://files.example.com/s/123.pdf",
        48_213,
        False,
    )

    # and the bot reads them back
    read = api.get(f"/api/v1/cases/{message.case_id}").json()
    assert read["messages"][-1]["attachments"] == [
        {
            "name": "charge.png",
            "content_type": "image/png",
            "size": len(SCREENSHOT),
            "url": None,
            "stored": True,
        },
        {
            "name": "statement.pdf",
            "content_type": "application/pdf",
            "size": 48_213,
            "url": "https://files.example.com/s/123.pdf",
            "stored": False,
        },
    ]


def test_a_message_may_be_a_screenshot_alone(api, media):
    response = api.post(
        "/api/v1/handoffs", with_files(uploaded("a.png", SCREENSHOT, "image/png"), text="")
    )

    assert response.status_code == 201, response.json()
    message = Message.objects.get(case_id=response.json()["case_id"], external_id="m3")
    assert message.text == ""
    assert message.attachments.count() == 1


@pytest.mark.parametrize(
    ("attachment", "loc", "words"),
    [
        (
            {"name": "x.png", "content_type": "image/png", "content": "not base64!"},
            "content",
            "should match pattern",
        ),
        (
            {"name": "x.png", "content_type": "image/png", "content": "iVBORw0KGgo"},
            "content",
            "should match pattern",
        ),
        (
            uploaded("page.html", b"<script>alert(1)</script>", "text/html"),
            "content_type",
            "text/html may not be uploaded",
        ),
        (
            uploaded("logo.svg", b"<svg onload=alert(1)/>", "image/svg+xml"),
            "content_type",
            "image/svg+xml may not be uploaded",
        ),
        (
            uploaded("run.js", b"alert(1)", "application/javascript"),
            "content_type",
            "may not be uploaded",
        ),
        (linked("x", "javascript:alert(1)", "text/plain"), "url", "should match pattern"),
        (linked("x", "file:///etc/passwd", "text/plain"), "url", "should match pattern"),
        (linked("x", "https://user:pw@files.example.com/", "text/plain"), "url", "pattern"),
        ({"name": "x", "content_type": "image/png"}, None, "a url or a content"),
        (
            {**uploaded("x.png", SCREENSHOT, "image/png"), "url": "https://a.example/x.png"},
            None,
            "a url or a content",
        ),
        (linked("x", "https://a.example/x", "Image/PNG"), "content_type", "pattern"),
        (
            {**linked("x", "https://a.example/x", "image/png"), "content": None},
            "content",
            "leave the field out",
        ),
    ],
)
def test_a_bad_attachment_is_a_422_naming_the_field_and_nothing_is_stored(
    api, media, attachment, loc, words
):
    # when
    response = api.post("/api/v1/handoffs", with_files(attachment))

    # then
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    where = ["body", "transcript", 2, "attachments", 0]
    assert error["loc"] == ([*where, loc] if loc else where)
    assert words in error["msg"]
    assert not Case.objects.exists() and not Attachment.objects.exists()
    assert stored_files(media) == []


def test_an_upload_over_the_limit_is_refused(api, media, settings):
    settings.HANDOFF_ATTACHMENT_MAX_BYTES = 1000

    response = api.post(
        "/api/v1/handoffs", with_files(uploaded("big.pdf", PDF + b"0" * 1000, "application/pdf"))
    )

    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["loc"][-1] == "content"
    assert "over the upload limit of 1000 bytes" in error["msg"]
    assert stored_files(media) == [] and not Case.objects.exists()


def test_the_allow_list_is_a_setting(api, media, settings):
    settings.HANDOFF_ATTACHMENT_TYPES = ["application/pdf"]

    refused = api.post("/api/v1/handoffs", with_files(uploaded("a.png", SCREENSHOT, "image/png")))
    # a link is shown, never fetched or served: any type may be linked
    linked_png = api.post(
        "/api/v1/handoffs",
        with_files(linked("a.png", "https://files.example.com/a.png", "image/png")),
    )

    assert refused.status_code == 422
    assert "allowed: application/pdf" in refused.json()["errors"][0]["msg"]
    assert linked_png.status_code == 201


def test_a_setting_that_allows_html_or_svg_stops_the_desk():
    assert attachment_types(["Image/PNG", "application/pdf"]) == ["image/png", "application/pdf"]
    for kind in ("text/html", "image/svg+xml", "application/javascript"):
        with pytest.raises(ImproperlyConfigured, match=re.escape(kind)):
            attachment_types(["image/png", kind])


def test_a_second_handoff_stores_only_the_new_messages_files(api, media):
    # given
    first = api.post("/api/v1/handoffs", with_files(uploaded("a.png", SCREENSHOT, "image/png")))
    again = with_files(uploaded("a.png", SCREENSHOT, "image/png"))
    again["transcript"].append(
        {
            "id": "m4",
            "role": "customer",
            "text": "and the receipt",
            "attachments": [uploaded("receipt.pdf", PDF, "application/pdf")],
        }
    )

    # when
    second = api.post("/api/v1/handoffs", again)

    # then
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["appended_messages"] == 1
    case_id = first.json()["case_id"]
    names = list(Attachment.objects.filter(message__case_id=case_id).values_list("name", flat=True))
    assert sorted(names) == ["a.png", "receipt.pdf"]
    assert len(stored_files(media)) == 2


def test_files_written_for_a_handoff_that_rolls_back_are_removed(integration, media):
    # given: a package with a file, and a step after the write that fails
    package = HandoffPackage.model_validate(with_files(uploaded("a.png", SCREENSHOT, "image/png")))

    def fail(outcome: Any) -> None:
        assert stored_files(media), "the file was written inside the transaction"
        raise RuntimeError("the answer could not be recorded")

    # when
    with pytest.raises(RuntimeError):
        intake.handoff_receive(integration=integration, package=package, on_stored=fail)

    # then
    assert stored_files(media) == []
    assert not Case.objects.exists()


def test_the_published_schema_states_the_limits(api, settings):
    schema = api.get("/api/v1/openapi.json").json()["components"]["schemas"]["AttachmentIn"]

    content = schema["properties"]["content"]
    assert content["maxLength"] == 4 * settings.HANDOFF_ATTACHMENT_MAX_BYTES // 3
    assert schema["oneOf"][1]["properties"]["content_type"]["enum"] == list(
        settings.HANDOFF_ATTACHMENT_TYPES
    )


def test_a_screenshot_alone_is_a_message_the_escalation_advice_reads(api):
    conversation = {
        "transcript": [
            {"role": "customer", "text": "I was charged twice"},
            {"role": "customer", "attachments": [uploaded("a.png", SCREENSHOT, "image/png")]},
            {"role": "customer", "text": "this is useless, let me talk to a human"},
        ]
    }

    response = api.post("/api/v1/assess", conversation)

    assert response.status_code == 200, response.json()
    assert response.json()["escalate"] is True


def test_a_case_whose_last_words_are_a_screenshot_gets_its_escalation_timing(api, media):
    response = api.post(
        "/api/v1/handoffs", with_files(uploaded("a.png", SCREENSHOT, "image/png"), text="")
    )

    timing = case_escalation_time(case_id=response.json()["case_id"])
    assert timing is not None
    assert Case.objects.get().escalation_policy_version == timing.policy_version
