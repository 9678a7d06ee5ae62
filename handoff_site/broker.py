"""The embedded default's broker: kombu's filesystem transport, made safe for several processes.

kombu writes a message by creating its file and then filling it, and rewrites an exchange's
table by truncating it first; a worker that lists the folder in between reads an empty file,
and its ``json.loads("")`` stops the worker for good ("Unrecoverable error: JSONDecodeError",
celery/kombu#1551). Seen here: the Quickstart's worker died after about 12 minutes of a demo
shift, and ``desk.py run`` with it. So a message appears under its final name only once it is
whole (written aside, then renamed), a table read in the middle of a rewrite is read again, and
a file that still cannot be read is set aside and logged rather than taken down the worker.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)

ALIAS = "deskfs"
TABLE_READ_ATTEMPTS = 20  # 1 ms apart: a rewrite takes microseconds


class Channel(filesystem.Channel):
    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # The reader only takes names ending in ".<queue>.msg": until the rename, it sees none.
        partial = final + ".part"
        try:
            with open(partial, "wb") as file:
                file.write(dumps(message).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        while True:
            try:
                return super()._get(queue)
            except ValueError:
                # Written by a process without this transport, or a disk that lost it: skip it.
                logger.warning("broker_message_unreadable queue=%s", queue, exc_info=True)

    def get_table(self, exchange: str) -> Any:
        for attempt in range(TABLE_READ_ATTEMPTS):
            try:
                return super().get_table(exchange)
            except ValueError:
                if attempt == TABLE_READ_ATTEMPTS - 1:
                    raise
                time.sleep(0.001)
        return []


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> None:
    """Make ``deskfs://`` a broker URL (the Celery app calls this before it connects)."""
    TRANSPORT_ALIASES[ALIAS] = f"{__name__}:Transport"
