"""Serving a stored attachment (web/views/attachments.py): only to signed-in agents who may see the
case, with headers that keep the browser from running it; and the case page showing images as
thumbnails, files as downloads and links as external."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from cases.models import Attachment
from cases.package import HandoffPackage
from cases.services import intake
from tests.attachments import PDF, linked, png, uploaded
from tests.factories import (
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
    full_package,
)

pytestmark = pytest.mark.django_db

SCREENSHOT = png()


@pytest.fixture
def world(settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.MEDIA_ROOT = str(tmp_path)
    general = QueueFactory(slug="general", name="General", is_default=True)
    package = full_package()
    package["transcript"].append(
        {
            "id": "m3",
            "role": "customer",
            "text": "Here is the charge & my statement",
            "attachments": [
                uploaded("charge <1>.png", SCREENSHOT, "image/png"),
                uploaded("statement.pdf", PDF, "application/pdf"),
                uploaded("notes.txt", b"<script>alert(1)</script>", "text/plain"),
                linked("bank.pdf", "https://files.example.com/bank.pdf", "application/pdf"),
            ],
        }
    )
    outcome = intake.handoff_receive(
        integration=IntegrationFactory(), package=HandoffPackage.model_validate(package)
    )
    files = {a.name: a for a in Attachment.objects.filter(message__case=outcome.case)}
    return {
        "case": outcome.case,
        "files": files,
        "member": MembershipFactory(queue=general).agent,
        "outsider": MembershipFactory(queue=QueueFactory()).agent,
        "supervisor": UserFactory(role="supervisor"),
    }


def file_url(world: dict[str, Any], name: str) -> str:
    return reverse("cases:attachment", args=[world["case"].pk, world["files"][name].pk])


@pytest.mark.parametrize(
    ("who", "expected"), [("member", 200), ("supervisor", 200), ("outsider", 404)]
)
def test_only_agents_who_may_see_the_case_get_its_files(client, world, who, expected):
    client.force_login(world[who])

    response = client.get(file_url(world, "charge <1>.png"))

    assert response.status_code == expected
    if expected == 200:
        assert b"".join(response.streaming_content) == SCREENSHOT
    else:
        assert b"PNG" not in response.content


def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(client, world):
    url = file_url(world, "statement.pdf")

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_file_of_another_case_is_not_found_through_this_one(client, world):
    # given: a second case the member may see, and the first case's file asked for through it
    other = intake.handoff_receive(
        integration=IntegrationFactory(),
        package=HandoffPackage.model_validate(full_package(external_id="conv-other")),
    ).case
    client.force_login(world["member"])

    response = client.get(
        reverse("cases:attachment", args=[other.pk, world["files"]["statement.pdf"].pk])
    )

    assert response.status_code == 404


def test_a_link_has_nothing_to_serve(client, world):
    client.force_login(world["member"])

    response = client.get(file_url(world, "bank.pdf"))

    assert response.status_code == 404


def test_an_image_is_inline_and_sandboxed(client, world):
    client.force_login(world["member"])

    response = client.get(file_url(world, "charge <1>.png"))

    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline;")
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
    assert response["Cache-Control"] == "private, max-age=3600"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("statement.pdf", "application/pdf"), ("notes.txt", "text/plain")],
)
def test_any_other_file_is_a_download(client, world, name, content_type):
    client.force_login(world["member"])

    response = client.get(file_url(world, name))

    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_a_type_taken_off_the_allow_list_is_served_as_plain_bytes(client, world, settings):
    settings.HANDOFF_ATTACHMENT_TYPES = ["application/pdf"]
    client.force_login(world["member"])

    response = client.get(file_url(world, "charge <1>.png"))

    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


def test_a_file_removed_from_the_storage_is_gone_not_an_error(client, world):
    stored = world["files"]["statement.pdf"]
    stored.file.storage.delete(stored.file.name)
    client.force_login(world["member"])

    assert client.get(file_url(world, "statement.pdf")).status_code == 404


def test_only_reading_is_allowed(client, world):
    client.force_login(world["member"])

    assert client.post(file_url(world, "statement.pdf")).status_code == 405


def test_the_case_page_shows_thumbnails_downloads_and_external_links(client, world):
    client.force_login(world["member"])

    page = client.get(reverse("cases:detail", args=[world["case"].pk])).content.decode()

    image = file_url(world, "charge <1>.png")
    assert f'<img class="thumb" src="{image}" alt="charge &lt;1&gt;.png"' in page
    assert f'<a href="{file_url(world, "statement.pdf")}" download>statement.pdf</a>' in page
    assert (
        '<a href="https://files.example.com/bank.pdf" target="_blank" '
        'rel="noopener noreferrer nofollow" referrerpolicy="no-referrer">bank.pdf</a> '
        '<span class="chip chip-external">external link</span>'
    ) in page
    assert "<script>alert" not in page
    assert "Here is the charge &amp; my statement" in page
