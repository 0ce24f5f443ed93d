"""The Slack channel's settings and event reading, without servers (the e2e test covers HTTP)."""

from __future__ import annotations

import pytest

from channels.settings import DEFAULT_SLACK_API_BASE_URL, ChannelSettingsError, slack_settings
from channels.slack import SlackChannel, SlackThreadOutput

FULL = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s3cret", "SLACK_CHANNEL": "C0SUPPORT1"}


def test_slack_is_off_when_nothing_is_set() -> None:
    assert slack_settings({}) is None
    assert slack_settings({"SLACK_BOT_TOKEN": " ", "SLACK_SIGNING_SECRET": ""}) is None


def test_full_settings_with_default_and_custom_api_url() -> None:
    settings = slack_settings(FULL)
    assert settings is not None
    assert (settings.bot_token, settings.signing_secret, settings.channel_id) == ("xoxb-1", "s3cret", "C0SUPPORT1")
    assert settings.api_base_url == DEFAULT_SLACK_API_BASE_URL
    custom = slack_settings({**FULL, "SLACK_API_BASE_URL": "http://127.0.0.1:9/api"})
    assert custom is not None and custom.api_base_url == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_SIGNING_SECRET": "s3cret"}, "SLACK_BOT_TOKEN"),
        ({**FULL, "SLACK_CHANNEL": "#support"}, "channel ID"),
    ],
)
def test_half_or_wrong_settings_are_refused_with_the_reason(env: dict[str, str], message: str) -> None:
    with pytest.raises(ChannelSettingsError, match=message):
        slack_settings(env)


def test_channel_id_is_optional() -> None:
    settings = slack_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s3cret"})
    assert settings is not None and settings.channel_id is None


def test_from_credentials_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CHANNEL", "SLACK_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert SlackChannel.from_credentials(None).enabled is False
    for name, value in {**FULL, "SLACK_API_BASE_URL": "http://127.0.0.1:9/api/"}.items():
        monkeypatch.setenv(name, value)
    channel = SlackChannel.from_credentials(None)
    assert channel.enabled and channel.slack_channel == "C0SUPPORT1"
    output = channel.get_output_channel("C0SUPPORT1", "1800000000.000100")
    assert isinstance(output, SlackThreadOutput)
    assert output.client.base_url == "http://127.0.0.1:9/api/"
    assert output.thread_id == "1800000000.000100"


def _event(**fields: object) -> dict:
    event = {"type": "message", "channel": "C0SUPPORT1", "user": "UCUST", "text": "hi", "ts": "1.1",
             "channel_type": "channel", **fields}
    return {"type": "event_callback", "event": event, "authorizations": [{"user_id": "UBOT"}]}


@pytest.fixture
def channel() -> SlackChannel:
    return SlackChannel("xoxb-1", "C0SUPPORT1", "s3cret", api_base_url="http://127.0.0.1:9/api/")


def test_a_top_level_message_starts_a_thread_conversation(channel: SlackChannel) -> None:
    turn = channel._turn_from_event(_event())
    assert turn is not None
    assert (turn.thread_ts, turn.sender_id, turn.bot_user) == ("1.1", "slack_C0SUPPORT1_1.1", "UBOT")


def test_a_reply_belongs_to_its_thread(channel: SlackChannel) -> None:
    turn = channel._turn_from_event(_event(ts="1.5", thread_ts="1.1", user="USOMEONE_ELSE"))
    assert turn is not None and turn.sender_id == "slack_C0SUPPORT1_1.1"


@pytest.mark.parametrize(
    "fields",
    [
        {"bot_id": "B1"},
        {"subtype": "bot_message"},
        {"subtype": "message_changed"},
        {"user": "UBOT"},
        {"channel": "C0ELSEWHERE"},
        {"type": "reaction_added"},
        {"type": "app_mention"},  # in the support channel the `message` event is answered instead
        {"text": ""},
        {"text": None},
        {"ts": 5},
    ],
)
def test_what_is_not_a_user_turn_is_ignored(channel: SlackChannel, fields: dict) -> None:
    assert channel._turn_from_event(_event(**fields)) is None


def test_direct_messages_and_mentions_elsewhere_count(channel: SlackChannel) -> None:
    assert channel._turn_from_event(_event(channel="D0DM", channel_type="im")) is not None
    assert channel._turn_from_event(_event(channel="C0ELSEWHERE", type="app_mention")) is not None


def test_a_button_click_is_a_turn_in_the_buttons_thread(channel: SlackChannel) -> None:
    payload = {"type": "block_actions", "user": {"id": "UCUST"}, "channel": {"id": "C0SUPPORT1"},
               "message": {"ts": "1.9", "thread_ts": "1.1"},
               "actions": [{"type": "button", "value": "/check_price"}]}
    turn = channel._turn_from_interaction(payload)
    assert turn is not None and (turn.text, turn.sender_id) == ("/check_price", "slack_C0SUPPORT1_1.1")
    assert channel._turn_from_interaction({**payload, "actions": []}) is None
    assert channel._turn_from_interaction({**payload, "type": "view_submission"}) is None
