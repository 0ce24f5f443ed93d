"""The Slack channel: Rasa's ``SlackInput`` made safe for the Events API as Slack uses it.

Configured from the environment (:func:`channels.settings.slack_settings`), so
``credentials.yml`` needs no secrets and the channel is off, not broken, when Slack is not set
up. Compared with the stock connector it

- checks the signature first, drops every retry, wants a JSON object and answers
  ``url_verification`` as Slack documents (``channels/slack_requests.py``, shared with the staff
  channel);
- answers in threads, one conversation per thread: the sender id is
  ``slack_<channel>_<thread ts>``, whoever writes in the thread;
- ignores bot messages (``bot_id``, any ``subtype`` such as ``bot_message`` or
  ``message_changed``), unknown event types, and channels other than the support channel,
  direct messages and mentions; in the support channel only ``message`` events count, so a
  mention there is not answered twice;
- sends through a ``slack_sdk`` client whose ``base_url`` is ``SLACK_API_BASE_URL``;
- never leaves a turn silent: a dead, failing or hanging action server gets an honest message
  in the thread (``channels/never_silent.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.slack import SlackBot, SlackInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from channels import rasa_fixes
from channels.never_silent import CountsReplies, never_silent
from channels.settings import DEFAULT_SLACK_API_BASE_URL, slack_settings
from channels.slack_requests import bot_user_id, posted_by_a_bot, read_slack_request

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


@dataclass(frozen=True)
class SlackTurn:
    """One user turn taken from a Slack request: what was said, by whom, in which thread."""

    text: str
    user: str
    channel: str
    thread_ts: str
    bot_user: str | None

    @property
    def sender_id(self) -> str:
        """The conversation key: one conversation per Slack thread."""
        return f"slack_{self.channel}_{self.thread_ts}"


class SlackThreadOutput(CountsReplies, SlackBot):
    """Posts the bot's messages into one Slack thread through a configurable Web API URL."""

    def __init__(
        self,
        token: str,
        slack_channel: str | None,
        thread_id: str | None,
        proxy: str | None = None,
        api_base_url: str = DEFAULT_SLACK_API_BASE_URL,
    ) -> None:
        super().__init__(token, slack_channel, thread_id, proxy)
        self.client = AsyncWebClient(token, proxy=proxy, base_url=api_base_url)

    async def _post_message(self, channel: str, **kwargs: Any) -> None:
        """``chat.postMessage`` in this thread; drops the legacy ``as_user``/``type`` arguments."""
        kwargs.pop("as_user", None)
        kwargs.pop("type", None)
        if self.thread_id:
            kwargs["thread_ts"] = self.thread_id
        await self.client.chat_postMessage(channel=channel, **kwargs)


