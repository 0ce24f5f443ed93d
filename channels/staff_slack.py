"""The staff side of live handoff: agent replies written in a ticket's Slack thread reach the customer.

Each escalation is a thread in the staff channel (``GOLDEN_RULE_STAFF_SLACK_CHANNEL``, posted by
``actions/services/slack_handoff.py``). Slack sends every message in that channel to this input
channel's request URL, ``POST /webhooks/staff_slack/webhook`` (Events API, ``message.channels``).

Rules it keeps:

- off, not broken, without settings (``from_credentials`` with no staff channel): every request is
  answered 404 with what to set; a half-configured Slack refuses to start (ChannelSettingsError);
- the signature is checked before anything else (401), retries are dropped so a reply is never
  delivered twice, the body must be a JSON object, ``url_verification`` is answered
  (``channels/slack_requests.py``, shared with the customer channel);
- only human replies inside a thread of the staff channel count: bot messages (the assistant's own
  posts and relays), edits and other subtypes, top-level posts, other channels and unknown event
  types are ignored with 200;
- the thread is mapped to its ticket through the store (``tickets.slack_channel`` +
  ``slack_thread_ts``); a thread with no ticket, or a closed ticket, gets a clear answer in the
  thread and nothing reaches a customer;
- a reply is added to the customer's conversation as a ``bot`` event and sent to the customer's
  latest channel (Socket.IO widget, Slack thread, or kept in the tracker for REST), also while the
  conversation is paused; then it is appended to the ticket transcript;
- ``resolve`` (the whole message, any case) resolves the ticket: the conversation is resumed, then
  the intent ``EXTERNAL_handoff_resolved`` is triggered (after the resume: it is ignored while
  paused), so the assistant says it is back and asks for a rating; the thread gets a confirmation;
- Slack wants a 200 within three seconds, so the work runs in a background task after the answer.

**Why in-process and not through the rasa HTTP API.** This channel runs inside the rasa server, so
it uses the same agent the HTTP API would use (``request.app.ctx.agent``: its lock store, processor
and tracker store, exactly as ``POST /conversations/{id}/tracker/events?output_channel=latest&
execute_side_effects=true`` and ``/trigger_intent`` do). Going through HTTP would add an API token to
manage and ``--enable-api`` as a requirement for Slack, a loopback call to ourselves, and it could not
reach a customer in a Slack thread: the API's ``output_channel=latest`` calls ``get_output_channel()``
without the thread, while here the thread is taken from the customer's last message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, ConversationResumed
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from actions.services import slack_handoff
from actions.services.handoff import STATUS_OPEN
from actions.services.slack_handoff import StaffSlackSettings, ThreadTicket
from actions.store.db import session_scope
from channels.slack_requests import bot_user_id, posted_by_a_bot, read_slack_request

logger = logging.getLogger(__name__)

RESOLVE_COMMAND = "resolve"
RESOLVED_INTENT = "EXTERNAL_handoff_resolved"
SLACK_TIMEOUT_SECONDS = 10
T = TypeVar("T")


@dataclass(frozen=True)
class AgentReply:
    """A person's message in a ticket thread of the staff channel."""

    text: str
    user: str
    channel: str
    thread_ts: str

    @property
    def is_resolve(self) -> bool:
        return self.text.strip().lower() == RESOLVE_COMMAND


