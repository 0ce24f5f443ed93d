"""Escalation actions: hand the conversation to a named person with a stored ticket.

The ticket is written (and committed by the action's unit of work) before the customer is told
anything; if the store fails, :class:`~actions.common.StoreAction` tells the customer the honest
situation with the direct support contact, never a made-up reference.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.common import StoreAction
from actions.services import handoff
from actions.settings import Settings

TRANSCRIPT_TURNS = 12


def transcript_of(events: list[dict[str, Any]], turns: int = TRANSCRIPT_TURNS) -> str:
    """The last ``turns`` customer and assistant messages, one per line, oldest first."""
    lines = []
    for event in events:
        if event.get("event") in {"user", "bot"} and event.get("text"):
            who = "Customer" if event["event"] == "user" else "Assistant"
            lines.append(f"{who}: {event['text'][:1000]}")
    return "\n".join(lines[-turns:])


def escalate(
    dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, reason: str
) -> list[EventType]:
    """Store a ticket for ``reason`` and tell the customer who owns it, how and by when."""
    email = tracker.get_slot("customer_email")
    channel, detail = ("email", email) if email else ("chat", None)
    transcript = transcript_of(tracker.events)
    receipt = handoff.create_ticket(
        session,
        conversation_id=tracker.sender_id,
        reason=reason,
        customer_email=email,
        contact_channel=channel,
        contact_detail=detail,
        summary=f"{reason.replace('_', ' ')}: {(tracker.latest_message or {}).get('text', '')[:300]}",
        transcript=transcript,
        now=dt.datetime.now(dt.timezone.utc),
    )
    # The unit of work commits when the action returns; flush now so a failure surfaces here,
    # before the customer is told anything.
    session.flush()
    how = "by email" if channel == "email" else "right here in this chat"
    dispatcher.utter_message(
        response="utter_handoff_done",
        reference=receipt.reference,
        staff_name=receipt.staff_name,
        staff_role=receipt.staff_role,
        how=how,
        by_when=receipt.by_when,
    )
    return [SlotSet("handoff_offered", False), SlotSet("handoff_reason", None)]


class ActionHandoff(StoreAction):
    """Open a ticket with a named owner and a promised reply time."""

    def name(self) -> str:
        return "action_handoff"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        reason = tracker.get_slot("handoff_reason") or "request_human"
        if reason not in handoff.REASONS:
            reason = "request_human"
        return escalate(dispatcher, tracker, session, reason)


class ActionDeclineHandoff(Action):
    """The customer said no to a person: fine, carry on, and don't keep offering."""

    def name(self) -> str:
        return "action_decline_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_handoff_declined")
        return [SlotSet("handoff_offered", False), SlotSet("handoff_reason", None)]
