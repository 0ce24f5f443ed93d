"""No customer channel leaves a turn silent: failures, hangs and empty turns get an honest message."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage

from channels.never_silent import (
    CountsReplies,
    honest_delay_text,
    never_silent,
    no_answer_text,
    replies_sent,
    watch_action_failures,
)
from channels.settings import DEFAULT_REPLY_BUDGET_SECONDS, GuardSettings, guard_settings
from channels.slack import SlackThreadOutput
from channels.socketio import CountingSocketIOOutput

SETTINGS = GuardSettings(reply_budget_seconds=5.0, support_email="help@shop.example", support_hours="9–5")


async def _turn(handler, settings: GuardSettings = SETTINGS) -> list[dict]:  # type: ignore[no-untyped-def]
    collector = CollectingOutputChannel()
    await never_silent(handler, settings)(UserMessage("hi", collector, "customer-1"))
    return collector.messages


@pytest.mark.asyncio
async def test_a_normal_turn_is_left_alone() -> None:
    async def answers(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "Hello!"})

    assert [m["text"] for m in await _turn(answers)] == ["Hello!"]


@pytest.mark.asyncio
async def test_a_silent_turn_is_a_gap_not_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    async def silent(message: UserMessage) -> None:
        return None

    messages = await _turn(silent)
    assert [m["text"] for m in messages] == [no_answer_text()]
    assert "isn't responding" not in messages[0]["text"]  # nothing failed: no false apology
    assert "produced no reply (a dialogue gap)" in caplog.text


@pytest.mark.asyncio
async def test_a_failed_action_is_told_even_after_a_partial_answer() -> None:
    """Rasa logs a failed action and carries on; the customer must not take a half answer for the whole."""

    async def action_fails(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "Sorry about the trouble."})
        logging.getLogger("rasa.core.processor").error(
            "Encountered an exception while running action 'action_order_help'.Bot will continue, ...")

    messages = await _turn(action_fails)
    assert [m["text"] for m in messages] == ["Sorry about the trouble.", honest_delay_text(SETTINGS)]
    assert "help@shop.example (9–5)" in messages[1]["text"]


@pytest.mark.asyncio
async def test_a_failure_in_another_conversation_is_not_this_turns() -> None:
    other_failed = asyncio.Event()

    async def elsewhere() -> None:  # not a guarded turn: another task outside the guard
        logging.getLogger("rasa.core.processor").error("Encountered an exception while running action 'x'.")
        other_failed.set()

    async def answers(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "Hello!"})

    watch_action_failures()
    outside = asyncio.ensure_future(elsewhere())
    assert [m["text"] for m in await _turn(answers)] == ["Hello!"]
    await outside
    assert other_failed.is_set()


@pytest.mark.asyncio
async def test_a_failing_turn_gets_the_honest_message_and_the_log_names_the_conversation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails(message: UserMessage) -> None:
        raise ConnectionError("action server unreachable")

    assert [m["text"] for m in await _turn(fails)] == [honest_delay_text(SETTINGS)]
    assert "customer-1" in caplog.text and "action server unreachable" in caplog.text


@pytest.mark.asyncio
async def test_a_hanging_turn_is_answered_within_the_budget() -> None:
    async def hangs(message: UserMessage) -> None:
        await asyncio.sleep(30)

    loop = asyncio.get_running_loop()
    started = loop.time()
    quick = GuardSettings(reply_budget_seconds=0.2, support_email="a@b.example", support_hours="now")
    messages = await _turn(hangs, quick)
    assert [m["text"] for m in messages] == [honest_delay_text(quick)]
    assert loop.time() - started < 5  # a bound on the test's own wait, not a speed claim


@pytest.mark.asyncio
async def test_a_dead_output_channel_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    class Gone(CountsReplies):
        async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
            raise ConnectionError("slack unreachable")

    async def fails(message: UserMessage) -> None:
        raise RuntimeError("boom")

    await never_silent(fails, SETTINGS)(UserMessage("hi", Gone(), "customer-2"))
    assert "could not tell conversation customer-2" in caplog.text


class _Recorder(CountsReplies):
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.texts.append(text)


@pytest.mark.asyncio
async def test_replies_are_counted_where_rasa_sends_them() -> None:
    output = _Recorder()
    await output.send_response("c", {"text": "one"})
    await output.send_response("c", {"text": "two", "buttons": [{"title": "ok", "payload": "/affirm"}]})
    assert replies_sent(output) == 2
    assert replies_sent(OutputChannel()) == 0  # an uncounted channel looks silent: the safe side

    async def answers(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "Hello!"})

    guarded = _Recorder()
    await never_silent(answers, SETTINGS)(UserMessage("hi", guarded, "c"))
    assert guarded.texts == ["Hello!"]


def test_the_widget_and_slack_outputs_are_counted() -> None:
    assert issubclass(CountingSocketIOOutput, CountsReplies)
    assert issubclass(SlackThreadOutput, CountsReplies)
    assert replies_sent(CollectingOutputChannel()) == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, DEFAULT_REPLY_BUDGET_SECONDS), ("3", 3.0), ("0", DEFAULT_REPLY_BUDGET_SECONDS),
     ("-1", DEFAULT_REPLY_BUDGET_SECONDS), ("soon", DEFAULT_REPLY_BUDGET_SECONDS)],
)
def test_the_budget_is_a_positive_number_or_the_default(value: str | None, expected: float) -> None:
    env = {} if value is None else {"GOLDEN_RULE_REPLY_BUDGET_SECONDS": value}
    assert guard_settings(env).reply_budget_seconds == expected
    assert guard_settings(env).support_email == "support@brightdesk.example"
