"""Each bot platform's attachments, built with its SDK where there is one, become the package's:
a link stays a link (the desk never fetches it), a ``data:`` URL's file is stored when its type
is allowed, and what cannot be carried is named in the message instead of refusing the handoff.
(Dialogflow CX's format carries no files: nothing to map.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sunshine_conversations_client as sunshine
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    HeroCard,
    Transcript,
)

from cases.models import Attachment as Stored
from tests.attachments import b64, png

pytestmark = pytest.mark.django_db

SCREENSHOT = png()


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def files_of(case_id: int) -> list[tuple[str, str, str, int | None, bool]]:
    """(role, name, type, size, stored) of each attachment of the case, in order."""
    return [
        (a.message.role, a.name, a.content_type, a.size, a.stored)
        for a in Stored.objects.filter(message__case_id=case_id)
        .select_related("message")
        .order_by("message__seq", "position")
    ]


# --- Bot Framework / Copilot Studio --------------------------------------------------------------


def test_bot_framework_activity_attachments(api, stored):
    # given: the transcript's activities carry a file link, an inline screenshot (a data URL,
    # as Web Chat and the Emulator send pasted images), an HTML file inline, and a card
    customer = ChannelAccount(id="29:ana", name="Ana", role="user")
    bot = ChannelAccount(id="28:bot", name="Bot", role="bot")
    history = Transcript(
        activities=[
            Activity(
                type=ActivityTypes.message,
                id="act-1",
                text="Here is my statement",
                from_property=customer,
                timestamp=datetime(2026, 11, 20, 10, 1, 1, tzinfo=UTC),
                attachments=[
                    Attachment(
                        content_type="application/pdf",
                        content_url="https://files.example.com/statement.pdf",
                        name="statement.pdf",
                    )
                ],
            ),
            Activity(
                type=ActivityTypes.message,
                id="act-2",
                from_property=customer,
                timestamp=datetime(2026, 11, 20, 10, 1, 2, tzinfo=UTC),
                attachments=[
                    Attachment(
                        content_type="image/png",
                        content_url=f"data:image/png;base64,{b64(SCREENSHOT)}",
                        name="screenshot.png",
                    ),
                    Attachment(
                        content_type="text/html",
                        content_url=f"data:text/html;base64,{b64(b'<script>x</script>')}",
                        name="page.html",
                    ),
                ],
            ),
            Activity(
                type=ActivityTypes.message,
                id="act-3",
                from_property=bot,
                timestamp=datetime(2026, 11, 20, 10, 1, 3, tzinfo=UTC),
                attachments=[
                    Attachment(
                        content_type="application/vnd.microsoft.card.hero",
                        content=HeroCard(title="Refund options"),
                    )
                ],
            ),
        ]
    )
    activity = Activity(
        type=ActivityTypes.event,
        name="handoff.initiate",
        id="evt-files",
        conversation=ConversationAccount(id="a:conv-files"),
        from_property=customer,
        value={"va_LastTopic": "Refund"},
        attachments=[
            Attachment(name="Transcript", content_type="application/json", content=history)
        ],
    ).serialize()

    # when
    response = api.post("/api/v1/adapters/botframework/handoffs", activity)

    # then
    assert response.status_code == 201, response.json()
    case_id = response.json()["channelData"]["handoffDesk"]["case_id"]
    assert files_of(case_id) == [
        ("customer", "statement.pdf", "application/pdf", None, False),
        ("customer", "screenshot.png", "image/png", len(SCREENSHOT), True),
    ]
    seen = stored(case_id)
    assert seen.transcript[0] == ("customer", "Here is my statement")
    # what was not carried is named where it was sent
    assert seen.transcript[1][1].startswith("[page.html: not kept, content_type text/html may")
    assert seen.transcript[2] == ("bot", "[sent application/vnd.microsoft.card.hero]")
    assert "https://files.example.com/statement.pdf" in seen.page
    assert 'class="thumb"' in seen.page


# --- Sunshine Conversations --------------------------------------------------------------------

CONVERSATION = sunshine.ConversationTruncated(id="conv-sun-files", type="personal")


def sent(index: int, content: Any) -> dict[str, Any]:
    """A conversation:message event as Sunshine sends it: with the read-only ``mediaType`` and
    ``mediaSize`` Sunshine sets (the client's to_dict leaves them out of its requests)."""
    event = sunshine.ConversationMessageEvent(
        id=f"evt-{index}",
        type="conversation:message",
        createdAt=f"2026-11-20T10:01:0{index}.000Z",
        payload=sunshine.ConversationMessageEventAllOfPayload(
            conversation=CONVERSATION,
            message=sunshine.MessageWebhook(
                id=f"msg-{index}",
                received=f"2026-11-20T10:01:0{index}.000Z",
                author=sunshine.AuthorWebhook(type="user", userId="user-ana"),
                content=sunshine.Content(content),
            ),
        ),
    ).to_dict()
    event["payload"]["message"]["content"] = content.model_dump(by_alias=True, exclude_none=True)
    # the client reads back what it would receive
    parsed = sunshine.ConversationMessageEvent.from_dict(event)
    assert parsed is not None and parsed.payload is not None and parsed.payload.message
    assert parsed.payload.message.content is not None
    return event


def test_sunshine_image_and_file_content(api, stored):
    image = sunshine.ImageMessage(
        type="image",
        media_url="https://media.smooch.io/apps/a/conversations/c/receipt.jpg",
        media_type="image/jpeg",
        media_size=84_211,
        alt_text="receipt.jpg",
        text="the receipt",
    )
    file = sunshine.FileMessage(
        type="file",
        media_url="https://media.smooch.io/apps/a/conversations/c/contract.pdf",
        media_type="application/pdf",
        media_size=310_004.0,
        alt_text="contract.pdf",
    )
    body = {
        "app": {"id": "app-acme"},
        "webhook": {"id": "wh-1", "version": "v2"},
        "events": [
            sent(1, image),
            sent(2, file),
            sunshine.SwitchboardPassControl(
                id="evt-pass",
                type="switchboard:passControl",
                createdAt="2026-11-20T10:02:00.000Z",
                payload=sunshine.SwitchboardPassControlAllOfPayload(
                    conversation=CONVERSATION, metadata={}
                ),
            ).to_dict(),
        ],
    }

    response = api.post("/api/v1/adapters/sunshine/handoffs", body)

    assert response.status_code == 201, response.json()
    case_id = response.json()["case_id"]
    assert files_of(case_id) == [
        ("customer", "receipt.jpg", "image/jpeg", 84_211, False),
        ("customer", "contract.pdf", "application/pdf", 310_004, False),
    ]
    seen = stored(case_id)
    assert seen.transcript == [("customer", "the receipt"), ("customer", "")]
    # links to Sunshine's media: shown as external, never fetched or thumbnailed by the desk
    assert seen.page.count("external link") == 2
    assert 'class="thumb"' not in seen.page


# --- Botpress ------------------------------------------------------------------------------------


def test_botpress_image_and_file_messages(api, stored):
    # the SDK's default message types (packages/sdk/src/message.ts): image {imageUrl},
    # file {fileUrl, title?}
    body = {
        "userId": "bp-user-9",
        "conversationId": "bp-conv-files",
        "title": "Refund failed",
        "messageHistory": [
            {"source": {"type": "user", "userId": "bp-user-9"}, "type": "image",
             "payload": {"imageUrl": "https://files.bpcontent.cloud/2026/11/20/receipt.png"}},
            {"source": {"type": "user", "userId": "bp-user-9"}, "type": "file",
             "payload": {"fileUrl": "https://files.bpcontent.cloud/x/9f1c",
                         "title": "invoice.pdf"}},
            {"source": {"type": "user", "userId": "bp-user-9"}, "type": "file",
             "payload": {"fileUrl": "ftp://old.example.com/invoice.pdf"}},
        ],
    }  # fmt: skip

    response = api.post("/api/v1/adapters/botpress/handoffs", body)

    assert response.status_code == 201, response.json()
    case_id = response.json()["handoffDesk"]["case_id"]
    assert files_of(case_id) == [
        ("customer", "receipt.png", "image/png", None, False),
        ("customer", "invoice.pdf", "application/pdf", None, False),
    ]
    # a link the desk would not show (not http(s)) is named instead
    assert stored(case_id).transcript[2][1].startswith("[invoice.pdf: not kept, url ")


# --- Rasa ----------------------------------------------------------------------------------------


def test_rasa_bot_utterance_image_and_attachment(api, stored):
    # BotUttered's data (rasa-sdk's field names): image, attachment
    state = {
        "sender_id": "rasa-conv-files",
        "slots": {},
        "latest_message": {},
        "events": [
            {"event": "user", "text": "where do I find my order number?", "timestamp": 1.8e9},
            {"event": "bot", "text": "It is on your receipt, here:", "timestamp": 1.8e9 + 1,
             "data": {"image": "https://cdn.example.com/help/receipt-number.png",
                      "attachment": {"type": "file", "payload": {
                          "src": "https://cdn.example.com/help/guide.pdf", "title": "guide.pdf"}},
                      "buttons": None, "elements": None, "quick_replies": None, "custom": None}},
        ],
    }  # fmt: skip

    response = api.post("/api/v1/adapters/rasa/handoffs", state)

    assert response.status_code == 201, response.json()
    case_id = response.json()["case_id"]
    assert files_of(case_id) == [
        ("bot", "receipt-number.png", "image/png", None, False),
        ("bot", "guide.pdf", "application/pdf", None, False),
    ]
