"""Stored attachment files go with their rows: when the case is deleted, or its messages purged,
the files are removed after the commit (kept if the deletion rolls back), and a file already
gone is no error."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from cases.models import Attachment, Case, Message
from cases.package import HandoffPackage
from cases.services import intake
from tests.attachments import linked, png, uploaded
from tests.factories import IntegrationFactory, QueueFactory, full_package

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


@pytest.fixture
def case(media: Path) -> Case:
    QueueFactory(slug="general", name="General", is_default=True)
    package = full_package()
    package["transcript"].append(
        {
            "id": "m9",
            "role": "customer",
            "text": "two files and a link",
            "attachments": [
                uploaded("a.png", png(), "image/png"),
                uploaded("b.png", png(rgb=(0, 0, 200)), "image/png"),
                linked("c.pdf", "https://files.example.com/c.pdf", "application/pdf"),
            ],
        }
    )
    outcome = intake.handoff_receive(
        integration=IntegrationFactory(), package=HandoffPackage.model_validate(package)
    )
    assert len(stored_files(media)) == 2
    return outcome.case


def test_deleting_the_case_removes_its_files_after_the_commit(case, media):
    # when: deleted in a transaction
    with transaction.atomic():
        case.delete()
        # then: not before the commit
        assert len(stored_files(media)) == 2

    assert stored_files(media) == []
    assert not Attachment.objects.exists()


def test_a_deletion_that_rolls_back_keeps_the_files(case, media):
    with pytest.raises(RuntimeError), transaction.atomic():
        Case.objects.filter(pk=case.pk).delete()
        raise RuntimeError("changed our mind")

    assert len(stored_files(media)) == 2
    assert Attachment.objects.filter(message__case=case).count() == 3


def test_purging_the_messages_removes_only_their_files(case, media):
    # given: another case's file, which must stay
    other = intake.handoff_receive(
        integration=IntegrationFactory(),
        package=HandoffPackage.model_validate(
            {
                "external_id": "other",
                "transcript": [
                    {"role": "customer", "attachments": [uploaded("o.png", png(), "image/png")]}
                ],
            }
        ),
    ).case

    # when: the first case's transcript is purged (autocommit: the commit is the delete)
    Message.objects.filter(case=case).delete()

    # then
    (left,) = stored_files(media)
    assert left.parent.name == str(other.pk)


def test_a_file_already_gone_is_no_error(case, media, caplog):
    # given: one of the files was removed by hand
    stored_files(media)[0].unlink()

    # when
    with caplog.at_level(logging.WARNING):
        case.delete()

    # then: the other is removed, and nothing failed
    assert stored_files(media) == []
    assert not Case.objects.exists()
    assert "attachment_orphan" not in caplog.text