def slack_text(text: str) -> str:
    """Slack's escaped message text as the customer should read it (``&lt;`` → ``<`` ...)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


async def in_thread(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking store call off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args))


def _find_ticket(channel: str, thread_ts: str) -> ThreadTicket | None:
    with session_scope() as session:
        return slack_handoff.ticket_for_thread(session, channel, thread_ts)


def _record_reply(reference: str, user: str, text: str) -> None:
    with session_scope() as session:
        slack_handoff.append_to_transcript(session, reference, f"agent (Slack user {user})", text,
                                           dt.datetime.now(dt.timezone.utc))


def _resolve(reference: str, user: str) -> bool:
    with session_scope() as session:
        return slack_handoff.resolve_ticket(session, reference, f"Slack user {user}", dt.datetime.now(dt.timezone.utc))


class StaffSlackInput(InputChannel):
    """Slack Events API endpoint for the staff channel; see the module docstring for its rules."""

    @classmethod
    def name(cls) -> str:
        """The request URL is ``/webhooks/staff_slack/webhook``."""
        return "staff_slack"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> StaffSlackInput:
        """Built from the environment (``credentials.yml`` holds no values for it)."""
        settings = slack_handoff.staff_slack_settings()
        if settings is None:
            logger.info("Staff Slack channel disabled: %s is not set.", slack_handoff.STAFF_CHANNEL_VARIABLE)
        return cls(settings)

    def __init__(self, settings: StaffSlackSettings | None, client: AsyncWebClient | None = None) -> None:
        self.settings = settings
        self.verifier = SignatureVerifier(settings.signing_secret) if settings else None
        self.client = client or (
            AsyncWebClient(token=settings.bot_token, base_url=settings.api_base_url, timeout=SLACK_TIMEOUT_SECONDS)
            if settings else None
        )
        self._background_tasks: set[asyncio.Task] = set()

    # --- reading requests -------------------------------------------------------------------

    def agent_reply(self, payload: dict[str, Any]) -> AgentReply | None:
        """The agent reply in an ``event_callback``, or ``None`` when the event is to be ignored."""
        assert self.settings is not None
        event = payload.get("event")
        if not isinstance(event, dict) or event.get("type") != "message":
            return None
        if posted_by_a_bot(event):
            return None
        text, user, channel, ts, thread_ts = (event.get(key) for key in ("text", "user", "channel", "ts", "thread_ts"))
        if not all(isinstance(value, str) and value for value in (text, user, channel, ts, thread_ts)):
            return None
        if channel != self.settings.channel_id or thread_ts == ts:
            return None  # another channel, or a top-level post rather than a reply in a ticket thread
        if bot_user_id(payload) == user:
            return None  # the bot's own message
        text = slack_text(text)
        return AgentReply(text=text, user=user, channel=channel, thread_ts=thread_ts) if text else None

    async def handle_request(self, request: Request) -> HTTPResponse:
        """Everything Slack posts to the request URL: checks first, then the reply in the background."""
        if self.settings is None:
            return response.json(
                {"error": f"Live handoff in Slack is not configured (set {slack_handoff.STAFF_CHANNEL_VARIABLE}, "
                          "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)."},
                status=HTTPStatus.NOT_FOUND,
            )
        assert self.verifier is not None
        payload = read_slack_request(request, self.verifier, "the staff channel")
        if isinstance(payload, HTTPResponse):
            return payload
        reply = self.agent_reply(payload) if payload.get("type") == "event_callback" else None
        if reply is None:
            return response.text("")
        self._in_background(self.handle_reply(request.app.ctx, reply))
        return response.text("")

    def _in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background_tasks.add(task)
        task.add_done_callback(self._background_tasks.discard)

    # --- acting on a reply ----------------------------------------------------------------------

    async def handle_reply(self, ctx: Any, reply: AgentReply) -> None:
        """Deliver a reply or resolve, and say in the thread what happened. Never raises."""
        try:
            ticket = await in_thread(_find_ticket, reply.channel, reply.thread_ts)
            if ticket is None:
                await self.say(reply, "This thread is not linked to a ticket, so nothing was sent to a customer. "
                                      "Reply inside the thread of the ticket you are answering.")
                return
            if ticket.status != STATUS_OPEN:
                await self.say(reply, f"Ticket {ticket.reference} is {ticket.status}, so this message was not sent "
                                      "to the customer. If they need more help, they can ask in the chat again.")
                return
            if not ticket.conversation_id:
                await self.say(reply, f"Ticket {ticket.reference} has no live conversation, so this message was not "
                                      "sent. Reach the customer with the contact details above.")
                return
            agent: Agent | None = getattr(ctx, "agent", None)
            if agent is None or not agent.is_ready():
                await self.say(reply, "The assistant has no model loaded right now, so this message was not sent. "
                                      "Try again in a minute.")
                return
            channels: list[InputChannel] = getattr(ctx, "input_channels", None) or []
            if reply.is_resolve:
                await resume_and_ask_for_rating(agent, channels, ticket.conversation_id)
                await in_thread(_resolve, ticket.reference, reply.user)
                await self.say(reply, f"Ticket {ticket.reference} is resolved. The assistant has the conversation "
                                      "back and asked the customer for a rating.")
                logger.info("ticket %s resolved from Slack", ticket.reference)
                return
            await deliver(agent, channels, ticket.conversation_id, reply.text)
            await in_thread(_record_reply, ticket.reference, reply.user, reply.text)
        except Exception as exc:  # a background task must report, not die silently
            logger.error("staff reply in Slack thread %s failed: %s", reply.thread_ts, exc.__class__.__name__)
            await self.say(reply, "Something went wrong and this message may not have reached the customer. "
                                  "Please send it again; if it keeps failing, use `make tickets`.")

    async def say(self, reply: AgentReply, text: str) -> None:
        """Post ``text`` in the reply's thread; a failure is logged, not raised."""
        assert self.client is not None
        try:
            await self.client.chat_postMessage(channel=reply.channel, thread_ts=reply.thread_ts, text=text)
        except Exception as exc:  # Slack being down must not break the handler
            logger.warning("could not answer in Slack thread %s: %s", reply.thread_ts, exc.__class__.__name__)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """``GET /webhooks/staff_slack/`` (health) and ``POST /webhooks/staff_slack/webhook`` (Slack's request URL).

        ``on_new_message`` is unused: agent replies are not customer messages and must not be answered
        by the assistant.
        """
        staff_webhook = Blueprint("staff_slack_webhook", __name__)

        @staff_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.settings else "disabled"})

        @staff_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return await self.handle_request(request)

        return staff_webhook


