"""The input gate in front of Rasa, on every channel (REST, widget, Slack, ``rasa shell``).

Every channel hands its messages to ``Agent.handle_message`` (Rasa's channel blueprint calls it
for each ``UserMessage``), so the gate sits there: :func:`install` wraps it once per process.
Before the tracker store or NLU sees anything, the sender id and the text are checked by
:mod:`golden_rule.input_gate`:

- a sender id that is not acceptable is dropped with a warning (channels that let a caller choose
  the id, REST, refuse it earlier with a 400; the widget and Slack make their own ids);
- text that is refused gets the refusal's sentence for a customer, through the channel's own
  output, and nothing else happens: no tracker is read or written, nothing is parsed;
- accepted text goes on cleaned (normalised, stray control characters gone, slash commands that
  are not our own buttons' payloads turned into words); metadata larger than 4 KB is dropped
  (it would be stored with every message of the conversation).

The REST channel checks the same rules itself to answer integrators with a 4xx
(``channels/rest.py``); the gate then sees only clean input.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage

from channels.settings import guard_settings
from golden_rule.input_gate import MAX_METADATA_BYTES, Refusal, check_sender, clean_message

logger = logging.getLogger(__name__)

HandleMessage = Callable[[Agent, UserMessage], Awaitable[Any]]


def gated(handle_message: HandleMessage) -> HandleMessage:
    """``Agent.handle_message`` behind the input gate (see the module docstring)."""

    support_email = guard_settings().support_email  # read once, not per message

    @functools.wraps(handle_message)
    async def handle(agent: Agent, message: UserMessage) -> Any:
        if check_sender(message.sender_id) is not None:
            logger.warning("input gate: dropped a message from %s with an unacceptable sender id",
                           message.input_channel or "an unknown channel")
            return None
        verdict = clean_message(message.text, support_email)
        if isinstance(verdict, Refusal):
            logger.info("input gate: refused a message in conversation %s (%s)", message.sender_id, verdict.reason)
            try:
                await message.output_channel.send_response(message.sender_id, {"text": verdict.customer_text})
            except Exception:  # the channel itself is gone: nothing more to say
                logger.exception("input gate: could not answer conversation %s", message.sender_id)
            return None
        message.text = verdict
        if not _small_metadata(message.metadata):
            logger.info("input gate: dropped oversized metadata in conversation %s", message.sender_id)
            message.metadata = {}
        return await handle_message(agent, message)

    handle.golden_rule_gate = True  # type: ignore[attr-defined]
    return handle


def _small_metadata(metadata: Any) -> bool:
    if not metadata:
        return True
    try:
        return len(json.dumps(metadata, ensure_ascii=False).encode("utf-8")) <= MAX_METADATA_BYTES
    except (TypeError, ValueError, UnicodeEncodeError):
        return False


def install() -> None:
    """Put the gate in front of ``Agent.handle_message`` in this process (idempotent)."""
    if not getattr(Agent.handle_message, "golden_rule_gate", False):
        Agent.handle_message = gated(Agent.handle_message)  # type: ignore[method-assign]
        logger.debug("input gate installed in front of Agent.handle_message")
