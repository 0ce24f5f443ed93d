"""Session start that keeps a live handoff paused.

Rasa starts a new session when a conversation has been idle longer than
``session_config.session_expiration_time``, and a new session un-pauses the conversation
(shared/DESIGN.md §5). Without this action a customer who wrote again after an hour, while a
person still owns their ticket in Slack, would get the assistant back in the middle of the
handoff, and the assistant and the person would both answer.

This is the action server's version of Rasa's own ``ActionSessionStart`` (a rasa-core class that
cannot run on the action server): it returns the same events (``session_started``, the slots carried
over when the domain says so, ``action_listen``), and, when the conversation has an open ticket being
answered live in Slack (:func:`actions.services.slack_handoff.is_live`), ``pause`` right after the
slots. Rules: without Slack settings it never pauses; if the store cannot be read the session still
starts (unpaused, logged), because a conversation that cannot start is worse than one that is not
paused.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.services import slack_handoff
from actions.store.db import session_scope

logger = logging.getLogger(__name__)


def carries_over_slots(domain: DomainDict) -> bool:
    """``session_config.carry_over_slots_to_new_session`` of the domain (Rasa's default: true)."""
    config = domain.get("session_config") or {}
    return bool(config.get("carry_over_slots_to_new_session", True))


def live_handoff_open(conversation_id: str) -> bool:
    """Whether a person is answering ``conversation_id`` live in Slack right now."""
    if slack_handoff.live_settings() is None:
        return False
    try:
        with session_scope() as session:
            return slack_handoff.is_live(slack_handoff.open_thread_for_conversation(session, conversation_id))
    except SQLAlchemyError as exc:
        logger.error("session start of %s: store unreadable (%s); not re-pausing", conversation_id,
                     exc.__class__.__name__)
        return False


class ActionSessionStart(Action):
    """``action_session_start``: Rasa's session start, re-pausing a conversation in live handoff."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        if carries_over_slots(domain):
            events.extend(SlotSet(name, value) for name, value in _slots(tracker).items() if value is not None)
        if live_handoff_open(tracker.sender_id):
            logger.info("session start of %s: a person owns it in Slack; the conversation stays paused",
                        tracker.sender_id)
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events


def _slots(tracker: Tracker) -> dict[str, Any]:
    return dict(tracker.slots or {})
