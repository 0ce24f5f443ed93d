"""One identity rule (issue 12): only a proof makes a customer proven; a claimed email reveals and
changes nothing; proof expires; every lookup is limited; references cannot be walked.

Each test plays the attacker's side of one rule against the real actions, with the smallest tracker
and a seeded SQLite store, and checks both the events (slots) and what the customer is told.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import time
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.feedback import ActionStoreFeedback
from actions.handoff import ActionHandoff, ActionTicketStatus, ValidateHandoffForm, ValidateTicketForm
from actions.sales import ActionBackInStock, ActionBuyProduct
from actions.services import access, identity, references
from actions.services.handoff import create_ticket
from actions.session import ActionSessionStart
from actions.store import db
from actions.store.models import AccessFailure, Customer, Feedback, ReturnAuthorization, Ticket
from actions.support import ActionOrderHelp, ValidateOrderVerificationForm
from tests.conftest import make_tracker

DANA = "dana@example.com"
DANA_PHONE = "+1 312 555 0199"  # seeded on her customer row
MINUTE = 60.0
PROOF_EVENT_SLOTS = {"customer_email", "verified_order", "proven_at"}


async def run(action: Any, tracker: Tracker, domain: dict[str, Any] | None = None) -> tuple[list, list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain or {})
    return events, dispatcher.messages


def user(text: str, at: float, intent: str = "inform", entities: list[dict[str, Any]] | None = None) -> dict:
    return {"event": "user", "text": text, "timestamp": at,
            "parse_data": {"intent": {"name": intent}, "text": text, "entities": entities or []}}


def proof_events(events: list[dict]) -> list[dict]:
    return [e for e in events if e.get("event") == "slot" and e.get("name") in PROOF_EVENT_SLOTS]


def dana_row() -> tuple[str | None, str | None]:
    with db.session_scope() as session:
        dana = session.scalars(select(Customer).where(Customer.email == DANA)).one()
        return dana.phone, dana.preferred_contact


def set_dana_preference(channel: str) -> None:
    with db.session_scope() as session:
        session.scalars(select(Customer).where(Customer.email == DANA)).one().preferred_contact = channel


async def stranger_opens_ticket_as_dana(sender: str = "stranger-1") -> str:
    """A stranger asks for a person and types Dana's address as the email to write to (no proof)."""
    tracker = make_tracker(slots={"contact_channel": "email", "contact_detail": DANA}, sender_id=sender,
                           intent="request_human", text="I want a person")
    events, messages = await run(ActionHandoff(), tracker)
    assert messages[0]["response"] == "utter_handoff_done"
    assert proof_events(events) == []
    return messages[0]["reference"]


# --- rule 1: only a proof makes a customer proven -----------------------------------------------


@pytest.mark.asyncio
async def test_ticket_lookup_with_a_claimed_email_shows_the_status_but_proves_nothing(store: str) -> None:
    reference = await stranger_opens_ticket_as_dana()
    # From a new conversation: reference + the email the ticket was opened with.
    lookup = make_tracker(slots={"ticket_ref": reference, "email": DANA}, intent="ticket_status",
                          sender_id="stranger-2")
    events, messages = await run(ActionTicketStatus(), lookup)
    assert [m["response"] for m in messages] == ["utter_ticket_status_open"]
    assert messages[0]["reference"] == reference and DANA not in str(messages)
    assert proof_events(events) == [] and events == []
    # Even with the email still in its slot, the purchase step knows nothing of Dana's orders:
    # the offer is the anonymous one (the promotion for the laptop asked about), never "for your ...".
    buy = make_tracker(slots={"ticket_ref": reference, "email": DANA, "customer_email": DANA},
                       intent="buy_product", entities=[{"entity": "product", "value": "Echo ANC Headphones"}],
                       sender_id="stranger-2")
    _, said = await run(ActionBuyProduct(), buy)
    assert said[0]["response"] == "utter_buy_link"
    assert all(m["response"] != "utter_offer_for_owned" for m in said)
    assert "Nimbus 14" not in str(said)
    with db.session_scope() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.reference == reference)).one()
        assert ticket.email_proven is False


@pytest.mark.asyncio
async def test_ticket_opened_after_a_proof_proves_its_owner_on_lookup(store: str) -> None:
    proven = {"customer_email": DANA, "verified_order": "10042", "proven_at": time.time(), "contact_channel": "chat"}
    _, opened = await run(ActionHandoff(), make_tracker(slots=proven, sender_id="dana-1"))
    reference = opened[0]["reference"]
    before = time.time()
    events, messages = await run(ActionTicketStatus(), make_tracker(
        slots={"ticket_ref": reference, "email": DANA}, intent="ticket_status", sender_id="dana-2"))
    assert messages[0]["response"] == "utter_ticket_status_open"
    slots = {e["name"]: e["value"] for e in proof_events(events)}
    assert slots["customer_email"] == DANA and slots["verified_order"] is None
    assert before <= slots["proven_at"] <= time.time()


