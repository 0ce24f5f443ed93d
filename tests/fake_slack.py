"""A small stand-in for the Slack Web API on 127.0.0.1, for the Slack channel's tests.

It answers ``auth.test`` and ``chat.postMessage`` the way Slack does (``{"ok": true, ...}``),
records every call with its arguments and bearer token, and runs an aiohttp server in a
background thread so synchronous tests can use it. Point the bot at it with
``SLACK_API_BASE_URL=<fake.base_url>``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.channel_servers import free_port


@dataclass
class ApiCall:
    """One Web API call the bot made."""

    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class FakeSlack:
    """The fake Web API: start it, let the bot talk to it, read ``calls``."""

    bot_user_id: str = "UBOT0001"
    calls: list[ApiCall] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._ts = 1_700_000_000

    @property
    def base_url(self) -> str:
        """What ``SLACK_API_BASE_URL`` must be set to."""
        return f"http://127.0.0.1:{self.port}/api/"

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            args = await request.json()
        else:
            args = dict(await request.post())
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        with self._lock:
            self.calls.append(ApiCall(method, args, token))
            self._ts += 1
            ts = f"{self._ts}.000100"
        if method == "auth.test":
            return web.json_response({"ok": True, "user_id": self.bot_user_id, "bot_id": "BBOT0001", "team": "Test"})
        if method == "chat.postMessage":
            message = {"type": "message", "text": args.get("text", ""), "ts": ts, "bot_id": "BBOT0001"}
            if args.get("thread_ts"):
                message["thread_ts"] = args["thread_ts"]
            return web.json_response({"ok": True, "channel": args.get("channel"), "ts": ts, "message": message})
        return web.json_response({"ok": False, "error": "unknown_method"})

    def start(self) -> FakeSlack:
        """Start serving in the background thread."""
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        self._thread.start()
        self._runner = web.AppRunner(app, access_log=None)
        asyncio.run_coroutine_threadsafe(self._runner.setup(), self._loop).result(30)
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        asyncio.run_coroutine_threadsafe(site.start(), self._loop).result(30)
        return self

    def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def posts(self, predicate: Callable[[ApiCall], bool] = lambda call: True) -> list[ApiCall]:
        """The ``chat.postMessage`` calls so far that match ``predicate``."""
        with self._lock:
            return [c for c in self.calls if c.method == "chat.postMessage" and predicate(c)]

    def wait_for_posts(
        self, predicate: Callable[[ApiCall], bool], count: int = 1, timeout: float = 120
    ) -> list[ApiCall]:
        """Wait until at least ``count`` matching posts arrived; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.posts(predicate)
            if len(found) >= count:
                return found
            time.sleep(0.25)
        raise TimeoutError(f"expected {count} matching chat.postMessage call(s); got {self.posts()!r}")
