"""The embedded broker (handoff_site/broker.py) in the states that stopped the Quickstart's
worker ("Unrecoverable error: JSONDecodeError", celery/kombu#1551): a message file listed
while its writer is still filling it, an exchange table read while it is rewritten, and a file
that cannot be read at all."""

from __future__ import annotations

import builtins
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from handoff_site import broker

broker.register()


def connection(folder: Path) -> Connection:
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return Connection(
        f"{broker.ALIAS}://",
        transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        },
    )


def test_a_message_is_listed_under_its_name_only_once_it_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_while_writing: list[list[str]] = []
    real_open = builtins.open

    def watching_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, mode, *args, **kwargs)
        if "w" in mode and str(file).startswith(str(tmp_path / "queue")):
            # what a worker listing the folder now would take as the queue's messages
            seen_while_writing.append(
                [n for n in os.listdir(tmp_path / "queue") if n.endswith(".jobs.msg")]
            )
        return handle

    with connection(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")
        monkeypatch.setattr(builtins, "open", watching_open)
        queue.put({"n": 1})
        monkeypatch.undo()

        assert seen_while_writing == [[]]
        assert queue.get(timeout=5).payload == {"n": 1}
        queue.close()


def test_an_exchange_table_read_during_its_rewrite_is_read_again(tmp_path: Path) -> None:
    with connection(tmp_path) as conn:
        channel = conn.channel()
        table = tmp_path / "control" / "events.exchange"
        table.write_text("")  # kombu truncates the table before it writes it again

        def finish_the_rewrite() -> None:
            time.sleep(0.005)
            table.write_text(json.dumps([["", "", "events.queue"]]))

        threading.Thread(target=finish_the_rewrite).start()
        rows = channel.get_table("events")

        assert [row.queue for row in rows] == ["events.queue"]
        channel.close()


def test_an_unreadable_message_is_set_aside_and_the_next_one_delivered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with connection(tmp_path) as conn:
        queue = conn.SimpleQueue("retries")
        (tmp_path / "queue" / "0_broken.retries.msg").write_bytes(b"")
        queue.put({"n": 1})

        message = queue.get(timeout=5)

        assert message.payload == {"n": 1}
        assert "broker_message_unreadable queue=retries" in caplog.text
        assert not (tmp_path / "queue" / "0_broken.retries.msg").exists()
        queue.close()
