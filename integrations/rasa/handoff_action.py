"""A Rasa custom action that hands the conversation to Handoff Desk and pauses it.

Drop this file into your actions server's ``actions/`` package, add ``action_handoff_to_desk``
to your domain's actions, and call it from the rule or story that hands off. It needs only
rasa-sdk and the standard library. Configure it with environment variables:

    HANDOFF_DESK_URL   the desk, e.g. https://desk.example.com
    HANDOFF_DESK_KEY   the integration's API key (manage.py integration_create my-rasa-bot)

It posts the tracker's state (``Tracker.current_state()``: the events, the latest intent with
its confidence and ranking, the slots) to ``POST /api/v1/adapters/rasa/handoffs``, which maps
it to a handoff package (api/adapters/rasa.py in the desk); the Idempotency-Key is the
conversation and its latest event's time, so a retried action opens one case. On success it
says what the desk answered (who is coming, how long) and pauses the conversation
(``ConversationPaused``), so the assistant stops answering while a person does; on failure it
says so and leaves the conversation with the bot.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)

PATH = "/api/v1/adapters/rasa/handoffs"
TIMEOUT_SECONDS = 10
FAILED_MESSAGE = "I'm sorry, I couldn't reach a person just now. Please try again in a few minutes."


class ActionHandoffToDesk(Action):
    def name(self) -> str:
        return "action_handoff_to_desk"

    def post(self, body: dict[str, Any], idempotency_key: str) -> tuple[int, dict[str, Any]]:
        """POST the body to the desk: (status, answer)."""
        url = os.environ["HANDOFF_DESK_URL"].rstrip("/") + PATH
        request = urllib.request.Request(  # noqa: S310 - the configured desk's https URL
            url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {os.environ['HANDOFF_DESK_KEY']}",
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        state = tracker.current_state()
        key = f"rasa:{tracker.sender_id}:{state.get('latest_event_time')}"
        try:
            status, answer = self.post(state, key)
        except (OSError, ValueError, KeyError) as error:
            logger.warning("handoff_failed sender_id=%s error=%s", tracker.sender_id, error)
            status, answer = 0, {}
        if status in (200, 201) and answer.get("customer_message"):
            dispatcher.utter_message(text=answer["customer_message"])
            return [ConversationPaused()]
        logger.warning("handoff_refused sender_id=%s status=%s", tracker.sender_id, status)
        dispatcher.utter_message(text=FAILED_MESSAGE)
        return []
