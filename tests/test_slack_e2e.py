"""The Slack channel end to end: signed Events API requests to the real rasa server, replies
captured by a fake Slack Web API on 127.0.0.1 (``tests/fake_slack.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.channel_servers import BotServers
from tests.fake_slack import ApiCall, FakeSlack

pytestmark = pytest.mark.e2e

SECRET = "test-signing-secret-not-real"
TOKEN = "xoxb-test-token-not-real"
CHANNEL = "C0SUPPORT1"
OTHER_CHANNEL = "C0RANDOM99"
BOT_USER = "UBOT0001"


@dataclass
class Slack:
    """The rasa server's Slack request URL, plus the fake Web API it answers through."""

    servers: BotServers
    api: FakeSlack

    @property
    def url(self) -> str:
        return f"{self.servers.rasa_url}/webhooks/slack/webhook"

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    @staticmethod
    def signed_headers(body: bytes, timestamp: int | None = None, secret: str = SECRET,
                       content_type: str = "application/json") -> dict[str, str]:
        timestamp = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
        return {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(timestamp),
                "X-Slack-Signature": f"v0={digest}"}

    def send(self, payload: dict, extra_headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        return self.post(body, {**self.signed_headers(body), **(extra_headers or {})})


def message_event(text: str, ts: str, channel: str = CHANNEL, thread_ts: str | None = None,
                  **event_fields: object) -> dict:
    """An ``event_callback`` carrying a ``message`` event, as Slack posts it."""
    event: dict = {"type": "message", "channel": channel, "user": "UCUSTOMER1", "text": text, "ts": ts,
                   "channel_type": "channel", **event_fields}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return {"token": "legacy", "team_id": "T0TEAM", "api_app_id": "A0APP", "type": "event_callback",
            "event_id": f"Ev{ts.replace('.', '')}", "event_time": int(time.time()), "event": event,
            "authorizations": [{"user_id": BOT_USER, "is_bot": True}]}


def in_thread(ts: str, channel: str = CHANNEL) -> Callable[[ApiCall], bool]:
    """Matches the bot's posts into the thread rooted at ``ts``."""
    return lambda call: call.args.get("thread_ts") == ts and call.args.get("channel") == channel


@pytest.fixture(scope="module")
def slack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slack]:
    api = FakeSlack(bot_user_id=BOT_USER).start()
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_CHANNEL": CHANNEL,
           "SLACK_API_BASE_URL": api.base_url}
    servers = BotServers(tmp_path_factory.mktemp("slack"), extra_env=env, enable_api=True)
    try:
        yield Slack(servers.start(), api)
    finally:
        servers.close()
        api.close()


def _user_texts(slack: Slack, sender_id: str) -> list[str]:
    url = slack.servers.api_url(f"/conversations/{sender_id}/tracker")
    with urllib.request.urlopen(url, timeout=30) as response:
        events = json.loads(response.read())["events"]
    return [e.get("text") for e in events if e.get("event") == "user"]


