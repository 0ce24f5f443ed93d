"""Live handoff in Slack end to end: the real rasa server (with the staff channel and the relay
broker), the real action server, a customer over REST and the fake Slack Web API on 127.0.0.1.

The model must know ``utter_handoff_live`` and ``action_session_start``; ``GOLDEN_RULE_TEST_MODEL``
points at another model file when ``models/golden-rule.tar.gz`` predates them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from actions.store import db
from actions.store.models import Ticket
from tests import channel_servers
from tests.channel_servers import BotServers
from tests.fake_slack import ApiCall, FakeSlack

pytestmark = pytest.mark.e2e

STAFF = "C0STAFF001"
TOKEN = "xoxb-test-token-not-real"
SECRET = "test-signing-secret-not-real"
AGENT = "UAGENT0001"
BOT_USER = "UBOT0001"
WAIT = 120.0


@dataclass
class Live:
    """The running servers, the fake Slack API and small helpers to drive them."""

    servers: BotServers
    api: FakeSlack

    def _request(self, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                 method: str = "POST") -> tuple[int, bytes]:
        url = self.servers.api_url(path) if path.startswith("/conversations/") else f"{self.servers.rasa_url}{path}"
        request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def say(self, sender: str, message: str) -> list[dict[str, Any]]:
        """A customer message over REST; the bot's replies."""
        body = json.dumps({"sender": sender, "message": message}).encode()
        status, answer = self._request("/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
        assert status == 200, answer
        return json.loads(answer)

    def tracker(self, sender: str) -> dict[str, Any]:
        status, body = self._request(f"/conversations/{sender}/tracker", method="GET")
        assert status == 200, body
        return json.loads(body)

    def bot_texts(self, sender: str) -> list[str]:
        return [e.get("text") or "" for e in self.tracker(sender)["events"] if e.get("event") == "bot"]

    def wait_for_bot_text(self, sender: str, part: str) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if any(part in text for text in self.bot_texts(sender)):
                return
            time.sleep(0.5)
        raise AssertionError(f"{part!r} never reached {sender}: {self.bot_texts(sender)}")

    def execute(self, sender: str, action: str) -> int:
        status, _ = self._request(f"/conversations/{sender}/execute", json.dumps({"name": action}).encode(),
                                  {"Content-Type": "application/json"})
        return status

    @staticmethod
    def signed(body: bytes, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
        timestamp = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(timestamp),
                "X-Slack-Signature": f"v0={digest}"}

    def staff_post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return self._request("/webhooks/staff_slack/webhook", body, headers)

    def agent_writes(self, text: str, thread_ts: str, extra_headers: dict[str, str] | None = None) -> int:
        """A signed Events API request: an agent's message in a ticket thread of the staff channel."""
        body = json.dumps(staff_event(text, thread_ts)).encode()
        return self.staff_post(body, {**self.signed(body), **(extra_headers or {})})[0]

    def thread_posts(self, thread_ts: str, starts: str = "") -> list[ApiCall]:
        return self.api.posts(lambda c: c.args.get("channel") == STAFF and c.args.get("thread_ts") == thread_ts
                              and c.args.get("text", "").startswith(starts))


_counter = iter(range(100_000))


def staff_event(text: str, thread_ts: str, **event_fields: object) -> dict[str, Any]:
    ts = f"{1_800_000_000 + next(_counter)}.000300"
    event = {"type": "message", "channel": STAFF, "user": AGENT, "text": text, "ts": ts, "thread_ts": thread_ts,
             "channel_type": "channel", **event_fields}
    return {"type": "event_callback", "event_id": f"Ev{ts.replace('.', '')}", "event": event,
            "authorizations": [{"user_id": BOT_USER, "is_bot": True}]}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    model = os.environ.get("GOLDEN_RULE_TEST_MODEL")
    saved_model = channel_servers.MODEL
    if model:
        channel_servers.MODEL = Path(model)
    api = FakeSlack(bot_user_id=BOT_USER).start()
    env = {"GOLDEN_RULE_STAFF_SLACK_CHANNEL": STAFF, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_BASE_URL": api.base_url}
    servers = BotServers(tmp_path_factory.mktemp("live-handoff"), extra_env=env, enable_api=True)
    with servers.endpoints.open("a") as endpoints:
        endpoints.write("event_broker:\n  type: channels.handoff_broker.SlackThreadRelayBroker\n")
    try:
        yield Live(servers.start(), api)
    finally:
        servers.close()
        api.close()
        channel_servers.MODEL = saved_model


def _ticket(live: Live, conversation_id: str) -> Ticket:
    with db.session_scope(live.servers.db_url) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.conversation_id == conversation_id)).one()
        session.expunge(ticket)
        return ticket


