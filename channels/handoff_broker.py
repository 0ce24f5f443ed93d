"""Event broker that relays a customer's messages into their ticket's Slack thread.

Configured in ``endpoints.yml``::

    event_broker:
      type: channels.handoff_broker.SlackThreadRelayBroker

Rasa publishes every new tracker event to the broker when it saves a conversation. For a ``user``
event of a conversation with an open ticket that has a thread in the staff channel (see
``actions/services/slack_handoff.py``), the text is posted into that thread as "Customer: ..."
and appended to the ticket's transcript, so the person answering sees what the customer writes
while the assistant is paused.

Rules it keeps:
- a no-op without live-handoff settings (``GOLDEN_RULE_STAFF_SLACK_CHANNEL`` and the Slack app);
  a configuration error is logged and also means no-op: the broker never stops rasa from starting;
- nothing connects at import or creation: Slack's client opens a connection per call;
- :meth:`publish` is called synchronously by the tracker store inside rasa's event loop: it only
  schedules a task and returns; the store lookup runs in a worker thread, the post with
  slack_sdk's ``AsyncWebClient``; every failure is logged (conversation id, error kind; never the
  customer's text) and never raised into rasa;
- only messages sent after the ticket was opened are relayed (the transcript in the thread already
  holds the earlier ones), and intent payloads such as ``/affirm`` (button clicks) are skipped;
- :meth:`close` waits briefly for relays in flight.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from asyncio import AbstractEventLoop
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig
from slack_sdk.web.async_client import AsyncWebClient

from actions.services import slack_handoff
from actions.services.slack_handoff import StaffSlackSettings, ThreadTicket
from actions.store.db import session_scope
from channels import rasa_fixes

logger = logging.getLogger(__name__)

SLACK_TIMEOUT_SECONDS = 10
CLOSE_TIMEOUT_SECONDS = 5
MAX_RELAY_CHARS = 3_000


def _thread_for(conversation_id: str, sent_at: dt.datetime, text: str) -> ThreadTicket | None:
    """The open ticket thread to relay a message sent at ``sent_at`` to; records it on the ticket."""
    with session_scope() as session:
        ticket = slack_handoff.open_thread_for_conversation(session, conversation_id)
        if ticket is None or sent_at.replace(tzinfo=None) < ticket.created_at:
            return None
        slack_handoff.append_to_transcript(session, ticket.reference, "Customer", text, sent_at)
        return ticket


class SlackThreadRelayBroker(EventBroker):
    """Relays customers' messages into their live-handoff Slack thread; see the module docstring."""

    def __init__(self, settings: StaffSlackSettings | None, client: AsyncWebClient | None = None) -> None:
        self.settings = settings
        self.client = client or (
            AsyncWebClient(token=settings.bot_token, base_url=settings.api_base_url, timeout=SLACK_TIMEOUT_SECONDS)
            if settings else None
        )
        self._tasks: set[asyncio.Task] = set()

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: EndpointConfig, event_loop: AbstractEventLoop | None = None
    ) -> SlackThreadRelayBroker:
        """The broker from ``endpoints.yml`` (no options: the settings come from the environment).

        Also gives the server Rasa's local fixes (``channels/rasa_fixes.py``): ``rasa shell``
        loads this broker but none of our input channels.
        """
        rasa_fixes.install()
        settings = slack_handoff.live_settings()
        if settings is None:
            logger.info("Slack thread relay is off: live handoff in Slack is not configured.")
        return cls(settings)

    def publish(self, event: dict[str, Any]) -> None:
        """Schedule the relay of a customer message; return at once, never raise."""
        if self.settings is None or event.get("event") != "user":
            return
        text, conversation_id = event.get("text"), event.get("sender_id")
        if not isinstance(text, str) or not text.strip() or text.startswith("/") or not conversation_id:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            logger.warning("relay of a message of %s skipped: no running event loop", conversation_id)
            return
        stamp = event.get("timestamp")
        sent_at = (dt.datetime.fromtimestamp(stamp, dt.timezone.utc) if isinstance(stamp, int | float)
                   else dt.datetime.now(dt.timezone.utc))
        task = loop.create_task(self.relay(str(conversation_id), text.strip(), sent_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def relay(self, conversation_id: str, text: str, sent_at: dt.datetime) -> None:
        """Post one customer message into the conversation's ticket thread, if it has one."""
        assert self.client is not None
        try:
            loop = asyncio.get_running_loop()
            ticket = await loop.run_in_executor(None, _thread_for, conversation_id, sent_at, text)
            if ticket is None:
                return
            await self.client.chat_postMessage(
                channel=ticket.channel, thread_ts=ticket.thread_ts, text=f"*Customer:* {text[:MAX_RELAY_CHARS]}"
            )
        except Exception as exc:  # the broker must never break rasa's save path
            logger.warning("relay of a message of %s to Slack failed: %s", conversation_id, exc.__class__.__name__)

    def is_ready(self) -> bool:
        """Always ready: there is no connection to wait for."""
        return True

    async def close(self) -> None:
        """Give relays in flight a moment to finish."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=CLOSE_TIMEOUT_SECONDS)
