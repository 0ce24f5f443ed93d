"""Never a silent turn, on every customer channel (REST, the website widget, Slack).

When the action server is down or fails, Rasa logs the error and answers nothing; when an action
hangs, the customer waits up to Rasa's 5-minute action timeout. :func:`never_silent` wraps a
channel's message handler so that a turn which produced no reply (and is not a paused handoff,
where silence is expected: a person answers), which failed, or which takes longer than the reply
budget (``GOLDEN_RULE_REPLY_BUDGET_SECONDS``, default 8) gets one honest message with the direct
support contact. It promises nothing the system cannot keep: no "I'll get back to you". The slow
turn keeps running; whatever it says later still reaches the customer and the history.

Replies are counted where Rasa sends them, ``OutputChannel.send_response``: output channels mix in
:class:`CountsReplies`; Rasa's own ``CollectingOutputChannel`` (REST) is counted by its list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Sanic

from channels.settings import GuardSettings, guard_settings

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class CountsReplies(OutputChannel):
    """Mix-in for an output channel: counts the bot messages Rasa sends through it."""

    replies_sent: int = 0

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Count, then send as the channel always does."""
        self.replies_sent += 1
        await super().send_response(recipient_id, message)


def replies_sent(output: OutputChannel) -> int:
    """How many bot messages have gone out through ``output`` so far."""
    messages = getattr(output, "messages", None)
    if isinstance(messages, list):  # CollectingOutputChannel keeps every message it was given
        return len(messages)
    return output.replies_sent if isinstance(output, CountsReplies) else 0


def honest_delay_text(settings: GuardSettings | None = None) -> str:
    """What the customer hears when the assistant cannot finish a turn: the truth and a direct contact."""
    settings = settings or guard_settings()
    return (
        "I can't complete that right now because part of our system isn't responding, so I won't guess. "
        f"You can reach the Brightdesk team directly at {settings.support_email} ({settings.support_hours}), "
        "or try me again in a few minutes."
    )


async def is_paused(sender_id: str | None) -> bool:
    """Whether the conversation is handed to a person (then silence from the bot is expected)."""
    try:
        agent = Sanic.get_app("rasa_server").ctx.agent
        tracker = await agent.tracker_store.retrieve(sender_id) if sender_id else None
    except Exception:  # no app or tracker to ask: treat as not paused (an honest message is the safe side)
        return False
    return bool(tracker and tracker.is_paused())


def never_silent(
    on_new_message: OnNewMessage, settings: GuardSettings | None = None
) -> Callable[[UserMessage], Awaitable[None]]:
    """Wrap Rasa's message handler so every turn ends with at least one reply (see module docstring).

    The wrapped handler never raises: a failure is logged with the conversation id and answered.
    """
    settings = settings or guard_settings()

    async def handle(message: UserMessage) -> None:
        output = message.output_channel
        before = replies_sent(output)
        task = asyncio.ensure_future(on_new_message(message))
        done, _ = await asyncio.wait({task}, timeout=settings.reply_budget_seconds)
        if task not in done:
            logger.error(
                "turn for conversation %s exceeded %.0f s; customer told",
                message.sender_id, settings.reply_budget_seconds,
            )
        elif task.exception() is not None:
            logger.error("turn for conversation %s failed: %r", message.sender_id, task.exception())
        elif replies_sent(output) > before or await is_paused(message.sender_id):
            return
        else:
            logger.error("turn for conversation %s produced no reply; customer told", message.sender_id)
        try:
            await output.send_text_message(message.sender_id, honest_delay_text(settings))
        except Exception:  # the channel itself is gone (e.g. Slack unreachable): nothing more to do
            logger.exception("could not tell conversation %s about the failed turn", message.sender_id)

    return handle
