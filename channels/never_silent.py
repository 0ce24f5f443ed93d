"""Never a silent turn, on every customer channel (REST, the website widget, Slack).

When the action server is down or an action fails, Rasa logs the error, drops the action's events
and goes on, often answering nothing; when an action hangs, the customer waits up to Rasa's
5-minute action timeout. :func:`never_silent` wraps a channel's message handler:

- a turn in which an action failed (Rasa's "Encountered an exception while running action" log
  line, noted for this turn by :class:`ActionFailureNoter`), which raised, or which takes longer
  than the reply budget (``GOLDEN_RULE_REPLY_BUDGET_SECONDS``, default 8) gets one honest message
  with the direct support contact, even after a partial answer. It promises nothing the system
  cannot keep: no "I'll get back to you". A slow turn keeps running; whatever it says later still
  reaches the customer (widget, Slack) and the history (REST answers once per request);
- a turn that ran fine but produced no reply (a gap in the dialogue, not a failure) gets a plain
  question back instead, and a warning in the log so the gap can be fixed;
- a paused conversation (handed to a person) stays quiet: the person answers.

Replies are counted where Rasa sends them, ``OutputChannel.send_response``: output channels mix in
:class:`CountsReplies`; Rasa's own ``CollectingOutputChannel`` (REST) is counted by its list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Sanic

from channels.settings import GuardSettings, guard_settings

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

# What Rasa 3.6 logs (rasa/core/processor.py, logger ``rasa.core.processor``) when an action fails.
ACTION_FAILURE_LOG = "Encountered an exception while running action"


@dataclass
class TurnState:
    """What the guard learns about the turn it is watching."""

    action_failed: bool = False


# Each guarded turn runs in its own asyncio task, which gets its own copy of this variable.
_current_turn: ContextVar[TurnState | None] = ContextVar("golden_rule_turn", default=None)


class ActionFailureNoter(logging.Filter):
    """Notes Rasa's action-failure log line against the turn being handled (it lets every record through)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mark the current turn failed when Rasa reports a failed action; never drop the record."""
        state = _current_turn.get()
        if state is not None and str(record.msg).startswith(ACTION_FAILURE_LOG):
            state.action_failed = True
        return True


def watch_action_failures() -> None:
    """Attach :class:`ActionFailureNoter` to Rasa's processor logger (once per process)."""
    processor_logger = logging.getLogger("rasa.core.processor")
    if not any(isinstance(f, ActionFailureNoter) for f in processor_logger.filters):
        processor_logger.addFilter(ActionFailureNoter())


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


def no_answer_text() -> str:
    """What the customer hears when a turn ran fine but the assistant had nothing to say to it."""
    return (
        "I'm not sure what you'd like me to do with that. Tell me what you need: an order (its number "
        "and what's wrong), a product by name, or ask for a person and I'll hand you over."
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
    watch_action_failures()

    async def handle(message: UserMessage) -> None:
        output = message.output_channel
        before = replies_sent(output)
        state = TurnState()
        token = _current_turn.set(state)
        try:
            task = asyncio.ensure_future(on_new_message(message))  # the task copies the context: sees `state`
        finally:
            _current_turn.reset(token)
        done, _ = await asyncio.wait({task}, timeout=settings.reply_budget_seconds)
        if task not in done:
            logger.error(
                "turn for conversation %s exceeded %.0f s; customer told",
                message.sender_id, settings.reply_budget_seconds,
            )
        elif task.exception() is not None:
            logger.error("turn for conversation %s failed: %r", message.sender_id, task.exception())
        elif state.action_failed:
            logger.error("an action failed in the turn for conversation %s; customer told", message.sender_id)
        elif replies_sent(output) > before or await is_paused(message.sender_id):
            return
        else:
            logger.warning("turn for conversation %s produced no reply (a dialogue gap)", message.sender_id)
            await _tell(output, message.sender_id, no_answer_text())
            return
        await _tell(output, message.sender_id, honest_delay_text(settings))

    return handle


async def _tell(output: OutputChannel, sender_id: str | None, text: str) -> None:
    try:
        await output.send_text_message(sender_id, text)
    except Exception:  # the channel itself is gone (e.g. Slack unreachable): nothing more to do
        logger.exception("could not tell conversation %s about the failed turn", sender_id)
