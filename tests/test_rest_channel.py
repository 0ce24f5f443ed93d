"""The REST channel never leaves a turn silent: failures and slow turns get an honest message."""

from __future__ import annotations

import asyncio

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from channels.rest import honest_delay_text, never_silent


async def _turn(handler, budget: float = 5.0) -> list[dict]:  # type: ignore[no-untyped-def]
    collector = CollectingOutputChannel()
    await never_silent(handler, budget)(UserMessage("hi", collector, "customer-1"))
    return collector.messages


@pytest.mark.asyncio
async def test_a_normal_turn_is_left_alone() -> None:
    async def answers(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "Hello!")

    assert [m["text"] for m in await _turn(answers)] == ["Hello!"]


@pytest.mark.asyncio
async def test_a_silent_turn_gets_the_honest_message() -> None:
    async def silent(message: UserMessage) -> None:
        return None

    messages = await _turn(silent)
    assert [m["text"] for m in messages] == [honest_delay_text()]
    assert "support@brightdesk.example" in messages[0]["text"]


@pytest.mark.asyncio
async def test_a_failing_turn_gets_the_honest_message() -> None:
    async def fails(message: UserMessage) -> None:
        raise ConnectionError("action server unreachable")

    assert [m["text"] for m in await _turn(fails)] == [honest_delay_text()]


@pytest.mark.asyncio
async def test_a_hanging_turn_is_answered_within_the_budget() -> None:
    async def hangs(message: UserMessage) -> None:
        await asyncio.sleep(30)

    loop = asyncio.get_running_loop()
    started = loop.time()
    messages = await _turn(hangs, budget=0.2)
    assert [m["text"] for m in messages] == [honest_delay_text()]
    assert loop.time() - started < 5  # a bound on the test's own wait, not a speed claim