# ---------------------------------------------------------------------------------------------
# the customer's conversation (what the HTTP API's append-events and trigger-intent endpoints do)


def customer_output_channel(channels: list[InputChannel], tracker: DialogueStateTracker) -> OutputChannel:
    """Where the customer reads the conversation now: their latest input channel.

    For the Slack customer channel the thread comes from the latest message's metadata (the
    channel's ``out_channel``/``thread_id``); channels that cannot push (REST) give a collecting
    channel, so the message is kept in the tracker, where REST clients read it.
    """
    name = tracker.get_latest_input_channel()
    metadata = (tracker.latest_message.metadata if tracker.latest_message else None) or {}
    for channel in channels:
        if channel.name() != name:
            continue
        if name == "slack" and metadata.get("out_channel"):
            output = channel.get_output_channel(metadata.get("out_channel"), metadata.get("thread_id"))  # type: ignore[call-arg]
        else:
            output = channel.get_output_channel()
        if output is not None:
            return output
    return CollectingOutputChannel()


async def deliver(agent: Agent, channels: list[InputChannel], conversation_id: str, text: str) -> None:
    """Add ``text`` as a bot message to the conversation and send it to the customer's channel."""
    assert agent.processor is not None and agent.tracker_store is not None
    async with agent.lock_store.lock(conversation_id):
        tracker = await agent.processor.fetch_tracker_with_initial_session(conversation_id)
        event = BotUttered(text, metadata={"handoff": "staff_slack"})
        tracker.update(event, agent.domain)
        await agent.processor.execute_side_effects([event], tracker, customer_output_channel(channels, tracker))
        await agent.tracker_store.save(tracker)


async def resume_and_ask_for_rating(agent: Agent, channels: list[InputChannel], conversation_id: str) -> None:
    """Un-pause the conversation, then trigger ``EXTERNAL_handoff_resolved`` (ignored while paused)."""
    assert agent.processor is not None
    async with agent.lock_store.lock(conversation_id):
        tracker = await agent.processor.fetch_tracker_with_initial_session(conversation_id)
        tracker.update(ConversationResumed(), agent.domain)
        # Saves the tracker, the resume event included.
        await agent.trigger_intent(RESOLVED_INTENT, [], customer_output_channel(channels, tracker), tracker)