def test_url_verification_returns_the_challenge_as_json(slack: Slack) -> None:
    status, body = slack.send({"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                               "type": "url_verification"})
    assert status == 200
    assert json.loads(body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_question_is_answered_in_its_thread_one_conversation_per_thread(slack: Slack) -> None:
    root = "1800000001.000100"
    status, _ = slack.send(message_event("how much is the Nimbus 14 laptop?", root))
    assert status == 200
    reply = slack.api.wait_for_posts(in_thread(root))[0]
    assert "$1,199.00" in reply.args["text"]
    assert reply.token == TOKEN
    assert "as_user" not in reply.args

    # A follow-up inside the thread continues the same conversation...
    before = len(slack.api.posts(in_thread(root)))
    slack.send(message_event("what does the Dock Pro USB-C cost?", "1800000001.000200", thread_ts=root))
    follow_up = slack.api.wait_for_posts(in_thread(root), count=before + 1)[-1]
    assert "$149.00" in follow_up.args["text"]
    assert _user_texts(slack, f"slack_{CHANNEL}_{root}") == [
        "how much is the Nimbus 14 laptop?", "what does the Dock Pro USB-C cost?",
    ]
    # ...and a new top-level message starts another one, answered in its own thread.
    other = "1800000002.000100"
    slack.send(message_event("hello", other))
    slack.api.wait_for_posts(in_thread(other))
    assert _user_texts(slack, f"slack_{CHANNEL}_{other}") == ["hello"]


def test_a_message_over_the_cap_and_a_typed_command_are_answered_in_words(slack: Slack) -> None:
    """The input gate (golden_rule/input_gate.py) works in Slack as everywhere: words, not silence."""
    root = "1800000009.000100"
    slack.send(message_event("I pasted my whole log: " + "error " * 1000, root))
    reply = slack.api.wait_for_posts(in_thread(root))[0]
    assert "longer than I can read" in reply.args["text"]
    assert _user_texts(slack, f"slack_{CHANNEL}_{root}") == []  # refused before anything was stored
    before = len(slack.api.posts(in_thread(root)))
    slack.send(message_event("/restart", "1800000009.000200", thread_ts=root))
    slack.api.wait_for_posts(in_thread(root), count=before + 1)
    assert _user_texts(slack, f"slack_{CHANNEL}_{root}") == ["restart"]


def test_a_button_click_answers_in_the_thread(slack: Slack) -> None:
    root = "1800000003.000100"
    payload = {
        "type": "block_actions", "user": {"id": "UCUSTOMER1"}, "channel": {"id": CHANNEL},
        "message": {"type": "message", "ts": "1800000003.000500", "thread_ts": root, "bot_id": "BBOT0001"},
        "actions": [{"type": "button", "action_id": "a1", "text": {"type": "plain_text", "text": "Vista 27 4K Monitor"},
                     "value": '/check_price{"product": "Vista 27 4K Monitor"}'}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    status, _ = slack.post(body, Slack.signed_headers(body, content_type="application/x-www-form-urlencoded"))
    assert status == 200
    reply = slack.api.wait_for_posts(in_thread(root))[0]
    assert "$429.00" in reply.args["text"]


@pytest.mark.parametrize("case", ["wrong secret", "stale", "unsigned", "tampered"])
def test_bad_signatures_are_rejected(slack: Slack, case: str) -> None:
    number = ["wrong secret", "stale", "unsigned", "tampered"].index(case)
    root = f"1800000010.00010{number}"
    body = json.dumps(message_event("how much is the Nimbus 14 laptop?", root)).encode()
    if case == "wrong secret":
        headers = Slack.signed_headers(body, secret="not-the-secret")
    elif case == "stale":
        headers = Slack.signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    elif case == "unsigned":
        headers = {"Content-Type": "application/json"}
    else:
        headers = Slack.signed_headers(body)
        body = body.replace(b"Nimbus 14", b"Nimbus 16")
    status, _ = slack.post(body, headers)
    assert 400 <= status < 500
    # Proof of silence: a later, good message is answered, and nothing went to the rejected thread.
    probe = f"1800000011.00010{number}"
    slack.send(message_event("hello", probe))
    slack.api.wait_for_posts(in_thread(probe))
    assert slack.api.posts(in_thread(root)) == []


def test_retries_are_dropped_so_each_message_is_answered_once(slack: Slack) -> None:
    root = "1800000020.000100"
    event = message_event("how much is the Nimbus 14 laptop?", root)
    assert slack.send(event)[0] == 200
    for number, reason in [(1, "http_timeout"), (2, "http_error"), (3, "unknown_error")]:
        status, _ = slack.send(event, {"X-Slack-Retry-Num": str(number), "X-Slack-Retry-Reason": reason})
        assert status == 200
    # A retry of an event whose first delivery we never saw is dropped as well.
    lone = "1800000021.000100"
    slack.send(message_event("how much is the Nimbus 14 laptop?", lone),
               {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"})
    slack.api.wait_for_posts(in_thread(root))
    probe = "1800000022.000100"
    slack.send(message_event("hello", probe))
    slack.api.wait_for_posts(in_thread(probe))
    time.sleep(3)
    assert len(slack.api.posts(in_thread(root))) == 1
    assert slack.api.posts(in_thread(lone)) == []


def test_unknown_events_and_bot_echoes_are_ignored(slack: Slack) -> None:
    ignored: list[tuple[str, dict]] = []

    def add(ts: str, payload: dict) -> None:
        ignored.append((ts, payload))

    add("1800000030.000100", message_event("how much is the Nimbus 14 laptop?", "1800000030.000100",
                                           bot_id="BBOT0001"))
    add("1800000031.000100", message_event("how much is the Nimbus 14 laptop?", "1800000031.000100",
                                           subtype="bot_message"))
    add("1800000032.000100", message_event("how much is the Nimbus 14 laptop?", "1800000032.000100",
                                           subtype="message_changed"))
    add("1800000033.000100", message_event("how much is the Nimbus 14 laptop?", "1800000033.000100",
                                           user=BOT_USER))
    add("1800000034.000100", message_event("how much is the Nimbus 14 laptop?", "1800000034.000100",
                                           channel=OTHER_CHANNEL))
    reaction = message_event("", "1800000035.000100")
    reaction["event"] = {"type": "reaction_added", "user": "UCUSTOMER1", "reaction": "thumbsup",
                         "item": {"type": "message", "channel": CHANNEL, "ts": "1800000035.000100"}}
    add("1800000035.000100", reaction)
    add("1800000036.000100", {"type": "app_rate_limited", "team_id": "T0TEAM", "minute_rate_limited": 1})
    # A mention in the support channel arrives twice (app_mention + message): only the message counts.
    add("1800000037.000100", message_event("<@UBOT0001> hello", "1800000037.000100", type="app_mention"))
    for _, payload in ignored:
        status, _ = slack.send(payload)
        assert status == 200

    for body in (b"not json", b"[1, 2]"):
        status, _ = slack.post(body, Slack.signed_headers(body))
        assert status == 400

    probe = "1800000039.000100"
    slack.send(message_event("hello", probe))
    slack.api.wait_for_posts(in_thread(probe))
    time.sleep(3)
    for ts, _ in ignored:
        for channel in (CHANNEL, OTHER_CHANNEL):
            assert slack.api.posts(in_thread(ts, channel)) == [], ts


def test_direct_messages_and_mentions_elsewhere_are_answered(slack: Slack) -> None:
    dm = "1800000040.000100"
    slack.send(message_event("how much is the Nimbus 14 laptop?", dm, channel="D0DIRECT01", channel_type="im"))
    assert "$1,199.00" in slack.api.wait_for_posts(in_thread(dm, "D0DIRECT01"))[0].args["text"]
    mention = "1800000041.000100"
    slack.send(message_event("<@UBOT0001> how much is the Nimbus 14 laptop?", mention, channel=OTHER_CHANNEL,
                             type="app_mention"))
    assert "$1,199.00" in slack.api.wait_for_posts(in_thread(mention, OTHER_CHANNEL))[0].args["text"]



def test_action_server_down_is_told_in_the_thread_then_recovers(slack: Slack) -> None:
    """Never silent in Slack: a dead action server gets the honest message in the thread."""
    root = "1800000050.000100"
    slack.servers.stop_actions()
    try:
        slack.send(message_event("how much is the Nimbus 14 laptop?", root))
        told = slack.api.wait_for_posts(in_thread(root))[0].args["text"]
        assert "isn't responding" in told and "support@brightdesk.example" in told
    finally:
        slack.servers.start_actions()
    slack.send(message_event("how much is the Nimbus 14 laptop?", "1800000050.000200", thread_ts=root))
    assert "$1,199.00" in slack.api.wait_for_posts(in_thread(root), count=2)[-1].args["text"]