def _escalate(live: Live, sender: str) -> tuple[str, str]:
    """The customer asks for a person and chooses this chat; the ticket reference and its thread."""
    first = live.say(sender, "I want to talk to a person")
    assert any("this chat" in (m.get("text") or "") for m in first), first
    answer = " ".join(m.get("text") or "" for m in live.say(sender, '/contact_preference{"contact_channel": "chat"}'))
    assert "joining this chat" in answer, answer
    reference = next(word.strip(".,") for word in answer.split() if word.startswith("BD-"))
    [parent] = live.api.wait_for_posts(
        lambda c: c.args.get("channel") == STAFF and "thread_ts" not in c.args and reference in c.args["text"])
    assert "Owner:" in parent.args["text"] and "Promised reply by:" in parent.args["text"]
    [transcript] = live.api.wait_for_posts(
        lambda c: c.args.get("channel") == STAFF and c.args.get("text", "").startswith("*Transcript*")
        and "I want to talk to a person" in c.args["text"] and c.args.get("thread_ts") == _ticket(live, sender)
        .slack_thread_ts)
    return reference, transcript.args["thread_ts"]


def test_live_handoff_from_escalation_to_rating(live: Live) -> None:
    sender = "live-customer-1"
    reference, thread_ts = _escalate(live, sender)
    assert live.tracker(sender)["paused"] is True

    # While paused the assistant is silent, and what the customer writes reaches the thread.
    assert live.say(sender, "Is anyone there? My parcel is two weeks late.") == []
    live.api.wait_for_posts(lambda c: c.args.get("thread_ts") == thread_ts
                            and c.args.get("text") == "*Customer:* Is anyone there? My parcel is two weeks late.")

    # A new session (what an idle hour causes) keeps the conversation paused.
    assert live.execute(sender, "action_session_start") == 200
    assert live.tracker(sender)["paused"] is True
    assert live.say(sender, "Hello?") == []
    live.api.wait_for_posts(lambda c: c.args.get("thread_ts") == thread_ts
                            and c.args.get("text") == "*Customer:* Hello?")

    # The agent's reply in the thread reaches the customer's conversation.
    assert live.agent_writes("Hi, this is Priya. I'm looking at your order now.", thread_ts) == 200
    live.wait_for_bot_text(sender, "Hi, this is Priya. I'm looking at your order now.")
    assert live.tracker(sender)["paused"] is True

    # `resolve` closes the ticket; the assistant is back and asks for a rating.
    assert live.agent_writes("Resolve", thread_ts) == 200
    live.wait_for_bot_text(sender, "how did we do today")
    assert live.tracker(sender)["paused"] is False
    live.api.wait_for_posts(lambda c: c.args.get("thread_ts") == thread_ts
                            and c.args.get("text", "").startswith(f"Ticket {reference} is resolved"))
    ticket = _ticket(live, sender)
    assert ticket.status == "resolved"
    assert "Hi, this is Priya" in ticket.transcript and "Customer: Hello?" in ticket.transcript

    # The ticket is closed now: a later agent message is refused in the thread, not delivered.
    assert live.agent_writes("One more thing", thread_ts) == 200
    live.api.wait_for_posts(lambda c: c.args.get("thread_ts") == thread_ts
                            and c.args.get("text", "").startswith(f"Ticket {reference} is resolved, so this message"))
    assert not any("One more thing" in text for text in live.bot_texts(sender))
    # And the customer talks to the assistant again.
    assert live.say(sender, "hello") != []