def test_an_order_proof_sets_the_proof_slots_and_a_failed_one_none(store: str) -> None:
    form = ValidateOrderVerificationForm()
    dispatcher = CollectingDispatcher()
    result = form.validate_email(DANA, dispatcher, make_tracker(slots={"order_id": "10042"}), {})
    assert (result["customer_email"], result["verified_order"]) == (DANA, "10042")
    assert abs(result["proven_at"] - time.time()) < 5
    failed = form.validate_email("sam@example.com", CollectingDispatcher(), make_tracker(slots={"order_id": "10042"}),
                                 {})
    assert failed["verified_order"] is None and "customer_email" not in failed and "proven_at" not in failed


def test_proof_without_its_time_is_no_proof() -> None:
    """A hand-made tracker with the old marker slots and no proof time is not a proven customer."""
    tracker = make_tracker(slots={"customer_email": DANA, "verified_order": "10042"})
    assert identity.proven_email(tracker) is None and identity.proven_order(tracker) is None


# --- rule 3: a claimed email reveals nothing stored and changes nothing stored ------------------


@pytest.mark.asyncio
async def test_handoff_with_a_claimed_email_does_not_reveal_or_overwrite_the_stored_phone(store: str) -> None:
    set_dana_preference("phone")
    # The stranger's conversation holds Dana's address as typed (ticket form) and even the old
    # "verified" marker, but no live proof.
    claimed = {"email": DANA, "customer_email": DANA, "proven_at": time.time() - 3 * 3600}
    form = ValidateHandoffForm()
    slots = await form.required_slots(["contact_channel", "contact_detail"], CollectingDispatcher(),
                                      make_tracker(slots=claimed), {})
    assert slots == ["contact_channel", "contact_detail"]  # asked, not taken from Dana's row
    # Choosing email does not fill in the claimed address either.
    result = form.validate_contact_channel("email", CollectingDispatcher(), make_tracker(slots=claimed), {})
    assert result == {"contact_channel": "email"}
    # Skipping the form (a direct escalation): no stored phone is used or said.
    events, messages = await run(ActionHandoff(), make_tracker(slots=claimed, sender_id="stranger-3"))
    assert messages[0]["response"] == "utter_handoff_done"
    assert messages[0]["how"] == "right here in this chat" and "555" not in str(messages)
    # Typing another phone: said back, put on the ticket, Dana's row untouched.
    typed = {**claimed, "contact_channel": "phone", "contact_detail": "+44 20 7946 0000"}
    events, messages = await run(ActionHandoff(), make_tracker(slots=typed, sender_id="stranger-4"))
    assert messages[0]["how"] == "by phone at +44 20 7946 0000"
    assert dana_row() == (DANA_PHONE, "phone")
    assert proof_events(events) == []


@pytest.mark.asyncio
async def test_typed_phone_without_proof_goes_to_the_ticket_only(store: str) -> None:
    with db.session_scope() as session:
        customers_before = session.scalars(select(Customer.email)).all()
    tracker = make_tracker(slots={"contact_channel": "phone", "contact_detail": "+1 415 555 0123",
                                  "handoff_reason": "request_human"}, sender_id="anon-phone")
    _, messages = await run(ActionHandoff(), tracker)
    assert messages[0]["how"] == "by phone at +1 415 555 0123"
    with db.session_scope() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.contact_channel, ticket.contact_detail, ticket.customer_id) == ("phone", "+1 415 555 0123",
                                                                                        None)
        assert ticket.email_proven is False
        assert session.scalars(select(Customer.email)).all() == customers_before
        assert session.scalars(select(Customer).where(Customer.phone == "+1 415 555 0123")).first() is None
    assert dana_row() == (DANA_PHONE, None)


@pytest.mark.asyncio
async def test_with_proof_the_stored_preference_is_used_and_a_new_choice_stored(store: str) -> None:
    set_dana_preference("phone")
    proven = {"customer_email": DANA, "verified_order": "10042", "proven_at": time.time()}
    slots = await ValidateHandoffForm().required_slots(["contact_channel", "contact_detail"], CollectingDispatcher(),
                                                       make_tracker(slots=proven), {})
    assert slots == []
    _, messages = await run(ActionHandoff(), make_tracker(slots=proven, sender_id="dana-3"))
    assert messages[0]["how"] == f"by phone at {DANA_PHONE}"
    await run(ActionHandoff(), make_tracker(slots={**proven, "contact_channel": "chat", "handoff_reason": "billing"},
                                            sender_id="dana-4"))
    assert dana_row() == (DANA_PHONE, "chat")
    with db.session_scope() as session:
        assert all(session.scalars(select(Ticket.email_proven)).all())


