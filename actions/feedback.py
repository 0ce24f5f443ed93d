"""Feedback actions: ask for a 1–5 rating at the end, store it, turn a low rating with a comment
into a ticket for a person (house rules 4 and 10)."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import StoreAction
from actions.handoff import escalate
from actions.services import feedback, identity
from actions.settings import Settings


class ActionStoreFeedback(StoreAction):
    """Store the rating (and comment); a low rating with a comment goes to a person as a ticket.

    The rating is linked to a customer only when the customer is proven (a claimed address links nothing).
    """

    def name(self) -> str:
        return "action_store_feedback"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        text = (tracker.latest_message or {}).get("text") or ""
        rating = feedback.clean_rating(tracker.get_slot("rating")) or feedback.leading_rating(text)
        result = feedback.record_feedback(
            session, tracker.sender_id, identity.proven_email(tracker), rating,
            feedback.comment_of(text, rating) if not text.startswith("/") else None,
        )
        done = [SlotSet("rating", None), SlotSet("feedback_pending", False)]
        if result is None:
            dispatcher.utter_message(response="utter_ask_rating")
            return done
        if result.low and result.has_comment:
            dispatcher.utter_message(response="utter_feedback_low_ticket")
            return [*done, *escalate(dispatcher, tracker, session, "low_rating")]
        if result.low:
            dispatcher.utter_message(response="utter_feedback_low_ask_why")
            return [SlotSet("rating", None), SlotSet("feedback_pending", True)]
        dispatcher.utter_message(response="utter_feedback_thanks")
        return done