def test_agent_message_in_an_unknown_thread_gets_a_clear_answer(live: Live) -> None:
    thread_ts = "1799999999.000100"
    assert live.agent_writes("Hello there", thread_ts) == 200
    [answer] = live.api.wait_for_posts(lambda c: c.args.get("thread_ts") == thread_ts)
    assert answer.args["channel"] == STAFF and "not linked to a ticket" in answer.args["text"]


@pytest.mark.parametrize("case", ["wrong secret", "stale", "unsigned", "tampered"])
def test_bad_signatures_are_rejected_on_the_staff_endpoint(live: Live, case: str) -> None:
    thread_ts = f"1799999990.00010{['wrong secret', 'stale', 'unsigned', 'tampered'].index(case)}"
    body = json.dumps(staff_event("Hello there", thread_ts)).encode()
    if case == "wrong secret":
        headers = Live.signed(body, secret="not-the-secret")
    elif case == "stale":
        headers = Live.signed(body, timestamp=int(time.time()) - 6 * 60)
    elif case == "unsigned":
        headers = {"Content-Type": "application/json"}
    else:
        headers = Live.signed(body)
        body = body.replace(b"Hello there", b"Hello thero")
    status, _ = live.staff_post(body, headers)
    assert status == 401
    # Proof of silence: a good request is handled, and the rejected one left no trace.
    probe = f"1799999991.00010{['wrong secret', 'stale', 'unsigned', 'tampered'].index(case)}"
    assert live.agent_writes("probe", probe) == 200
    live.api.wait_for_posts(lambda c: c.args.get("thread_ts") == probe)
    assert live.api.posts(lambda c: c.args.get("thread_ts") == thread_ts) == []


def test_url_verification_retries_and_bot_echoes(live: Live) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123"}).encode()
    status, answer = live.staff_post(body, Live.signed(body))
    assert (status, json.loads(answer)) == (200, {"challenge": "abc123"})
    thread_ts = "1799999980.000100"
    assert live.agent_writes("retried", thread_ts, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}) \
        == 200
    echo = json.dumps(staff_event("echo", thread_ts, bot_id="BBOT0001")).encode()
    assert live.staff_post(echo, Live.signed(echo))[0] == 200
    probe = "1799999981.000100"
    assert live.agent_writes("probe", probe) == 200
    live.api.wait_for_posts(lambda c: c.args.get("thread_ts") == probe)
    time.sleep(2)
    assert live.api.posts(lambda c: c.args.get("thread_ts") == thread_ts) == []


@pytest.fixture(scope="module")
def slack_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The same servers, with the Slack Web API unreachable (nothing listens on its port)."""
    model = os.environ.get("GOLDEN_RULE_TEST_MODEL")
    saved_model = channel_servers.MODEL
    if model:
        channel_servers.MODEL = Path(model)
    api = FakeSlack(bot_user_id=BOT_USER)  # never started: its port stays closed
    env = {"GOLDEN_RULE_STAFF_SLACK_CHANNEL": STAFF, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_BASE_URL": api.base_url}
    servers = BotServers(tmp_path_factory.mktemp("live-handoff-down"), extra_env=env, enable_api=True)
    with servers.endpoints.open("a") as endpoints:
        endpoints.write("event_broker:\n  type: channels.handoff_broker.SlackThreadRelayBroker\n")
    try:
        yield Live(servers.start(), api)
    finally:
        servers.close()
        channel_servers.MODEL = saved_model


def test_slack_down_still_stores_the_ticket_and_tells_the_customer(slack_down: Live) -> None:
    sender = "live-customer-slack-down"
    slack_down.say(sender, "I want to talk to a person")
    replies = slack_down.say(sender, '/contact_preference{"contact_channel": "chat"}')
    answer = " ".join(m.get("text") or "" for m in replies)
    assert "I've opened ticket BD-" in answer and "right here in this chat" in answer, answer
    ticket = _ticket(slack_down, sender)
    assert ticket.reference in answer and ticket.status == "open" and ticket.slack_thread_ts is None
    assert slack_down.tracker(sender)["paused"] is False
    # The assistant keeps answering, and nothing tries to relay into a thread that does not exist.
    assert slack_down.say(sender, "how much is the Nimbus 14 laptop?") != []
    assert "not posted to Slack" in slack_down.servers.log_text("actions.log")