@pytest.mark.asyncio
async def test_back_in_stock_and_feedback_with_a_claimed_email_link_and_reveal_nothing(store: str) -> None:
    set_dana_preference("phone")
    claimed = {"customer_email": DANA, "email": DANA, "product": "Nimbus 16 Pro Laptop"}
    # No stored preference spares the questions without proof.
    slots = await ValidateHandoffForm().required_slots(["contact_channel", "contact_detail"], CollectingDispatcher(),
                                                       make_tracker(slots=claimed), {})
    assert slots == ["contact_channel", "contact_detail"]
    answers = []
    for sender in ("bis-1", "bis-2"):  # the second asks for a contact that is already waiting
        tracker = make_tracker(slots={**claimed, "contact_channel": "phone", "contact_detail": "+1 415 555 0188"},
                               sender_id=sender)
        events, messages = await run(ActionBackInStock(), tracker)
        answers.append(messages)
        assert proof_events(events) == []
    assert answers[0] == answers[1]  # same words whether or not the contact was already waiting
    assert answers[0][0]["response"] == "utter_notify_saved"
    await run(ActionStoreFeedback(), make_tracker(slots={**claimed, "rating": "5"}, intent="give_feedback",
                                                  text="/give_feedback", sender_id="bis-1"))
    with db.session_scope() as session:
        assert session.scalars(select(Feedback.customer_id)).all() == [None]
    assert dana_row() == (DANA_PHONE, "phone")


# --- rule 2: proof expires -----------------------------------------------------------------------


def test_proof_expires_after_30_idle_minutes_and_stays_expired() -> None:
    now = time.time()
    proof = {"customer_email": DANA, "verified_order": "10042", "proven_at": now - 31 * MINUTE}
    assert identity.proven_email(make_tracker(slots=proof), now) is None
    # Active every 10 minutes for an hour: still proven.
    active = [user("ok", now - m * MINUTE) for m in (50, 40, 30, 20, 10, 0)]
    kept = {**proof, "proven_at": now - 60 * MINUTE}
    assert identity.proven_email(make_tracker(slots=kept, events=active), now) == DANA
    assert identity.proven_order(make_tracker(slots=kept, events=active), now) == "10042"
    # One 35-minute gap after the proof: expired, and later messages do not bring it back.
    gap = [user("ok", now - m * MINUTE) for m in (60, 25, 10, 0)]
    assert identity.proven_email(make_tracker(slots=kept, events=gap), now) is None


@pytest.mark.asyncio
async def test_expired_proof_shows_no_order_and_the_customer_is_asked_again(store: str) -> None:
    now = time.time()
    earlier = [user("where is my order 10042", now - 45 * MINUTE, "order_status"),
               user(DANA, now - 44 * MINUTE)]
    later = user("where is my order?", now, "order_status")
    slots = {"order_id": "10042", "email": DANA, "customer_email": DANA, "verified_order": "10042",
             "proven_at": now - 44 * MINUTE}
    tracker = make_tracker(slots=slots, intent="order_status", events=[*earlier, later])
    events, messages = await run(ActionOrderHelp(), tracker)
    assert [m["response"] for m in messages] == ["utter_offer_person_verification"]
    assert "UPS" not in str(messages) and "10042" not in str(messages)
    # The form, re-activated with the old values, does not re-prove from them: it asks again.
    form = ValidateOrderVerificationForm()
    dispatcher = CollectingDispatcher()
    assert form.validate_order_id("10042", dispatcher, tracker, {}) == {"order_id": None}
    assert form.validate_email(DANA, dispatcher, tracker, {}) == {"email": None}
    assert dispatcher.messages == []
    # Typed again now, the number is taken and the stale address dropped, so it is asked for.
    retyped = make_tracker(slots=slots, intent="inform", events=[*earlier, later, user("10042", now)])
    assert form.validate_order_id("10042", CollectingDispatcher(), retyped, {}) == {"order_id": "10042", "email": None}
    # The same goes for a ticket reference or a contact detail left from before the gap.
    stale = make_tracker(slots={"ticket_ref": "BD-12345", "contact_detail": DANA_PHONE}, events=[*earlier, later])
    assert ValidateTicketForm().validate_ticket_ref("BD-12345", CollectingDispatcher(), stale, {}) == {
        "ticket_ref": None}
    assert ValidateHandoffForm().validate_contact_detail(DANA_PHONE, CollectingDispatcher(), stale, {}) == {
        "contact_detail": None}


