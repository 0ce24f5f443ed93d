"""Escalation actions: contact asked only when unknown, ticket stored before the words, manager
named, ticket status only for its owner, feedback stored and low ratings escalated."""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from actions.feedback import ActionStoreFeedback
from actions.handoff import (
    ActionHandoff,
    ActionManagerContact,
    ActionTicketStatus,
    ValidateHandoffForm,
    ValidateTicketForm,
    clean_phone,
    handoff_channel,
)
from actions.store import db
from actions.store.models import Customer, Feedback, Ticket
from tests.conftest import make_tracker, store_checksum

DOMAIN: dict[str, Any] = {}


async def run(action, tracker) -> tuple[list, list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return events, dispatcher.messages


def proven_dana() -> dict[str, Any]:
    """The slots of a conversation where Dana has just proven who she is (order 10042 + her email)."""
    return {"customer_email": "dana@example.com", "verified_order": "10042", "proven_at": time.time()}


def user(text: str, intent: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}, "text": text}}


@pytest.mark.parametrize(
    ("text", "channel"),
    [("by email please", "email"), ("E-mail", "email"), ("call me", "phone"), ("phone is best", "phone"),
     ("here in the chat", "chat"), ("carrier pigeon", None), ("", None)],
)
def test_contact_channel_words(text: str, channel: str | None) -> None:
    assert handoff_channel(text) == channel


@pytest.mark.parametrize(("text", "ok"), [("+1 312 555 0100", True), ("(312) 555-0100", True), ("12345", False),
                                          ("call me maybe", False), ("1" * 30, False)])
def test_phone_numbers(text: str, ok: bool) -> None:
    assert (clean_phone(text) is not None) is ok


def test_email_channel_uses_the_verified_address_without_asking(store: str) -> None:
    form = ValidateHandoffForm()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots=proven_dana())
    result = form.validate_contact_channel("email", dispatcher, tracker, DOMAIN)
    assert result == {"contact_channel": "email", "contact_detail": "dana@example.com"}


@pytest.mark.asyncio
async def test_chat_needs_no_detail_and_stored_preference_skips_the_questions(store: str) -> None:
    form = ValidateHandoffForm()
    chat = make_tracker(slots={"contact_channel": "chat"})
    assert await form.required_slots(["contact_channel", "contact_detail"], CollectingDispatcher(), chat, DOMAIN) == [
        "contact_channel"
    ]
    with db.session_scope(store) as session:
        session.scalars(select(Customer).where(Customer.email == "dana@example.com")).one().preferred_contact = "phone"
    known = make_tracker(slots=proven_dana())
    assert await form.required_slots(["contact_channel", "contact_detail"], CollectingDispatcher(), known, DOMAIN) == []


def test_bad_contact_details_get_specific_messages(store: str) -> None:
    form = ValidateHandoffForm()
    for channel, value, response in [("email", "not-an-email", "utter_invalid_email"),
                                     ("phone", "555", "utter_invalid_phone")]:
        dispatcher = CollectingDispatcher()
        result = form.validate_contact_detail(value, dispatcher, make_tracker(slots={"contact_channel": channel}),
                                              DOMAIN)
        assert result == {"contact_detail": None}
        assert [m["response"] for m in dispatcher.messages] == [response]


@pytest.mark.asyncio
async def test_handoff_by_phone_stores_ticket_and_preference(store: str) -> None:
    tracker = make_tracker(
        slots={"contact_channel": "phone", "contact_detail": "+1 312 555 0199", **proven_dana(),
               "handoff_reason": "frustration"},
        events=[user("this is ridiculous", "complain"), user("+1 312 555 0199", "inform")],
    )
    events, messages = await run(ActionHandoff(), tracker)
    [message] = messages
    assert message["response"] == "utter_handoff_done"
    assert message["how"] == "by phone at +1 312 555 0199"
    assert message["by_when"].startswith("by ")
    with db.session_scope(store) as session:
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.reference, ticket.reason, ticket.contact_channel) == (message["reference"], "frustration",
                                                                               "phone")
        assert "this is ridiculous" in ticket.transcript
        customer = session.scalars(select(Customer).where(Customer.email == "dana@example.com")).one()
        assert customer.preferred_contact == "phone"
    assert SlotSet("ticket_ref", message["reference"]) in events


@pytest.mark.asyncio
async def test_manager_is_named_with_a_way_to_reach_them(store: str) -> None:
    events, messages = await run(ActionManagerContact(), make_tracker(intent="ask_manager"))
    assert messages[0]["response"] == "utter_manager_contact"
    assert (messages[0]["name"], messages[0]["email"]) == ("Marcus Lee", "marcus.lee@brightdesk.example")
    assert SlotSet("handoff_reason", "ask_manager") in events


@pytest.mark.asyncio
async def test_manager_ticket_goes_to_the_manager(store: str) -> None:
    tracker = make_tracker(slots={"handoff_reason": "ask_manager", "contact_channel": "chat"})
    _, messages = await run(ActionHandoff(), tracker)
    assert messages[0]["staff_name"] == "Marcus Lee"