class SlackChannel(SlackInput):
    """Slack Events API input channel configured from the environment; see the module docstring."""

    @classmethod
    def name(cls) -> str:
        """Keep Rasa's name: the request URL is ``/webhooks/slack/webhook``."""
        return "slack"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SlackChannel:
        """Build the channel from the environment; ``credentials.yml`` carries no values for it."""
        rasa_fixes.install()
        settings = slack_settings()
        if settings is None:
            logger.info("Slack channel disabled: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set.")
            return cls(slack_token="", enabled=False)
        return cls(
            slack_token=settings.bot_token,
            slack_channel=settings.channel_id,
            slack_signing_secret=settings.signing_secret,
            api_base_url=settings.api_base_url,
        )

    def __init__(
        self,
        slack_token: str,
        slack_channel: str | None = None,
        slack_signing_secret: str = "",
        api_base_url: str = DEFAULT_SLACK_API_BASE_URL,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self.api_base_url = api_base_url
        self.verifier = SignatureVerifier(slack_signing_secret) if enabled else None
        super().__init__(
            slack_token,
            slack_channel,
            use_threads=True,
            slack_signing_secret=slack_signing_secret,
            conversation_granularity="thread",
        )

    def _validate_credentials(self) -> None:
        """A disabled channel needs no signing secret; an enabled one does (checked by Rasa)."""
        if self.enabled:
            super()._validate_credentials()

    def get_output_channel(self, channel: str | None = None, thread_id: str | None = None) -> OutputChannel:
        """Where replies go: the given thread, or the support channel for messages from outside."""
        return SlackThreadOutput(
            self.slack_token, channel or self.slack_channel, thread_id, self.proxy, self.api_base_url
        )

    # --- reading requests -------------------------------------------------------------------

    def _turn_from_event(self, payload: dict[str, Any]) -> SlackTurn | None:
        """The user turn in an ``event_callback``, or ``None`` when the event is to be ignored."""
        event = payload.get("event")
        if not isinstance(event, dict):
            return None
        event_type = event.get("type")
        if event_type not in {"message", "app_mention"}:
            return None
        if posted_by_a_bot(event):
            return None
        text, user, channel, ts = (event.get(key) for key in ("text", "user", "channel", "ts"))
        if not all(isinstance(value, str) and value for value in (text, user, channel, ts)):
            return None
        bot_user = bot_user_id(payload)
        if user == bot_user:
            return None
        in_support_channel = self.slack_channel is not None and channel == self.slack_channel
        if event_type == "message":
            if not (in_support_channel or event.get("channel_type") == "im"):
                return None
        elif in_support_channel:
            return None  # the `message` event for the same post is answered instead
        thread_ts = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else ts
        return SlackTurn(text=text, user=user, channel=channel, thread_ts=thread_ts, bot_user=bot_user)

    def _turn_from_interaction(self, payload: dict[str, Any]) -> SlackTurn | None:
        """The user turn in a button click (``block_actions``), or ``None``."""
        actions = payload.get("actions")
        if payload.get("type") != "block_actions" or not isinstance(actions, list) or not actions:
            return None
        action = actions[0]
        if not isinstance(action, dict) or not self._is_interactive_message(payload):
            return None
        text = self._get_interactive_response(action)
        user = (payload.get("user") or {}).get("id")
        channel = (payload.get("channel") or {}).get("id")
        message = payload.get("message") or {}
        thread_ts = message.get("thread_ts") or message.get("ts")
        if not all(isinstance(value, str) and value for value in (text, user, channel, thread_ts)):
            return None
        return SlackTurn(text=text, user=user, channel=channel, thread_ts=thread_ts, bot_user=None)

    # --- answering ----------------------------------------------------------------------------

    def _answer(self, turn: SlackTurn, on_new_message: OnNewMessage) -> None:
        """Hand the turn to Rasa in the background; Slack wants its 200 within 3 seconds."""
        text = self._sanitize_user_message(turn.text, [turn.bot_user] if turn.bot_user else [])
        if not text:
            return
        metadata = {"out_channel": turn.channel, "thread_id": turn.thread_ts, "slack_user": turn.user}
        message = UserMessage(
            text,
            self.get_output_channel(turn.channel, turn.thread_ts),
            turn.sender_id,
            input_channel=self.name(),
            metadata=metadata,
        )
        task = asyncio.create_task(on_new_message(message))
        self._background_tasks.add(task)
        task.add_done_callback(self._background_tasks.discard)

    async def handle_request(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        """Everything Slack posts to the request URL: checks, then events or button clicks."""
        if not self.enabled:
            return response.json(
                {"error": "Slack is not configured on this server (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)."},
                status=HTTPStatus.NOT_FOUND,
            )
        assert self.verifier is not None
        payload = read_slack_request(request, self.verifier, "the customer channel", allow_form=True)
        if isinstance(payload, HTTPResponse):
            return payload
        kind = payload.get("type")
        if kind == "event_callback":
            turn = self._turn_from_event(payload)
        elif kind == "block_actions":
            turn = self._turn_from_interaction(payload)
        else:
            turn = None
        if turn is None:
            logger.debug("Ignoring a Slack request of type %r that is not a user turn for this bot.", kind)
            return response.text("")
        self._answer(turn, on_new_message)
        return response.text("")

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """``GET /webhooks/slack/`` (health) and ``POST /webhooks/slack/webhook`` (Slack's request URL)."""
        slack_webhook = Blueprint("slack_webhook", __name__)
        guarded = never_silent(on_new_message)

        @slack_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.enabled else "disabled"})

        @slack_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return await self.handle_request(request, guarded)

        return slack_webhook