@pytest.mark.asyncio
@pytest.mark.parametrize("carry_over", [True, False])
async def test_a_new_session_drops_the_proof_and_keeps_the_security_counters(store: str, carry_over: bool) -> None:
    locked_at = time.time() - 60
    slots = {"customer_email": DANA, "verified_order": "10042", "proven_at": time.time(), "order_id": "10042",
             "email": DANA, "ticket_ref": "BD-12345", "contact_detail": DANA_PHONE, "contact_channel": "phone",
             "verification_failures": 3.0, "verification_locked_at": locked_at, "feeling": "mild"}
    domain = {"session_config": {"carry_over_slots_to_new_session": carry_over}}
    events, messages = await run(ActionSessionStart(), make_tracker(slots=slots, sender_id="reused"), domain)
    assert messages == []
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted("action_listen")
    carried = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    assert carried["verification_failures"] == 3.0 and carried["verification_locked_at"] == locked_at
    for dropped in ("customer_email", "verified_order", "proven_at", "order_id", "email", "ticket_ref",
                    "contact_detail"):
        assert dropped not in carried
    assert ("feeling" in carried) is carry_over
    assert DANA not in str(events) and "555" not in str(events)


# --- rule 4: guessing limits on every lookup ----------------------------------------------------


@pytest.mark.asyncio
async def test_ticket_guessing_is_locked_store_wide_from_fresh_conversations(store: str) -> None:
    reference = await stranger_opens_ticket_as_dana("owner-conv")
    # Five wrong addresses for the reference, each from a fresh conversation (no per-conversation count).
    for n in range(access.LIMIT):
        events, messages = await run(ActionTicketStatus(), make_tracker(
            slots={"ticket_ref": reference, "email": f"guess{n}@example.com"}, sender_id=f"guesser-{n}"))
        assert [m["response"] for m in messages] == ["utter_ticket_not_matched"]
        assert SlotSet("verification_failures", 1.0) in events
    # Now even the right address is refused for the cool-off, and the conversation is locked too.
    events, messages = await run(ActionTicketStatus(), make_tracker(
        slots={"ticket_ref": reference, "email": DANA}, sender_id="guesser-last"))
    assert [m["response"] for m in messages] == ["utter_verification_locked"]
    assert SlotSet("verification_failures", 3.0) in events and reference not in str(messages)
    # Walking references with one address is stopped the same way (per hashed address).
    for n in range(access.LIMIT):
        await run(ActionTicketStatus(), make_tracker(slots={"ticket_ref": f"BD-2000{n}", "email": "sam@example.com"},
                                                     sender_id=f"walker-{n}"))
    _, messages = await run(ActionTicketStatus(), make_tracker(
        slots={"ticket_ref": "BD-30000", "email": "sam@example.com"}, sender_id="walker-last"))
    assert [m["response"] for m in messages] == ["utter_verification_locked"]
    with db.session_scope() as session:
        keys = session.scalars(select(AccessFailure.key)).all()
    assert f"ticket:{reference}" in keys and not any("example.com" in key for key in keys)


# --- rule 5: references are not sequential --------------------------------------------------------


def test_ticket_and_return_references_are_random_unique_and_in_the_contract_format(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.timezone.utc)
    with db.session_scope() as session:
        refs = [create_ticket(session, conversation_id=f"c{n}", reason="request_human", customer_email=None,
                              contact_channel="chat", now=now).reference for n in range(12)]
    assert all(re.fullmatch(r"BD-[1-9][0-9]{4}", ref) for ref in refs)
    numbers = [int(ref[3:]) for ref in refs]
    assert len(set(numbers)) == len(numbers)
    steps = {b - a for a, b in itertools.pairwise(numbers)}
    assert steps != {1}  # not BD-10001, BD-10002, ...
    # A drawn number already taken is drawn again in the same transaction.
    draws = iter([numbers[0] - 10000, numbers[0] - 10000, 42, 7])
    monkeypatch.setattr(references.secrets, "randbelow", lambda _bound: next(draws))
    with db.session_scope() as session:
        again = create_ticket(session, conversation_id="c-collide", reason="request_human", customer_email=None,
                              contact_channel="chat", now=now).reference
        rma = references.new_reference(session, ReturnAuthorization.reference, "RMA-")
    assert again == "BD-10042" and again not in refs
    assert rma == "RMA-10007"
