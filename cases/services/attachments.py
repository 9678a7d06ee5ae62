"""Storing the files that came with transcript messages: links as they are (never fetched, so the
desk makes no request a sender chose), uploads through Django's storage API under MEDIA_ROOT;
and removing a stored file once its row is gone (its case deleted, its messages purged)."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from cases.models import Attachment, Message
from cases.package import AttachmentIn

logger = logging.getLogger(__name__)


def attachments_store(
    *, pending: Sequence[tuple[Message, Sequence[AttachmentIn]]], saved: list[str]
) -> list[Attachment]:
    """Rows (and files) for the attachments of messages just inserted. Each file written is
    named in ``saved``, so the caller can remove it if the transaction rolls back."""
    rows: list[Attachment] = []
    for message, items in pending:
        for position, item in enumerate(items, start=1):
            row = Attachment(
                message=message,
                position=position,
                name=item.name,
                content_type=item.content_type,
                size=item.size,
                url=item.url or "",
            )
            if item.content is not None:
                data = item.data
                row.size = len(data)
                row.sha256 = hashlib.sha256(data).hexdigest()
                row.file.save(item.name, ContentFile(data), save=False)
                saved.append(str(row.file.name))
            rows.append(row)
    return Attachment.objects.bulk_create(rows, batch_size=500)


def attachment_files_remove(names: Sequence[str]) -> None:
    """Files no row names any more: written for a transaction that did not commit, or left by
    rows deleted. A file already gone is no error (storage's ``delete`` ignores it)."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("attachment_orphan name=%s", name)


@receiver(post_delete, sender=Attachment, dispatch_uid="attachment_file_remove")
def attachment_file_remove_on_delete(sender: Any, instance: Attachment, **kwargs: Any) -> None:
    """A signal, not a service: rows go by cascade (a case, or its messages, deleted by whatever
    purges them), and ``post_delete`` is the one hook every cascade passes through. The file
    goes after the commit: a deletion that rolls back keeps its files."""
    if instance.file:
        name = str(instance.file.name)
        transaction.on_commit(functools.partial(attachment_files_remove, [name]), robust=True)
