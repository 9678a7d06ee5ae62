"""Storing the files that came with transcript messages: links as they are (never fetched, so the
desk makes no request a sender chose), uploads through Django's storage API under MEDIA_ROOT."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

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
    """Files written for a handoff whose transaction did not commit: nothing of it is kept."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("attachment_orphan name=%s", name)
