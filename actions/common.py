"""What every store-backed action shares: one session per call and an honest answer on failure.

:class:`StoreAction` opens exactly one store session around :meth:`StoreAction.handle`
(committed on success, rolled back on error). If the store cannot be reached or fails,
the customer hears that plainly, with the direct support contact, and the failure is
logged with the conversation id; the action never crashes the turn or stays silent.
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.services.orders import Answer
from actions.settings import Settings, get_settings
from actions.store.db import session_scope

logger = logging.getLogger(__name__)

# House rule 11: after this many failed ownership checks in a conversation, lookups stop for a
# cool-off time (the same 30 minutes as the store-wide guessing lock in services/access.py).
MAX_VERIFICATION_FAILURES = 3
VERIFICATION_COOL_OFF = dt.timedelta(minutes=30)


def failures_in_force(tracker: Tracker, now: float | None = None) -> int:
    """Failed ownership checks that still count in this conversation.

    Three failures lock lookups; the lock lasts :data:`VERIFICATION_COOL_OFF` from the failure
    that set it (slot ``verification_locked_at``, epoch seconds), after which the conversation
    starts again from zero. A lock without a known time stays in force: the safe side.
    """
    failures = int(tracker.get_slot("verification_failures") or 0)
    locked_at = tracker.get_slot("verification_locked_at")
    if failures < MAX_VERIFICATION_FAILURES or not isinstance(locked_at, int | float):
        return failures
    expired = (now or time.time()) - float(locked_at) >= VERIFICATION_COOL_OFF.total_seconds()
    return 0 if expired else failures


def lookups_locked(tracker: Tracker) -> bool:
    """True while this conversation's ownership checks are used up (house rule 11)."""
    return failures_in_force(tracker) >= MAX_VERIFICATION_FAILURES


def failure_slots(failures: int, now: float | None = None) -> dict[str, float | None]:
    """The slot values recording ``failures`` failed checks, with the lock time once locked."""
    locked_at = (now or time.time()) if failures >= MAX_VERIFICATION_FAILURES else None
    return {"verification_failures": float(failures), "verification_locked_at": locked_at}


@dataclass(frozen=True)
class UserTurn:
    """One customer message from the tracker: its intent, words and full parse data."""

    intent: str | None
    text: str
    parse_data: dict[str, Any]


def user_turns(tracker: Tracker) -> Iterator[UserTurn]:
    """The customer's messages in this conversation, newest first."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            parse = event.get("parse_data") or {}
            yield UserTurn((parse.get("intent") or {}).get("name"), event.get("text") or "", parse)


def utter(dispatcher: CollectingDispatcher, answer: Answer) -> None:
    """Utter a service answer: its response by name, with its values."""
    dispatcher.utter_message(response=answer.response, **answer.values)


def store_today(settings: Settings) -> dt.date:
    """Today's date in the store's timezone (dates promised to customers are local)."""
    return dt.datetime.now(ZoneInfo(settings.store_timezone)).date()


def utter_store_unavailable(dispatcher: CollectingDispatcher, settings: Settings) -> None:
    dispatcher.utter_message(
        response="utter_store_unavailable",
        support_email=settings.support_email,
        support_hours=settings.support_hours,
    )


class StoreAction(Action, abc.ABC):
    """Base for actions that read or write the store; subclasses implement :meth:`handle`."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        settings = get_settings()
        try:
            with session_scope() as session:
                return self.handle(dispatcher, tracker, session, settings)
        except SQLAlchemyError as exc:
            logger.error(
                "store failure in %s for conversation %s: %s",
                self.name(),
                tracker.sender_id,
                exc.__class__.__name__,
            )
            # Anything the action queued before the failure described work that was rolled back.
            dispatcher.messages.clear()
            utter_store_unavailable(dispatcher, settings)
            return []

    @abc.abstractmethod
    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        """Do the action's work inside the open unit of work; return the events."""
