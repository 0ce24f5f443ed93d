"""Service actions: acknowledge first, verify ownership, then fix what can be fixed from the store.

Flow: a service intent runs ``action_acknowledge`` (an acknowledgment only when the message carries
a problem or a negative feeling), then ``order_verification_form`` (order number + email, checked
together), then ``action_order_help``, which answers the task the customer asked for.
"""

from __future__ import annotations

import itertools
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.common import (
    MAX_VERIFICATION_FAILURES,
    StoreAction,
    failure_slots,
    failures_in_force,
    lookups_locked,
    store_today,
    user_turns,
    utter,
    utter_store_unavailable,
)
from actions.handoff import escalate
from actions.sales import make_offer
from actions.services import access, feelings, identity, orders, policies
from actions.settings import Settings, get_settings
from actions.store.db import session_scope

# Answers after which the customer's question is settled (an offer may follow).
RESOLVED = {
    "utter_order_status_processing",
    "utter_order_status_shipped",
    "utter_order_status_late",
    "utter_order_status_delivered",
    "utter_return_created",
}
ORDER_TASKS = ("order_status", "return_item", "cancel_order", "report_problem", "billing_issue")
# Button titles for the topics a misunderstood message most likely meant.
TOPIC_BUTTONS = {
    "order_status": ("Where is my order?", "/order_status"),
    "return_item": ("Return an item", "/return_item"),
    "cancel_order": ("Cancel an order", "/cancel_order"),
    "report_problem": ("Something arrived damaged or wrong", "/report_problem"),
    "billing_issue": ("A billing question", "/billing_issue"),
    "tech_support": ("A product isn't working", "/tech_support"),
    "check_price": ("Prices and stock", "/check_price"),
    "faq": ("Shipping, returns and payment", "/faq"),
    "request_human": ("Talk to a person", "/request_human"),
}


def _order_request(tracker: Tracker) -> tuple[str | None, str]:
    """The order task the customer last asked for, and the words they asked with.

    The form's turns in between (order number, email) carry no task, so this looks back past them.
    """
    task = next((turn for turn in user_turns(tracker) if turn.intent in ORDER_TASKS), None)
    return (task.intent, task.text) if task else (None, "")


class ActionAcknowledge(Action):
    """Acknowledge a problem or a negative feeling before anything else is done."""

    def name(self) -> str:
        return "action_acknowledge"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        current = feelings.FeelingRead.from_parse_data(message)
        earlier = list(itertools.islice(user_turns(tracker), 1, 2))
        previous = feelings.FeelingRead.from_parse_data(earlier[0].parse_data) if earlier else None
        response = feelings.acknowledgment(intent, message.get("text") or "", current)
        if response:
            dispatcher.utter_message(response=response)
        events: list[EventType] = [SlotSet("feeling", current.label)]
        if intent in {"request_human", "ask_manager"}:
            return events
        if feelings.mentions_legal(message.get("text") or ""):
            dispatcher.utter_message(response="utter_offer_person_legal")
            events.append(SlotSet("handoff_reason", "legal"))
        elif feelings.wants_person(current, previous):
            dispatcher.utter_message(response="utter_offer_person_now")
            events.append(SlotSet("handoff_reason", "frustration"))
        return events


