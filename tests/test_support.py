"""Service actions: acknowledgment first, ownership checks, honest answers from the store."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from actions.common import VERIFICATION_COOL_OFF
from actions.handoff import ActionHandoff
from actions.services import feelings
from actions.services.policies import topic_of
from actions.store import db
from actions.store.models import AccessFailure, Order, OrderStatus, ReturnAuthorization, Ticket
from actions.support import (
    ActionAcknowledge,
    ActionAnswerPolicy,
    ActionHandleMisunderstanding,
    ActionOrderHelp,
    ValidateOrderVerificationForm,
)
from tests.conftest import make_tracker, store_checksum
from tests.test_domain import DOMAIN as FULL_DOMAIN

DOMAIN: dict[str, Any] = {"forms": {"order_verification_form": {"required_slots": ["order_id", "email"]}}}


def user(text: str, intent: str, feeling: str = "neutral", score: float = 0.0) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent}, "text": text, "feeling": {"label": feeling, "score": score}},
    }


def tracker_for(text: str, intent: str, feeling: str = "neutral", score: float = 0.0, slots=None, events=None):
    tracker = make_tracker(slots=slots, intent=intent, text=text, events=(events or []) + [user(text, intent, feeling,
                                                                                               score)])
    tracker.latest_message["feeling"] = {"label": feeling, "score": score}
    return tracker


async def run(action, tracker) -> tuple[list, list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return events, dispatcher.messages


# --- acknowledgment -----------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_neutral_request_gets_no_acknowledgment() -> None:
    events, messages = await run(ActionAcknowledge(), tracker_for("where is order 10042?", "order_status"))
    assert messages == []
    assert events == [SlotSet("feeling", "neutral")]


@pytest.mark.asyncio
async def test_angry_late_order_is_acknowledged_for_what_happened() -> None:
    tracker = tracker_for("my order 10042 still hasn't arrived and I'm really annoyed", "order_status", "strong", 0.6)
    events, messages = await run(ActionAcknowledge(), tracker)
    assert [m["response"] for m in messages] == ["utter_ack_late_delivery_strong"]
    assert SlotSet("feeling", "strong") in events


@pytest.mark.parametrize(
    ("text", "intent", "label", "expected"),
    [
        ("you charged me twice", "billing_issue", "mild", "utter_ack_double_charge_mild"),
        ("I'm furious, you charged me twice", "billing_issue", "strong", "utter_ack_double_charge_strong"),
        ("the screen arrived cracked", "report_problem", "neutral", "utter_ack_damaged_mild"),
        ("you sent the wrong monitor", "report_problem", "neutral", "utter_ack_item_problem_mild"),
        ("my mouse isn't working", "tech_support", "mild", "utter_ack_not_working_mild"),
        ("this is unacceptable", "complain", "strong", "utter_ack_complaint_strong"),
        ("how much is the dock, I'm so annoyed", "check_price", "mild", "utter_ack_general_mild"),
        ("I need an invoice", "billing_issue", "neutral", None),
        ("I'd like to return my headphones", "return_item", "neutral", None),
    ],
)
def test_acknowledgment_fits_issue_and_intensity(text: str, intent: str, label: str, expected: str | None) -> None:
    assert feelings.acknowledgment(intent, text, feelings.FeelingRead(label=label)) == expected


@pytest.mark.asyncio
async def test_extreme_frustration_offers_a_person_after_the_acknowledgment() -> None:
    tracker = tracker_for("I'm FURIOUS, third time I'm writing!!!", "complain", "extreme", 0.9)
    events, messages = await run(ActionAcknowledge(), tracker)
    assert [m["response"] for m in messages] == ["utter_ack_complaint_strong", "utter_offer_person_now"]
    assert SlotSet("handoff_reason", "frustration") in events


@pytest.mark.asyncio
async def test_legal_threat_goes_to_a_person_with_reason_legal() -> None:
    tracker = tracker_for("fix this or I'm talking to my lawyer", "complain", "strong", 0.6)
    events, messages = await run(ActionAcknowledge(), tracker)
    assert [m["response"] for m in messages] == ["utter_ack_complaint_strong", "utter_offer_person_legal"]
    assert SlotSet("handoff_reason", "legal") in events


@pytest.mark.asyncio
async def test_strong_frustration_two_turns_running_offers_a_person() -> None:
    earlier = [user("my order is late and I'm really annoyed", "order_status", "strong", 0.6)]
    tracker = tracker_for("this is ridiculous, still nothing", "complain", "strong", 0.6, events=earlier)
    _, messages = await run(ActionAcknowledge(), tracker)
    assert messages[-1]["response"] == "utter_offer_person_now"


# --- verification ------------------------------------------------------------------------------

def validate(slot: str, value: Any, slots: dict | None = None):
    form = ValidateOrderVerificationForm()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots=slots or {}, intent="inform", text=str(value))
    result = getattr(form, f"validate_{slot}")(value, dispatcher, tracker, DOMAIN)
    return result, [m["response"] for m in dispatcher.messages]


@pytest.mark.parametrize("value", ["1004", "abc", "10042; DROP TABLE orders;--", "' OR 1=1 --", "", "٣١٠٠٤"])
def test_malformed_order_numbers_get_a_specific_message(store: str, value: str) -> None:
    assert validate("order_id", value) == ({"order_id": None}, ["utter_invalid_order_id"])


@pytest.mark.parametrize("value", ["dana", "dana@", "<script>@x.com", "a@b", "dana@example.com' --"])
def test_malformed_emails_get_a_specific_message(store: str, value: str) -> None:
    assert validate("email", value, {"order_id": "10042"}) == ({"email": None}, ["utter_invalid_email"])


def test_full_width_digits_are_read_as_an_order_number(store: str) -> None:
    assert validate("order_id", "＃１００４２") == ({"order_id": "10042"}, [])


def test_matching_order_and_email_verify(store: str) -> None:
    result, messages = validate("email", "Dana@Example.com", {"order_id": "10042"})
    assert messages == ["utter_verified_returning"]  # Dana has ordered before: greeted by name
    proven_at = result.pop("proven_at")
    assert result == {
        "order_id": "10042",
        "email": "dana@example.com",
        "verified_order": "10042",
        "customer_email": "dana@example.com",
    }
    assert time.time() - 5 <= proven_at <= time.time()  # the proof's time: it expires after 30 idle minutes


def test_new_customer_is_greeted_by_name_without_welcome_back(store: str) -> None:
    form = ValidateOrderVerificationForm()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"order_id": "10061"}, intent="inform")
    form.validate_email("sam@example.com", dispatcher, tracker, DOMAIN)
    assert dispatcher.messages[0]["response"] == "utter_verified_named"
    assert dispatcher.messages[0]["name"] == "Sam"


@pytest.mark.parametrize(("number", "email"), [("10042", "sam@example.com"), ("99999", "dana@example.com")])
def test_wrong_email_and_unknown_order_look_the_same(store: str, number: str, email: str) -> None:
    result, messages = validate("email", email, {"order_id": number})
    assert messages == ["utter_verification_failed"]
    assert result == {"order_id": None, "email": None, "verified_order": None, "verification_failures": 1.0,
                      "verification_locked_at": None}


def test_third_failure_locks_lookups_for_the_cool_off_time(store: str) -> None:
    before = time.time()
    result, messages = validate("email", "sam@example.com", {"order_id": "10042", "verification_failures": 2.0})
    assert messages == ["utter_verification_locked"]
    assert result["verification_failures"] == 3.0
    assert before <= result["verification_locked_at"] <= time.time()
    minutes = int(VERIFICATION_COOL_OFF.total_seconds() // 60)
    assert f"for {minutes} minutes" in FULL_DOMAIN["responses"]["utter_verification_locked"][0]["text"]


@pytest.mark.asyncio
async def test_the_lock_holds_during_the_cool_off_and_lifts_after_it(store: str) -> None:
    form = ValidateOrderVerificationForm()
    cool_off = VERIFICATION_COOL_OFF.total_seconds()
    locked = {"verification_failures": 3.0, "verification_locked_at": time.time() - cool_off + 60}
    assert await form.required_slots(["order_id", "email"], CollectingDispatcher(), make_tracker(slots=locked),
                                     DOMAIN) == []
    lifted = {"verification_failures": 3.0, "verification_locked_at": time.time() - cool_off - 1}
    assert await form.required_slots(["order_id", "email"], CollectingDispatcher(), make_tracker(slots=lifted),
                                     DOMAIN) == ["order_id", "email"]
    # After the cool-off a wrong guess counts from zero again, and the owner gets through.
    result, messages = validate("email", "sam@example.com", {"order_id": "10042", **lifted})
    assert messages == ["utter_verification_failed"]
    assert (result["verification_failures"], result["verification_locked_at"]) == (1.0, None)
    result, messages = validate("email", "dana@example.com", {"order_id": "10042", **lifted})
    assert result["verified_order"] == "10042"


def test_guessing_across_conversations_is_stopped(store: str) -> None:
    # Each guess comes from a fresh conversation (no per-conversation counter to hit)...
    for guess in ["a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"]:
        _, messages = validate("email", guess, {"order_id": "10042"})
        assert messages == ["utter_verification_failed"]
    # ...and still the right address no longer unlocks order 10042 during the cool-off.
    result, messages = validate("email", "dana@example.com", {"order_id": "10042"})
    assert messages == ["utter_verification_locked"]
    assert result["verified_order"] is None
    # Another customer's order is not affected.
    _, messages = validate("email", "sam@example.com", {"order_id": "10061"})
    assert messages == ["utter_verified_named"]


def test_failed_checks_store_no_address_in_clear(store: str) -> None:
    validate("email", "someone@example.com", {"order_id": "10042"})
    with db.session_scope(store) as session:
        keys = session.scalars(select(AccessFailure.key)).all()
    assert "order:10042" in keys
    assert not any("someone" in key for key in keys)


@pytest.mark.asyncio
async def test_locked_form_asks_for_nothing_more(store: str) -> None:
    form = ValidateOrderVerificationForm()
    tracker = make_tracker(slots={"verification_failures": 3.0})
    assert await form.required_slots(["order_id", "email"], CollectingDispatcher(), tracker, DOMAIN) == []


# --- order help --------------------------------------------------------------------------------

OWNERS = {"10042": "dana@example.com", "10031": "dana@example.com", "10061": "sam@example.com"}


def proven(number: str | None) -> dict[str, Any]:
    """The slots of a conversation that has just proven ``number`` with its owner's address (no
    offer pending, so each test sees only the order answer: offers are tested in test_sales.py)."""
    if number is None:
        return {"verified_order": None}
    return {"verified_order": number, "customer_email": OWNERS[number], "proven_at": time.time(), "offer_made": True}


def help_tracker(intent: str, text: str, number: str | None, **slots: Any):
    events = [user(text, intent), user(number or "", "inform")]
    return make_tracker(slots={**proven(number), **slots}, intent="inform", events=events)


@pytest.mark.asyncio
async def test_late_order_gets_the_honest_new_estimate(store: str) -> None:
    _, messages = await run(ActionOrderHelp(), help_tracker("order_status", "where is my order", "10042"))
    [message] = messages
    assert message["response"] == "utter_order_status_late"
    assert message["carrier"] == "UPS"
    assert message["estimated"] == "Wednesday, November 25"
    assert message["promised"] == "Friday, November 20"
    assert "regional hub" in message["delay_reason"]
    assert "replacement" in message["late_policy"]


@pytest.mark.asyncio
async def test_cancel_processing_order_cancels_it(store: str) -> None:
    _, messages = await run(ActionOrderHelp(), help_tracker("cancel_order", "cancel my order", "10061"))
    assert messages[0]["response"] == "utter_cancel_done"
    assert messages[0]["amount"] == "$429.00"
    with db.session_scope(store) as session:
        assert session.scalars(select(Order.status).where(Order.number == "10061")).one() is OrderStatus.cancelled


@pytest.mark.asyncio
async def test_cancel_after_shipping_says_why_and_the_alternative(store: str) -> None:
    _, messages = await run(ActionOrderHelp(), help_tracker("cancel_order", "cancel it", "10042"))
    assert messages[0]["response"] == "utter_cancel_too_late_shipped"
    with db.session_scope(store) as session:
        assert session.scalars(select(Order.status).where(Order.number == "10042")).one() is OrderStatus.shipped


@pytest.mark.asyncio
async def test_return_inside_window_is_stored_with_a_reference(store: str) -> None:
    _, messages = await run(ActionOrderHelp(), help_tracker("return_item", "return my headphones", "10031"))
    assert messages[0]["response"] == "utter_return_created"
    assert messages[0]["deadline"] == "Thursday, December 3"
    with db.session_scope(store) as session:
        case = session.scalars(select(ReturnAuthorization)).one()
        assert case.reference == messages[0]["reference"]
        assert re.fullmatch(r"RMA-[1-9][0-9]{4}", case.reference)  # random, not sequential
        assert (case.order.number, case.kind, case.resolution) == ("10031", "return", "refund")
    # Asking again does not open a second case.
    _, again = await run(ActionOrderHelp(), help_tracker("return_item", "return my headphones", "10031"))
    assert again[0]["response"] == "utter_return_already_open"


@pytest.mark.asyncio
async def test_damage_reported_after_the_window_offers_a_person(store: str) -> None:
    events, messages = await run(ActionOrderHelp(), help_tracker("report_problem", "it arrived broken", "10031"))
    assert messages[0]["response"] == "utter_problem_outside_window"
    assert SlotSet("handoff_offered", True) in events and SlotSet("handoff_reason", "policy_limit") in events


@pytest.mark.asyncio
async def test_double_charge_opens_a_billing_ticket_before_saying_so(store: str) -> None:
    events, messages = await run(ActionOrderHelp(), help_tracker(
        "billing_issue", "you charged me twice", "10042", customer_email="dana@example.com"))
    assert [m["response"] for m in messages] == ["utter_invoice", "utter_double_charge_needs_billing",
                                                 "utter_handoff_done"]
    with db.session_scope(store) as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.reference == messages[-1]["reference"]
        assert ticket.reason == "double_charge"
        assert ticket.staff.name == messages[-1]["staff_name"]
        assert "billing" in ticket.staff.skills


@pytest.mark.asyncio
async def test_unverified_or_locked_offers_a_person(store: str) -> None:
    events, messages = await run(ActionOrderHelp(), help_tracker("order_status", "where is it", None,
                                                                 verification_failures=3.0))
    assert [m["response"] for m in messages] == ["utter_offer_person_verification"]
    assert SlotSet("handoff_reason", "verification_failed") in events


# --- policies, misunderstandings, handoff ------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "key"),
    [("how long does delivery take?", "shipping"), ("what's your return policy", "returns"),
     ("can I pay with PayPal?", "payment"), ("is there a warranty", "warranty"), ("when are you open", "hours"),
     ("how do I cancel", "cancellation"), ("tell me something", None)],
)
def test_policy_topics(text: str, key: str | None) -> None:
    assert topic_of(text) == key


@pytest.mark.asyncio
async def test_policy_answer_quotes_the_store(store: str) -> None:
    _, messages = await run(ActionAnswerPolicy(), tracker_for("what's your return policy?", "faq"))
    assert messages[0]["response"] == "utter_policy"
    assert "30 days" in messages[0]["policy"]


@pytest.mark.asyncio
async def test_first_miss_asks_to_rephrase_with_topics() -> None:
    tracker = tracker_for("blorp", "nlu_fallback")
    tracker.latest_message["intent_ranking"] = [{"name": "nlu_fallback"}, {"name": "return_item"}, {"name": "greet"}]
    events, messages = await run(ActionHandleMisunderstanding(), tracker)
    assert events == []
    assert messages[0]["response"] == "utter_please_rephrase"
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/return_item", "/order_status", "/check_price"]


@pytest.mark.asyncio
async def test_out_of_scope_is_said_plainly_with_what_we_can_do() -> None:
    events, messages = await run(ActionHandleMisunderstanding(), tracker_for("tell me a joke", "out_of_scope"))
    assert events == []
    assert messages[0]["response"] == "utter_out_of_scope" and messages[0]["buttons"]


@pytest.mark.asyncio
async def test_out_of_scope_then_nonsense_offers_a_person() -> None:
    tracker = tracker_for("zzz", "nlu_fallback", events=[user("tell me a joke", "out_of_scope")])
    _, messages = await run(ActionHandleMisunderstanding(), tracker)
    assert [m["response"] for m in messages] == ["utter_offer_person_misunderstanding"]


@pytest.mark.asyncio
async def test_second_miss_in_a_row_offers_a_person() -> None:
    tracker = tracker_for("zzz", "nlu_fallback", events=[user("blorp", "nlu_fallback")])
    events, messages = await run(ActionHandleMisunderstanding(), tracker)
    assert [m["response"] for m in messages] == ["utter_offer_person_misunderstanding"]
    assert SlotSet("handoff_offered", True) in events


@pytest.mark.asyncio
async def test_misses_separated_by_an_understood_message_do_not_add_up() -> None:
    earlier = [user("blorp", "nlu_fallback"), user("hi", "greet")]
    _, messages = await run(ActionHandleMisunderstanding(), tracker_for("zzz", "nlu_fallback", events=earlier))
    assert messages[0]["response"] == "utter_please_rephrase"


@pytest.mark.asyncio
async def test_handoff_stores_the_ticket_then_names_the_owner(store: str) -> None:
    tracker = tracker_for("I want to talk to a person", "request_human")
    events, messages = await run(ActionHandoff(), tracker)
    [message] = messages
    assert message["response"] == "utter_handoff_done"
    assert message["reference"].startswith("BD-")
    assert message["staff_name"] in {"Priya Shah", "Marcus Lee"}
    with db.session_scope(store) as session:
        assert session.scalar(select(func.count(Ticket.id))) == 1
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.reason == "request_human" and "I want to talk to a person" in ticket.transcript


# --- store faults: the commit fails (database locked) --------------------------------------------

def database_locked() -> OperationalError:
    """What SQLAlchemy raises when SQLite cannot commit because another writer holds the file."""
    return OperationalError("COMMIT", None, sqlite3.OperationalError("database is locked"))


@contextmanager
def failing_commits(refuse: Callable[[Session], None]) -> Iterator[None]:
    """Every store session opened inside the block runs ``refuse`` at commit (the action's own
    session included), like the commit-failure test of tickets in tests/test_handoff.py."""
    event.listen(Session, "before_commit", refuse)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", refuse)


def order_status_of(store: str, number: str) -> OrderStatus:
    with db.session_scope(store) as session:
        return session.scalars(select(Order.status).where(Order.number == number)).one()


def faulty_help_tracker(intent: str, text: str, number: str, sender_id: str, **slots: Any):
    events = [user(text, intent), user(number, "inform")]
    return make_tracker(slots={**proven(number), **slots}, intent="inform", events=events,
                        sender_id=sender_id)


@pytest.mark.asyncio
async def test_return_is_not_promised_when_the_store_cannot_commit_it(
    store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 8, store faults: a return whose commit fails ("database is locked") is not announced
    (no RMA reference, no offer); the customer hears the honest store-unavailable answer with the
    direct contact; nothing is left written (no return row, order unchanged, every table as it
    was); the log names the conversation and the action, and holds no e-mail address."""

    def refuse(session: Session) -> None:
        # The return really was written inside the transaction before the commit failed.
        assert session.scalars(select(ReturnAuthorization)).all(), "the action wrote nothing"
        raise database_locked()

    before = store_checksum(store)
    tracker = faulty_help_tracker("return_item", "return my headphones", "10031", "conv-rma-locked-7",
                                  customer_email="dana@example.com")
    with caplog.at_level(logging.ERROR, logger="actions.common"), failing_commits(refuse):
        events, messages = await run(ActionOrderHelp(), tracker)
    assert events == []
    [message] = messages
    assert message["response"] == "utter_store_unavailable" and message["text"] is None
    assert message["support_email"] == "support@brightdesk.example" and message["support_hours"]
    assert store_checksum(store) == before
    with db.session_scope(store) as session:
        assert session.scalar(select(func.count(ReturnAuthorization.id))) == 0
    assert order_status_of(store, "10031") is OrderStatus.delivered
    [record] = [r for r in caplog.records if r.name == "actions.common"]
    assert record.levelno == logging.ERROR
    assert "conv-rma-locked-7" in record.getMessage() and "action_order_help" in record.getMessage()
    assert "OperationalError" in record.getMessage() and "dana@example.com" not in caplog.text
    # Once the store commits again, the same request opens the return: nothing was half-done.
    _, retry = await run(ActionOrderHelp(), tracker)
    assert retry[0]["response"] == "utter_return_created" and retry[0]["reference"].startswith("RMA-")


@pytest.mark.asyncio
async def test_cancellation_is_not_confirmed_when_the_store_cannot_commit_it(
    store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 8, store faults: a cancellation whose commit fails is not confirmed; the order stays
    processing and every table is as it was; the customer hears the honest store-unavailable
    answer; the log names the conversation."""

    def refuse(session: Session) -> None:
        cancelled = session.scalars(select(Order.status).where(Order.number == "10061")).one()
        assert cancelled is OrderStatus.cancelled, "the action changed nothing"
        raise database_locked()

    before = store_checksum(store)
    tracker = faulty_help_tracker("cancel_order", "cancel my order", "10061", "conv-cancel-locked-3")
    with caplog.at_level(logging.ERROR, logger="actions.common"), failing_commits(refuse):
        events, messages = await run(ActionOrderHelp(), tracker)
    assert events == []
    assert [m["response"] for m in messages] == ["utter_store_unavailable"]
    assert store_checksum(store) == before
    assert order_status_of(store, "10061") is OrderStatus.processing
    assert "conv-cancel-locked-3" in caplog.text and "action_order_help" in caplog.text
