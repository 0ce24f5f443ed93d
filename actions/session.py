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

Identity (house rule 11, :mod:`actions.services.identity`): a new session never carries over the
proof (``customer_email``, ``verified_order``, ``proven_at``) nor what was typed to prove or to be
reached (order number, email, ticket reference, contact detail), so a conversation id used again
later shows nothing without a new proof. The security counters (``verification_failures``,
``verification_locked_at``) are always carried over, even when the domain carries nothing else,
so guessing does not start again from zero.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.services import identity, slack_handoff
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
        events.extend(SlotSet(name, value) for name, value in carried_slots(tracker, domain).items())
        if live_handoff_open(tracker.sender_id):
            logger.info("session start of %s: a person owns it in Slack; the conversation stays paused",
                        tracker.sender_id)
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events


def carried_slots(tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
    """The slots the new session starts with: the security counters always; the rest when the domain
    carries slots over, except the proof and the identity inputs; never an empty value."""
    slots = {name: value for name, value in dict(tracker.slots or {}).items() if value is not None}
    dropped = set(identity.PROOF_SLOTS) | set(identity.IDENTITY_INPUT_SLOTS)
    if carries_over_slots(domain):
        return {name: value for name, value in slots.items() if name not in dropped}
    return {name: value for name, value in slots.items() if name in identity.SECURITY_SLOTS}
