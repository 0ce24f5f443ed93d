"""Escalation actions: hand the conversation to a named person with a stored ticket.

The ticket is written (and committed by the action's unit of work) before the customer is told
anything; if the store fails, :class:`~actions.common.StoreAction` tells the customer the honest
situation with the direct support contact, never a made-up reference.

Identity (house rule 11, :mod:`actions.services.identity`): only a proven customer's stored contact
preference is used or changed. A claimed address reveals nothing stored (no stored phone, no
preference) and changes nothing stored: the contact the customer types applies to this ticket only.
A ticket lookup by reference + email shows that ticket's status; it proves who is asking only when
the ticket's address was proven when the ticket was opened. Failed lookups count in the
conversation and in the store (per reference and per address).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.common import MAX_VERIFICATION_FAILURES, StoreAction, failure_slots, failures_in_force, lookups_locked
from actions.services import access, handoff, identity, orders, slack_handoff
from actions.services.business_hours import by_when_phrase
from actions.settings import Settings
from actions.store.db import session_scope

TRANSCRIPT_TURNS = 12


def transcript_of(events: list[dict[str, Any]], turns: int = TRANSCRIPT_TURNS) -> str:
    """The last ``turns`` customer and assistant messages, one per line, oldest first."""
    lines = []
    for event in events:
        if event.get("event") in {"user", "bot"} and event.get("text"):
            who = "Customer" if event["event"] == "user" else "Assistant"
            lines.append(f"{who}: {event['text'][:1000]}")
    return "\n".join(lines[-turns:])


def contact_for(session: Session, tracker: Tracker) -> tuple[str, str | None]:
    """How the customer wants to hear back: what they said in this conversation (a detail typed
    before an idle gap does not count), else, for a proven customer only, what they told us before
    (stored on the customer) or their proven address, else this chat."""
    channel = tracker.get_slot("contact_channel")
    if channel in handoff.CONTACT_CHANNELS:
        detail = identity.fresh(tracker, "contact_detail")
        if channel == "email" and detail is None:
            detail = identity.proven_email(tracker)
        return channel, (None if channel == "chat" else detail)
    email = identity.proven_email(tracker)
    stored = handoff.preferred_contact(session, email) if email else None
    if stored:
        return stored.channel, stored.detail
    return ("email", email) if email else ("chat", None)


HOW = {"email": "by email at {detail}", "phone": "by phone at {detail}", "chat": "right here in this chat"}


def escalate(
    dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, reason: str
) -> list[EventType]:
    """Store a ticket for ``reason`` and tell the customer who owns it, how and by when.

    With live handoff in Slack configured, the ticket is also posted to the staff channel as a
    thread; if that worked and the customer chose this chat, they hear that the person is joining
    this chat and the conversation is paused (``ConversationPaused``) until staff resolve it.

    Identity: the ticket belongs to the proven customer (marked ``email_proven``), else to the
    address the customer asked to be written to (not proven: it shows only this ticket's status
    later); a proven customer's choice of channel is stored for next time, anyone else's is not.
    """
    email = identity.proven_email(tracker)
    channel, detail = contact_for(session, tracker)
    if channel != "chat" and not detail:
        channel, detail = "chat", None
    receipt = handoff.create_ticket(
        session,
        conversation_id=tracker.sender_id,
        reason=reason,
        # The ticket belongs to the verified customer, else to the address they asked to be
        # written to: a status lookup later needs that same address (house rule 11).
        customer_email=email or (detail if channel == "email" else None),
        email_proven=email is not None,
        contact_channel=channel,
        contact_detail=detail,
        summary=f"{reason.replace('_', ' ')}: {(tracker.latest_message or {}).get('text', '')[:300]}",
        transcript=transcript_of(tracker.events),
        now=dt.datetime.now(dt.timezone.utc),
    )
    if email and channel in handoff.CONTACT_CHANNELS and (channel != "email" or detail == email):
        # House rule 9: what a proven customer chose is remembered for next time.
        handoff.set_preferred_contact(session, email, channel, detail)
    # The unit of work commits when the action returns; flush now so a failure surfaces here,
    # before the customer is told anything.
    session.flush()
    # Live handoff in Slack (when configured): the ticket becomes a thread in the staff channel
    # (committed first, so a Slack failure loses nothing). A customer who chose this chat then
    # talks to a person: the conversation is paused until the ticket is resolved in the thread.
    threaded = slack_handoff.share_ticket(session, receipt.reference)
    live = threaded and receipt.contact_channel == "chat"
    if live:
        dispatcher.utter_message(
            response="utter_handoff_live",
            reference=receipt.reference,
            staff_name=receipt.staff_name,
            staff_role=receipt.staff_role,
            by_when=receipt.by_when,
        )
    else:
        dispatcher.utter_message(
            response="utter_handoff_done",
            reference=receipt.reference,
            staff_name=receipt.staff_name,
            staff_role=receipt.staff_role,
            how=HOW[receipt.contact_channel].format(detail=receipt.contact_detail),
            by_when=receipt.by_when,
        )
    events: list[EventType] = [
        SlotSet("handoff_offered", False),
        SlotSet("handoff_reason", None),
        SlotSet("ticket_ref", receipt.reference),
    ]
    if live:
        events.append(ConversationPaused())
    return events


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
    """The customer said no to what was proposed (a person, a back-in-stock notice): fine, carry on."""

    def name(self) -> str:
        return "action_decline_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_handoff_declined")
        return [SlotSet("handoff_offered", False), SlotSet("handoff_reason", None), SlotSet("restock_pending", False)]


class ValidateHandoffForm(FormValidationAction):
    """How the customer wants to hear back; asks only for what is not known yet.

    Known means said in this conversation, or stored for a *proven* customer; a claimed address
    spares no question (its stored channel and phone are never used). A detail typed before an
    idle gap is asked again.
    """

    def name(self) -> str:
        return "validate_handoff_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if tracker.get_slot("contact_channel") == "chat":
            return ["contact_channel"]
        if tracker.get_slot("contact_channel") is None and self._stored_channel(tracker):
            return []
        return domain_slots

    @staticmethod
    def _stored_channel(tracker: Tracker) -> str | None:
        """The proven customer's stored contact channel, if any (None also when the store fails)."""
        email = identity.proven_email(tracker)
        if not email:
            return None
        try:
            with session_scope() as session:
                stored = handoff.preferred_contact(session, email)
        except SQLAlchemyError:
            return None
        return stored.channel if stored else None

    def validate_contact_channel(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        channel = handoff_channel(slot_value)
        if channel is None:
            dispatcher.utter_message(response="utter_invalid_contact_channel")
            return {"contact_channel": None}
        if channel == "chat":
            return {"contact_channel": "chat", "contact_detail": None}
        known = identity.proven_email(tracker) if channel == "email" else None
        if known:
            return {"contact_channel": channel, "contact_detail": known}
        return {"contact_channel": channel}

    def validate_contact_detail(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not identity.typed_recently(tracker, slot_value):
            return {"contact_detail": None}  # left from before an idle gap: ask again
        channel = tracker.get_slot("contact_channel")
        if channel == "email":
            email = orders.clean_email(slot_value)
            if email is None:
                dispatcher.utter_message(response="utter_invalid_email")
                return {"contact_detail": None}
            return {"contact_detail": email}
        phone = clean_phone(slot_value)
        if phone is None:
            dispatcher.utter_message(response="utter_invalid_phone")
            return {"contact_detail": None}
        return {"contact_detail": phone}


_CHANNEL_WORDS = {
    "email": ("email", "e-mail", "mail", "inbox"),
    "phone": ("phone", "call", "ring", "telephone", "mobile", "cell"),
    "chat": ("chat", "here", "this chat", "message", "online"),
}
_PHONE = re.compile(r"^\+?\(?[0-9][0-9 ().-]{5,22}[0-9]$")


def handoff_channel(value: Any) -> str | None:
    """"E-mail please", "call me", "here" → email / phone / chat; anything else → None."""
    text = str(value or "").strip().lower()
    for channel, words in _CHANNEL_WORDS.items():
        if any(re.search(rf"\b{re.escape(word)}\b", text) for word in words):
            return channel
    return None


def clean_phone(value: Any) -> str | None:
    """A plausible phone number (7–15 digits, usual separators), or None."""
    text = unicodedata.normalize("NFKC", str(value or "")).strip()
    digits = re.sub(r"[^0-9]", "", text)
    return text if _PHONE.match(text) and 7 <= len(digits) <= 15 else None


class ActionManagerContact(StoreAction):
    """"Who is your manager?": a name, a role and a way to reach them, and a ticket on offer."""

    def name(self) -> str:
        return "action_manager_contact"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        manager = handoff.manager_contact(session)
        if manager is None:
            dispatcher.utter_message(response="utter_no_manager", support_email=settings.support_email)
            return []
        dispatcher.utter_message(response="utter_manager_contact", name=manager.name, role=manager.role,
                                 email=manager.email)
        return [SlotSet("handoff_offered", True), SlotSet("handoff_reason", "ask_manager")]


class ValidateTicketForm(FormValidationAction):
    """Ticket reference and the email it was opened with, checked together (like orders)."""

    def name(self) -> str:
        return "validate_ticket_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """Nothing to ask once lookups are locked, or about the ticket this conversation opened."""
        if lookups_locked(tracker) or _asked_about_own_ticket(tracker) is not None:
            return []
        return domain_slots

    def validate_ticket_ref(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        reference = handoff.normalize_reference(str(slot_value or ""))
        if reference is None:
            dispatcher.utter_message(response="utter_invalid_ticket_ref")
            return {"ticket_ref": None}
        if not identity.typed_recently(tracker, reference):
            return {"ticket_ref": None}  # left from before an idle gap: ask again
        return {"ticket_ref": reference}

    def validate_email(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        email = orders.clean_email(slot_value)
        if email is None:
            dispatcher.utter_message(response="utter_invalid_email")
            return {"email": None}
        if not identity.typed_recently(tracker, email):
            return {"email": None}  # left from before an idle gap: ask again
        return {"email": email}


def _own_ticket(session: Session, tracker: Tracker) -> handoff.TicketStatus | None:
    """The ticket this conversation opened, when it is the one asked about (no other reference given)."""
    own = handoff.conversation_ticket_status(session, tracker.sender_id)
    reference = tracker.get_slot("ticket_ref")
    return own if own is not None and (not reference or reference == own.reference) else None


def _asked_about_own_ticket(tracker: Tracker) -> handoff.TicketStatus | None:
    """:func:`_own_ticket` in a session of its own; ``None`` when the store cannot be read (then the
    form asks for reference and email, and the status action reports the store problem)."""
    try:
        with session_scope() as session:
            return _own_ticket(session, tracker)
    except SQLAlchemyError:
        return None


class ActionTicketStatus(StoreAction):
    """The state of a ticket, only for the customer who owns it.

    Rules: the conversation that opened the ticket sees it without a check; anyone else gives the
    reference and the ticket's email. A failed check counts in the conversation (three lock its
    lookups) and in the store per reference and per address (:mod:`actions.services.access`), so
    guessing from fresh conversations stops too; while a key is locked nothing is looked up. A
    match shows the status; it makes the requester proven only when the ticket's address was itself
    proven when the ticket was opened, never on the strength of a typed address.
    """

    def name(self) -> str:
        return "action_ticket_status"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        failures = failures_in_force(tracker)
        if failures >= MAX_VERIFICATION_FAILURES:
            dispatcher.utter_message(response="utter_offer_person_verification")
            return [SlotSet("handoff_offered", True), SlotSet("handoff_reason", "verification_failed")]
        reference, email = tracker.get_slot("ticket_ref") or "", tracker.get_slot("email") or ""
        # A ticket this conversation opened needs no proof: the conversation is the proof of ownership.
        own = _own_ticket(session, tracker)
        if own is not None:
            utter_ticket_status(dispatcher, own, settings)
            return []
        # Only a well-formed pair is a guess worth counting store-wide (a malformed one reads nothing).
        well_formed = handoff.normalize_reference(reference) is not None and orders.clean_email(email) is not None
        keys = access.ticket_keys(reference, email) if well_formed else []
        cooling_off = access.locked(session, keys)
        status = None if cooling_off else handoff.ticket_status(session, reference, email)
        if status is None:
            if cooling_off:
                # Repeated guesses from other conversations: stop here too, and offer a person.
                failures = MAX_VERIFICATION_FAILURES
            else:
                access.record_failure(session, keys)
                failures += 1
            locked = failures >= MAX_VERIFICATION_FAILURES
            dispatcher.utter_message(response="utter_verification_locked" if locked else "utter_ticket_not_matched")
            return [SlotSet("ticket_ref", None), SlotSet("email", None),
                    *(SlotSet(slot, value) for slot, value in failure_slots(failures).items())]
        utter_ticket_status(dispatcher, status, settings)
        if status.proves_email and identity.proven_email(tracker) != status.proves_email:
            return [SlotSet(slot, value) for slot, value in identity.proof_slots(status.proves_email).items()]
        return []


def utter_ticket_status(dispatcher: CollectingDispatcher, status: handoff.TicketStatus, settings: Settings) -> None:
    """Say a ticket's status: its state, owner and promised time (nothing about the customer)."""
    dispatcher.utter_message(response=f"utter_ticket_status_{status.status}", **ticket_status_values(status, settings))


def ticket_status_values(status: handoff.TicketStatus, settings: Settings) -> dict[str, str]:
    """Template values for a ticket status answer."""
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "reference": status.reference,
        "owner": f"{status.owner_name}, our {status.owner_role}" if status.owner_name else "our support team",
        "by_when": by_when_phrase(status.promised_by, now, settings.store_timezone) if status.promised_by else "",
    }