class ValidateOrderVerificationForm(FormValidationAction):
    """Order number and email, checked together; three failed checks stop the lookups.

    A successful check is the proof of who the customer is (:mod:`actions.services.identity`): it
    sets ``customer_email``, ``verified_order`` and ``proven_at``. Failed checks count in the
    conversation and in the store (per order number and per address). A number or address typed
    before an idle gap is not reused: the customer is asked again.
    """

    def name(self) -> str:
        return "validate_order_verification_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if lookups_locked(tracker):
            return []
        return domain_slots

    def _check(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, number: str, email: str
    ) -> dict[str, Any]:
        keys = access.order_keys(number, email)
        try:
            with session_scope() as session:
                cooling_off = access.locked(session, keys)
                owned = not cooling_off and orders.verify_order(session, number, email)
                greeting = orders.verified_greeting(session, number) if owned else None
                if not owned and not cooling_off:
                    access.record_failure(session, keys)
        except SQLAlchemyError:
            utter_store_unavailable(dispatcher, get_settings())
            return {"order_id": None, "email": None, "requested_slot": None}
        if greeting:
            if identity.proven_email(tracker) != email:
                utter(dispatcher, greeting)
            return {"order_id": number, "email": email, **identity.proof_slots(email, number)}
        failures = failures_in_force(tracker) + 1
        if cooling_off:
            # Repeated guesses from other conversations: stop here too, and offer a person.
            failures = MAX_VERIFICATION_FAILURES
        if failures >= MAX_VERIFICATION_FAILURES:
            dispatcher.utter_message(response="utter_verification_locked")
        else:
            dispatcher.utter_message(response="utter_verification_failed")
        return {"order_id": None, "email": None, "verified_order": None, **failure_slots(failures)}

    def validate_order_id(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        number = orders.clean_order_number(slot_value)
        if number is None:
            dispatcher.utter_message(response="utter_invalid_order_id")
            return {"order_id": None}
        if not identity.typed_recently(tracker, number):
            return {"order_id": None}  # left from before an idle gap: ask again
        if identity.proven_order(tracker) == number:
            return {"order_id": number}
        email = orders.clean_email(identity.fresh(tracker, "email"))
        if email is None:
            # An address typed before an idle gap is dropped, so the form asks for it again.
            return {"order_id": number, **_dropped(tracker, "email")}
        return self._check(dispatcher, tracker, number, email)

    def validate_email(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        email = orders.clean_email(slot_value)
        if email is None:
            dispatcher.utter_message(response="utter_invalid_email")
            return {"email": None}
        if not identity.typed_recently(tracker, email):
            return {"email": None}  # left from before an idle gap: ask again
        number = orders.clean_order_number(identity.fresh(tracker, "order_id"))
        if number is None:
            # A number typed before an idle gap is dropped, so the form asks for it again.
            return {"email": email, **_dropped(tracker, "order_id")}
        return self._check(dispatcher, tracker, number, email)


def _dropped(tracker: Tracker, slot: str) -> dict[str, Any]:
    """``{slot: None}`` when the slot holds a value typed before an idle gap, else nothing."""
    value = tracker.get_slot(slot)
    return {slot: None} if value is not None and not identity.typed_recently(tracker, value) else {}


class ActionOrderHelp(StoreAction):
    """Answer the order task the customer asked for, once ownership is proven."""

    def name(self) -> str:
        return "action_order_help"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        number = identity.proven_order(tracker)
        if lookups_locked(tracker) or not number:
            dispatcher.utter_message(response="utter_offer_person_verification")
            return [SlotSet("handoff_offered", True), SlotSet("handoff_reason", "verification_failed")]
        task, text = _order_request(tracker)
        task = task or "order_status"
        today = store_today(settings)
        events: list[EventType] = []
        if task == "return_item":
            answer = orders.start_return(session, number, today, tracker.sender_id)
        elif task == "cancel_order":
            answer = orders.cancel_order(session, number)
        elif task == "report_problem":
            answer = orders.report_problem(session, number, text, today, tracker.sender_id)
        elif task == "billing_issue":
            answer = orders.billing_summary(session, number)
            if orders.is_double_charge(text):
                utter(dispatcher, answer)
                dispatcher.utter_message(response="utter_double_charge_needs_billing")
                return escalate(dispatcher, tracker, session, "double_charge")
        else:
            answer = orders.order_status(session, number, today)
        utter(dispatcher, answer)
        if answer.response in {"utter_return_outside_window", "utter_problem_outside_window"}:
            return [SlotSet("handoff_offered", True), SlotSet("handoff_reason", "policy_limit")]
        if answer.response in RESOLVED:
            # House rule 6: the problem is settled, so one relevant offer may follow.
            events += make_offer(dispatcher, tracker, session, settings)
        return events


class ActionAnswerPolicy(StoreAction):
    """Shipping, returns, payment, warranty and hours, quoted from the store's policies."""

    def name(self) -> str:
        return "action_answer_policy"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        utter(dispatcher, policies.policy_answer(session, (tracker.latest_message or {}).get("text") or ""))
        return []


class ActionTroubleshootingFailed(Action):
    """The suggested fix did not work: say so and hand over to a person (no second guess)."""

    def name(self) -> str:
        return "action_troubleshooting_failed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_troubleshooting_failed")
        return [SlotSet("handoff_reason", "tech_support_unresolved")]


MISUNDERSTOOD = {"nlu_fallback", "out_of_scope"}


class ActionHandleMisunderstanding(Action):
    """A message the assistant cannot act on: a low-confidence guess or something out of scope.

    First time: say so plainly (out of scope) or ask to rephrase, with the likely topics as buttons.
    Second time in a row, and after: offer a person instead of another round. The count comes from
    the tracker (consecutive such turns), so no slot can drift out of step.
    """

    def name(self) -> str:
        return "action_handle_misunderstanding"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        misses = sum(1 for _ in itertools.takewhile(lambda turn: turn.intent in MISUNDERSTOOD, user_turns(tracker)))
        if misses >= 2:
            dispatcher.utter_message(response="utter_offer_person_misunderstanding")
            return [SlotSet("handoff_offered", True), SlotSet("handoff_reason", "repeated_misunderstanding")]
        latest = tracker.latest_message or {}
        ranking = latest.get("intent_ranking") or []
        likely = [r.get("name") for r in ranking if r.get("name") in TOPIC_BUTTONS][:3]
        for fallback_topic in ("order_status", "check_price", "request_human"):
            if len(likely) >= 3:
                break
            if fallback_topic not in likely:
                likely.append(fallback_topic)
        buttons = [{"title": TOPIC_BUTTONS[name][0], "payload": TOPIC_BUTTONS[name][1]} for name in likely]
        out_of_scope = (latest.get("intent") or {}).get("name") == "out_of_scope"
        response = "utter_out_of_scope" if out_of_scope else "utter_please_rephrase"
        dispatcher.utter_message(response=response, buttons=buttons)
        return []
