"""The REST load client: scripted conversations over /webhooks/rest/webhook, A/B interleaved.

Each load phase (``senders`` concurrent conversations × ``messages`` each) is cut into chunks of a
few messages per sender; the chunks alternate between the two bots in an ABBA order, so load from
other work on the machine falls on both bots alike. A sender keeps its conversation (sender id,
position in its script) across chunks. Every request has a timeout; the number of requests is fixed
by the phase, so every loop ends.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Turn:
    """One scripted customer message, the kind of work it exercises and what its reply must contain."""

    text: str
    kind: str
    expect: str | None = None  # regex the joined reply texts must match; None: any non-empty reply


# Our conversations exercise real work: store lookups (price, verified order status), a policy
# answer and a handoff that writes a ticket. Expectations are the store's values (see DESIGN §2).
OURS_SCRIPT: tuple[Turn, ...] = (
    Turn("hi there", "greet"),
    Turn("how much is the Nimbus 14 laptop?", "price lookup", r"\$1,199\.00"),
    # Before verification, so the handoff form always asks how to reply (no stored preference yet).
    Turn("I want to talk to a person", "handoff: asks how to reply", r"(?i)chat|email|phone|BD-\d+"),
    Turn('/contact_preference{"contact_channel": "chat"}', "handoff: ticket stored", r"BD-\d+"),
    Turn("where is order 10042?", "order status: asks email", r"email"),
    Turn("dana@example.com", "order status: verified lookup", r"10042.*(UPS|estimate)"),
    Turn("what is your return policy?", "policy question", r"(?i)return"),
    Turn("what does the Dock Pro USB-C cost?", "price lookup", r"\$149\.00"),
    Turn("thanks, bye", "goodbye"),
)

# The stock bot's own typical messages (its domain: greet, moods, affirm/deny, goodbye).
PEER_SCRIPT: tuple[Turn, ...] = (
    Turn("hello", "greet"),
    Turn("I am feeling great", "mood"),
    Turn("hey there", "greet"),
    Turn("I am sad", "mood"),
    Turn("yes", "affirm"),
    Turn("goodbye", "goodbye"),
)


@dataclass
class Sample:
    """One request: which bot, how long, whether it failed and whether the reply was as expected."""

    bot: str
    kind: str
    seconds: float
    error: str | None = None
    expected: bool = True
    replies: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BotTarget:
    """A bot under load: its webhook, its script and the processes whose CPU it uses."""

    name: str
    url: str
    script: tuple[Turn, ...]
    pids: list[int]


@dataclass
class PhaseResult:
    """All samples of one bot in one phase, and the wall and CPU seconds its chunks took."""

    samples: list[Sample] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0


def reply_text(replies: list[dict[str, Any]]) -> str:
    """The texts of a bot's replies joined by spaces."""
    return " ".join(str(r.get("text", "")) for r in replies)


async def send(session: aiohttp.ClientSession, bot: BotTarget, sender: str, turn: Turn) -> Sample:
    """Post one message and time it until the whole JSON reply is read."""
    started = time.perf_counter()
    try:
        async with session.post(bot.url, json={"sender": sender, "message": turn.text}) as response:
            body = await response.json(content_type=None)
            seconds = time.perf_counter() - started
            if response.status != 200:
                return Sample(bot.name, turn.kind, seconds, error=f"HTTP {response.status}")
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        return Sample(bot.name, turn.kind, time.perf_counter() - started, error=type(exc).__name__)
    replies = body if isinstance(body, list) else []
    text = reply_text(replies)
    expected = bool(re.search(turn.expect, text, re.DOTALL)) if turn.expect else bool(replies)
    return Sample(bot.name, turn.kind, seconds, expected=expected, replies=replies)


class Conversation:
    """One sender's conversations with one bot: a position in the script, a new customer per pass.

    Each pass through the script is a fresh conversation (a new sender id), so a second pass is not
    answered from the slots of the first (an order already verified, a handoff already made).
    """

    def __init__(self, bot: BotTarget, label: str) -> None:
        self.bot = bot
        self.base = f"bench-{label}-{uuid.uuid4().hex[:10]}"
        self.position = 0

    @property
    def sender(self) -> str:
        """The sender id of the current pass through the script."""
        return f"{self.base}-{self.position // len(self.bot.script)}"

    async def run(self, session: aiohttp.ClientSession, count: int) -> list[Sample]:
        """Send the next ``count`` script messages one after another (a customer waits for replies)."""
        samples = []
        for _ in range(count):
            turn = self.bot.script[self.position % len(self.bot.script)]
            self.position += 1
            samples.append(await send(session, self.bot, self.sender, turn))
        return samples


async def run_phase(
    bots: list[BotTarget],
    senders: int,
    messages: int,
    chunk: int,
    cpu_reader: Callable[[list[int]], float],
    label: str,
) -> dict[str, PhaseResult]:
    """``senders`` concurrent conversations × ``messages`` messages per bot, bots alternating by chunk.

    Chunk ``i`` runs the bots in order A,B when ``i`` is even and B,A when odd (ABBA); within a
    chunk, all senders of one bot talk at once, each sending ``chunk`` messages in turn.
    """
    results = {bot.name: PhaseResult() for bot in bots}
    conversations = {bot.name: [Conversation(bot, f"{label}-{i}") for i in range(senders)] for bot in bots}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        sent = 0
        index = 0
        while sent < messages:
            count = min(chunk, messages - sent)
            order = bots if index % 2 == 0 else list(reversed(bots))
            for bot in order:
                cpu_before = cpu_reader(bot.pids)
                started = time.perf_counter()
                batches = await asyncio.gather(*(c.run(session, count) for c in conversations[bot.name]))
                result = results[bot.name]
                result.wall_seconds += time.perf_counter() - started
                result.cpu_seconds += cpu_reader(bot.pids) - cpu_before
                for batch in batches:
                    result.samples.extend(batch)
            sent += count
            index += 1
    return results


async def transcript(bot: BotTarget) -> list[tuple[str, str]]:
    """One pass through a bot's script as a single customer: (message, reply text) pairs."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        conversation = Conversation(bot, "transcript")
        lines = []
        for turn in bot.script:
            sample = await send(session, bot, conversation.sender, turn)
            lines.append((turn.text, sample.error or reply_text(sample.replies)))
        return lines