@pytest.mark.asyncio
async def test_ticket_status_only_for_the_owner(store: str) -> None:
    tracker = make_tracker(slots={"contact_channel": "email", "contact_detail": "sam@example.com"})
    _, messages = await run(ActionHandoff(), tracker)
    reference = messages[0]["reference"]
    # Asked from another conversation (a later visit): the email must match.
    _, wrong = await run(ActionTicketStatus(), make_tracker(slots={"ticket_ref": reference,
                                                                    "email": "dana@example.com"}, sender_id="later"))
    assert [m["response"] for m in wrong] == ["utter_ticket_not_matched"]
    _, right = await run(ActionTicketStatus(), make_tracker(slots={"ticket_ref": reference,
                                                                    "email": "sam@example.com"}, sender_id="later"))
    assert right[0]["response"] == "utter_ticket_status_open"
    assert right[0]["reference"] == reference


@pytest.mark.asyncio
async def test_the_conversation_that_opened_a_chat_ticket_sees_it_without_proof(store: str) -> None:
    """A chat-only ticket has no email to check against: the conversation that opened it is the proof."""
    events, messages = await run(ActionHandoff(), make_tracker(slots={"contact_channel": "chat"}, sender_id="chat-1"))
    reference = messages[0]["reference"]
    assert SlotSet("ticket_ref", reference) in events
    form = ValidateTicketForm()
    for slots in ({}, {"ticket_ref": reference}):
        tracker = make_tracker(slots=slots, intent="ticket_status", sender_id="chat-1")
        assert await form.required_slots(["ticket_ref", "email"], CollectingDispatcher(), tracker, DOMAIN) == []
        events, [answer] = await run(ActionTicketStatus(), tracker)
        assert (answer["response"], answer["reference"], events) == ("utter_ticket_status_open", reference, [])
    # Another conversation, or another reference in this one, still needs reference and email.
    elsewhere = make_tracker(slots={"ticket_ref": reference}, intent="ticket_status", sender_id="someone-else")
    assert await form.required_slots(["ticket_ref", "email"], CollectingDispatcher(), elsewhere, DOMAIN) == [
        "ticket_ref", "email"]
    _, [refused] = await run(ActionTicketStatus(), elsewhere)
    assert refused["response"] == "utter_ticket_not_matched"
    other = make_tracker(slots={"ticket_ref": "BD-9999999"}, intent="ticket_status", sender_id="chat-1")
    assert await form.required_slots(["ticket_ref", "email"], CollectingDispatcher(), other, DOMAIN) == [
        "ticket_ref", "email"]


@pytest.mark.asyncio
async def test_good_rating_is_stored(store: str) -> None:
    _, messages = await run(ActionStoreFeedback(), make_tracker(slots={"rating": "5"}, intent="give_feedback",
                                                                text="/give_feedback"))
    assert messages[0]["response"] == "utter_feedback_thanks"
    with db.session_scope(store) as session:
        assert session.scalars(select(Feedback.rating)).all() == [5]


@pytest.mark.asyncio
async def test_low_rating_with_comment_opens_a_ticket(store: str) -> None:
    tracker = make_tracker(intent="give_feedback", text="2 - nobody told me about the delay")
    events, messages = await run(ActionStoreFeedback(), tracker)
    assert [m["response"] for m in messages] == ["utter_feedback_low_ticket", "utter_handoff_done"]
    with db.session_scope(store) as session:
        assert session.scalars(select(Ticket.reason)).all() == ["low_rating"]
        assert session.scalars(select(Feedback.comment)).all() == ["nobody told me about the delay"]


@pytest.mark.asyncio
async def test_low_rating_then_comment_is_attached_and_escalated(store: str) -> None:
    events, messages = await run(ActionStoreFeedback(), make_tracker(slots={"rating": "1"}, intent="give_feedback",
                                                                     text="/give_feedback"))
    assert messages[0]["response"] == "utter_feedback_low_ask_why"
    assert SlotSet("feedback_pending", True) in events
    _, messages = await run(ActionStoreFeedback(), make_tracker(intent="complain", text="the parcel was a week late"))
    assert [m["response"] for m in messages] == ["utter_feedback_low_ticket", "utter_handoff_done"]


@pytest.mark.asyncio
async def test_handoff_promises_no_ticket_when_the_store_cannot_commit_it(
    store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 8, store faults, through the action: the ticket is written, then the commit fails
    ("database is locked"). The customer hears no reference, owner or time, only the honest
    store-unavailable answer with the direct contact; no ticket, customer or preference is left
    (every table as it was); the log names the conversation and holds no address or phone."""

    def refuse(session: Session) -> None:
        assert session.scalars(select(Ticket)).all(), "the action wrote no ticket before the commit"
        raise OperationalError("COMMIT", None, sqlite3.OperationalError("database is locked"))

    before = store_checksum(store)
    tracker = make_tracker(
        slots={"contact_channel": "phone", "contact_detail": "+1 312 555 0199", **proven_dana(),
               "handoff_reason": "frustration"},
        events=[user("this is ridiculous", "complain"), user("+1 312 555 0199", "inform")],
        sender_id="conv-ticket-locked-9",
    )
    event.listen(Session, "before_commit", refuse)
    try:
        with caplog.at_level(logging.ERROR, logger="actions.common"):
            events, messages = await run(ActionHandoff(), tracker)
    finally:
        event.remove(Session, "before_commit", refuse)
    assert events == []
    [message] = messages
    assert message["response"] == "utter_store_unavailable" and "reference" not in message
    assert message["support_email"] == "support@brightdesk.example"
    assert store_checksum(store) == before
    assert "conv-ticket-locked-9" in caplog.text and "action_handoff" in caplog.text
    assert "dana@example.com" not in caplog.text and "555 0199" not in caplog.text
