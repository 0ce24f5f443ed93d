"""Live handoff in Slack without the servers: settings, the ticket thread posted by the escalation
(and what happens when Slack is down), the session start that keeps a live handoff paused, the
staff channel's event filter and the relay broker. Slack is the fake Web API of
``tests/fake_slack.py`` on 127.0.0.1; the end-to-end run is ``tests/test_live_handoff_e2e.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.handoff import ActionHandoff
from actions.services import slack_handoff
from actions.session import ActionSessionStart
from actions.store import db
from actions.store.models import Ticket
from channels.handoff_broker import SlackThreadRelayBroker
from channels.settings import ChannelSettingsError
from channels.staff_slack import StaffSlackInput
from tests.channel_servers import free_port
from tests.conftest import make_tracker
from tests.fake_slack import FakeSlack

STAFF = "C0STAFF001"
TOKEN = "xoxb-test-token-not-real"
SECRET = "test-signing-secret-not-real"
DOMAIN: dict[str, Any] = {"session_config": {"carry_over_slots_to_new_session": True}}


def slack_env(base_url: str) -> dict[str, str]:
    return {"GOLDEN_RULE_STAFF_SLACK_CHANNEL": STAFF, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_BASE_URL": base_url}


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    api = FakeSlack().start()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def live(store: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> FakeSlack:
    """Live handoff configured against the fake Slack, with a seeded store."""
    for name, value in slack_env(fake_slack.base_url).items():
        monkeypatch.setenv(name, value)
    return fake_slack


async def run(action: Any, tracker: Any, domain: dict[str, Any] = DOMAIN) -> tuple[list, list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    return events, dispatcher.messages


def user(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": "request_human"}, "text": text}}


# --- settings ------------------------------------------------------------------------------------


def test_settings_are_off_without_a_staff_channel() -> None:
    assert slack_handoff.staff_slack_settings({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET}) is None


def test_settings_reuse_the_slack_app_and_its_api_url() -> None:
    settings = slack_handoff.staff_slack_settings(slack_env("http://127.0.0.1:9/api"))
    assert settings == slack_handoff.StaffSlackSettings(STAFF, TOKEN, SECRET, "http://127.0.0.1:9/api/")


def test_staff_can_have_a_slack_app_of_their_own() -> None:
    env = {"GOLDEN_RULE_STAFF_SLACK_CHANNEL": STAFF, "GOLDEN_RULE_STAFF_SLACK_BOT_TOKEN": "xoxb-staff",
           "GOLDEN_RULE_STAFF_SLACK_SIGNING_SECRET": "staff-secret", "SLACK_BOT_TOKEN": TOKEN,
           "SLACK_SIGNING_SECRET": SECRET}
    settings = slack_handoff.staff_slack_settings(env)
    assert settings == slack_handoff.StaffSlackSettings(STAFF, "xoxb-staff", "staff-secret", "https://slack.com/api/")


@pytest.mark.parametrize("env", [
    {"GOLDEN_RULE_STAFF_SLACK_CHANNEL": STAFF},
    {"GOLDEN_RULE_STAFF_SLACK_CHANNEL": STAFF, "SLACK_BOT_TOKEN": TOKEN},
    {"GOLDEN_RULE_STAFF_SLACK_CHANNEL": STAFF, "GOLDEN_RULE_STAFF_SLACK_BOT_TOKEN": TOKEN},
    {"GOLDEN_RULE_STAFF_SLACK_CHANNEL": "#staff", "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET},
])
def test_half_configured_settings_say_what_to_fix(env: dict[str, str]) -> None:
    with pytest.raises(ChannelSettingsError):
        slack_handoff.staff_slack_settings(env)


# --- escalation ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_chat_escalation_posts_a_thread_and_pauses(live: FakeSlack, store: str) -> None:
    tracker = make_tracker(slots={"contact_channel": "chat", "customer_email": "dana@example.com",
                                  "proven_at": time.time()},
                           text="I want to talk to a person", sender_id="conv-live-1",
                           events=[user("my order 10042 is late"), user("I want to talk to a person")])
    events, messages = await run(ActionHandoff(), tracker)
    [message] = messages
    assert message["response"] == "utter_handoff_live"
    assert message["staff_name"] and message["by_when"].startswith("by ")
    assert events[-1] == ConversationPaused()
    parent, transcript = live.posts()
    assert parent.args["channel"] == STAFF and "thread_ts" not in parent.args
    for expected in (message["reference"], "Owner:", message["staff_name"], "Promised reply by:", "dana@example.com",
                     "Summary:", "resolve"):
        assert expected in parent.args["text"]
    assert transcript.args["thread_ts"] and "my order 10042 is late" in transcript.args["text"]
    with db.session_scope(store) as session:
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.slack_channel, ticket.slack_thread_ts) == (STAFF, transcript.args["thread_ts"])
        assert ticket.reference == message["reference"]


@pytest.mark.asyncio
async def test_email_escalation_is_shared_with_staff_but_not_paused(live: FakeSlack) -> None:
    tracker = make_tracker(slots={"contact_channel": "email", "contact_detail": "sam@example.com"})
    events, messages = await run(ActionHandoff(), tracker)
    assert messages[0]["response"] == "utter_handoff_done"
    assert ConversationPaused() not in events
    assert "sam@example.com" in live.posts()[0].args["text"]  # staff see the contact


@pytest.mark.asyncio
async def test_without_slack_nothing_is_posted_or_paused(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLDEN_RULE_STAFF_SLACK_CHANNEL", raising=False)
    events, messages = await run(ActionHandoff(), make_tracker(slots={"contact_channel": "chat"}))
    assert messages[0]["response"] == "utter_handoff_done"
    assert ConversationPaused() not in events


@pytest.mark.asyncio
async def test_slack_down_keeps_the_ticket_and_the_answer(
    store: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value in slack_env(f"http://127.0.0.1:{free_port()}/api/").items():  # nothing listens there
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.INFO)
    tracker = make_tracker(slots={"contact_channel": "email", "contact_detail": "dana@example.com",
                                  "customer_email": "dana@example.com", "proven_at": time.time()})
    events, messages = await run(ActionHandoff(), tracker)
    [message] = messages
    assert message["response"] == "utter_handoff_done" and message["reference"].startswith("BD-")
    assert ConversationPaused() not in events
    with db.session_scope(store) as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.reference == message["reference"] and ticket.slack_thread_ts is None
    assert "not posted to Slack" in caplog.text and "d***@example.com" in caplog.text
    assert "dana@example.com" not in caplog.text

    # A chat escalation while Slack is down: the customer is told the usual way, and not paused.
    events, messages = await run(ActionHandoff(), make_tracker(slots={"contact_channel": "chat"}, sender_id="c2"))
    assert messages[0]["response"] == "utter_handoff_done"
    assert ConversationPaused() not in events


# --- session start --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_new_session_stays_paused_while_a_person_answers(live: FakeSlack) -> None:
    await run(ActionHandoff(), make_tracker(slots={"contact_channel": "chat"}, sender_id="conv-session"))
    tracker = make_tracker(slots={"contact_channel": "chat", "ticket_ref": "BD-10001", "email": None},
                           sender_id="conv-session")
    events, messages = await run(ActionSessionStart(), tracker)
    assert messages == []
    assert events[0] == SessionStarted()
    assert SlotSet("contact_channel", "chat") in events and SlotSet("email", None) not in events
    # A typed reference is not carried into the new session (tests/test_identity.py); the
    # conversation still sees its own ticket without one.
    assert not any(e.get("name") == "ticket_ref" for e in events)
    assert events[-2:] == [ConversationPaused(), ActionExecuted("action_listen")]


@pytest.mark.asyncio
async def test_new_session_is_not_paused_otherwise(live: FakeSlack, store: str) -> None:
    # No ticket at all.
    events, _ = await run(ActionSessionStart(), make_tracker(sender_id="conv-none"))
    assert events == [SessionStarted(), ActionExecuted("action_listen")]
    # A resolved ticket.
    await run(ActionHandoff(), make_tracker(slots={"contact_channel": "chat"}, sender_id="conv-done"))
    with db.session_scope(store) as session:
        session.scalars(select(Ticket)).one().status = "resolved"
    events, _ = await run(ActionSessionStart(), make_tracker(sender_id="conv-done"))
    assert ConversationPaused() not in events
    # Slots are not carried over when the domain says so.
    events, _ = await run(ActionSessionStart(), make_tracker(slots={"email": "x@example.com"}),
                          {"session_config": {"carry_over_slots_to_new_session": False}})
    assert events == [SessionStarted(), ActionExecuted("action_listen")]


@pytest.mark.asyncio
async def test_session_start_without_slack_settings_never_pauses(store: str) -> None:
    events, _ = await run(ActionSessionStart(), make_tracker(sender_id="anyone"))
    assert events == [SessionStarted(), ActionExecuted("action_listen")]


# --- staff channel: which events are agent replies ----------------------------------------------


def _event(**fields: Any) -> dict[str, Any]:
    event = {"type": "message", "channel": STAFF, "user": "UAGENT01", "text": "On it &amp; checking",
             "ts": "1700000100.000200", "thread_ts": "1700000001.000100", **fields}
    return {"type": "event_callback", "event": {k: v for k, v in event.items() if v is not None},
            "authorizations": [{"user_id": "UBOT0001"}]}


def test_staff_channel_takes_human_replies_in_threads_only() -> None:
    channel = StaffSlackInput(slack_handoff.staff_slack_settings(slack_env("http://127.0.0.1:9/api/")))
    reply = channel.agent_reply(_event())
    assert reply is not None and reply.text == "On it & checking" and reply.thread_ts == "1700000001.000100"
    assert channel.agent_reply(_event(text="  ReSoLvE ")).is_resolve  # type: ignore[union-attr]
    assert not channel.agent_reply(_event(text="resolve it please")).is_resolve  # type: ignore[union-attr]
    for ignored in (_event(bot_id="BBOT0001"), _event(subtype="message_changed"), _event(user="UBOT0001"),
                    _event(channel="C0OTHER01"), _event(thread_ts=None), _event(ts="1700000001.000100"),
                    _event(type="reaction_added"), _event(text="")):
        assert channel.agent_reply(ignored) is None


def test_staff_channel_is_disabled_without_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLDEN_RULE_STAFF_SLACK_CHANNEL", raising=False)
    assert StaffSlackInput.from_credentials(None).settings is None


# --- relay broker ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_broker_relays_later_customer_messages_into_the_thread(live: FakeSlack, store: str) -> None:
    await run(ActionHandoff(), make_tracker(slots={"contact_channel": "chat"}, sender_id="conv-relay"))
    thread_ts = live.posts()[-1].args["thread_ts"]
    broker = await SlackThreadRelayBroker.from_endpoint_config(None)  # type: ignore[arg-type]
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    broker.publish({"sender_id": "conv-relay", "event": "user", "text": "before the ticket", "timestamp": now - 600})
    broker.publish({"sender_id": "conv-relay", "event": "user", "text": "/affirm", "timestamp": now + 1})
    broker.publish({"sender_id": "conv-relay", "event": "bot", "text": "bot text", "timestamp": now + 1})
    broker.publish({"sender_id": "someone-else", "event": "user", "text": "no ticket", "timestamp": now + 1})
    broker.publish({"sender_id": "conv-relay", "event": "user", "text": "are you there?", "timestamp": now + 1})
    await broker.close()
    relayed = [c.args for c in live.posts(lambda c: c.args.get("text", "").startswith("*Customer:*"))]
    assert relayed == [{"channel": STAFF, "thread_ts": thread_ts, "text": "*Customer:* are you there?"}]
    with db.session_scope(store) as session:
        assert "Customer: are you there?" in session.scalars(select(Ticket)).one().transcript


@pytest.mark.asyncio
async def test_broker_is_a_no_op_without_settings_and_never_raises(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOLDEN_RULE_STAFF_SLACK_CHANNEL", raising=False)
    broker = await SlackThreadRelayBroker.from_endpoint_config(None)  # type: ignore[arg-type]
    broker.publish({"sender_id": "x", "event": "user", "text": "hello", "timestamp": 1.0})
    assert broker.is_ready()
    # Configured but Slack unreachable: the relay logs and returns.
    for name, value in slack_env(f"http://127.0.0.1:{free_port()}/api/").items():
        monkeypatch.setenv(name, value)
    with db.session_scope(store) as session:
        ticket = session.scalars(select(Ticket)).first()
    assert ticket is None
    broker = await SlackThreadRelayBroker.from_endpoint_config(None)  # type: ignore[arg-type]
    await broker.relay("nobody", "hello", dt.datetime.now(dt.timezone.utc))
    await asyncio.sleep(0)
