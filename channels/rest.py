"""The REST channel for integrators: a clean 400 for a malformed body, and never a silent turn.

Rasa's stock ``RestInput`` calls ``request.json.get(...)``: a body that is a JSON list, a string or
nothing at all raises inside the handler and comes back as a 500. Here such a body gets a 400 that
says what is expected, and the channel keeps Rasa's route (``/webhooks/rest/webhook``).

Never silent: when the action server is down or fails, Rasa logs the error and answers nothing;
when an action hangs, the customer waits up to Rasa's 5-minute request timeout. Here a turn that
produced no reply (and is not a paused handoff, where silence is expected), or that takes longer
than ``GOLDEN_RULE_REPLY_BUDGET_SECONDS`` (default 8), gets an honest message with the direct
support contact. The slow turn keeps running; what it says later is in the conversation's history.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, Sanic
from sanic.exceptions import InvalidUsage as BadRequest  # a 400 (Sanic 21.12 name)
from sanic.request import Request

logger = logging.getLogger(__name__)

DEFAULT_BUDGET_SECONDS = 8.0
EXPECTED = 'expected a JSON object like {"sender": "customer-1", "message": "hello"}'


def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 with what is expected."""
    try:
        body = request.json
    except Exception as error:  # Sanic raises its own error type for unparsable JSON
        raise BadRequest(f"the body is not valid JSON: {EXPECTED}") from error
    if not isinstance(body, dict):
        raise BadRequest(f"the body is not a JSON object: {EXPECTED}")
    return body


class JsonRestInput(RestInput):
    """``POST /webhooks/rest/webhook``: Rasa's REST channel, strict about the body's shape."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    async def _extract_sender(self, req: Request) -> str | None:
        sender = json_object(req).get("sender")
        if sender is not None and not isinstance(sender, str | int):
            raise BadRequest(f"'sender' must be a string: {EXPECTED}")
        return None if sender is None else str(sender)

    def _extract_message(self, req: Request) -> str | None:
        message = json_object(req).get("message")
        if message is not None and not isinstance(message, str):
            raise BadRequest(f"'message' must be a string: {EXPECTED}")
        return message

    def _extract_input_channel(self, req: Request) -> str:
        channel = json_object(req).get("input_channel")
        return channel if isinstance(channel, str) and channel else self.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = json_object(request).get("metadata")
        return metadata if isinstance(metadata, dict) else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return super().blueprint(never_silent(on_new_message, reply_budget_seconds()))


def reply_budget_seconds() -> float:
    """How long a turn may take before the customer is told what is going on."""
    try:
        value = float(os.environ.get("GOLDEN_RULE_REPLY_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS))
    except ValueError:
        return DEFAULT_BUDGET_SECONDS
    return value if value > 0 else DEFAULT_BUDGET_SECONDS


def honest_delay_text() -> str:
    """What the customer hears when the assistant cannot finish a turn: the truth and a direct contact."""
    email = os.environ.get("GOLDEN_RULE_SUPPORT_EMAIL", "support@brightdesk.example")
    hours = os.environ.get("GOLDEN_RULE_SUPPORT_HOURS", "Mon–Fri 09:00–17:00 Central Time")
    return (
        "I can't complete that right now because part of our system isn't responding, so I won't guess. "
        f"You can reach the Brightdesk team directly at {email} ({hours}), or try me again in a few minutes."
    )


async def _is_paused(sender_id: str | None) -> bool:
    try:
        agent = Sanic.get_app("rasa_server").ctx.agent
        tracker = await agent.tracker_store.retrieve(sender_id) if sender_id else None
    except Exception:  # no app or tracker to ask: treat as not paused (an honest message is the safe side)
        return False
    return bool(tracker and tracker.is_paused())


def never_silent(
    on_new_message: Callable[[UserMessage], Awaitable[Any]], budget: float
) -> Callable[[UserMessage], Awaitable[None]]:
    """Wrap Rasa's message handler so every turn ends with at least one reply (see module docstring)."""

    def sent(collector: Any) -> int:
        messages = getattr(collector, "messages", None)
        return len(messages) if isinstance(messages, list) else 0

    async def handle(message: UserMessage) -> None:
        collector = message.output_channel
        before = sent(collector)
        task = asyncio.ensure_future(on_new_message(message))
        done, _ = await asyncio.wait({task}, timeout=budget)
        if task not in done:
            logger.error("turn for conversation %s exceeded %.0f s; customer told", message.sender_id, budget)
        elif task.exception() is not None:
            logger.error("turn for conversation %s failed: %r", message.sender_id, task.exception())
        elif sent(collector) > before or await _is_paused(message.sender_id):
            return
        await collector.send_text_message(message.sender_id, honest_delay_text())

    return handle
