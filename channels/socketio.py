"""The website widget's channel: Rasa's Socket.IO channel with two fixes.

1. Session persistence works with every python-socketio 5.x. Rasa 3.6 calls
   ``AsyncServer.enter_room`` without ``await``; since python-socketio 5.10 that method is a
   coroutine, so the browser's socket never joins its session room and no bot reply reaches it
   (upstream rasa issue 13027). Here the result is awaited when it is awaitable.
2. The origins allowed to connect come from ``GOLDEN_RULE_CORS_ORIGINS`` (default ``*``), and
   python-engineio alone answers CORS on the Socket.IO path: with ``rasa run --cors`` Rasa's
   Sanic-CORS would add a second ``Access-Control-Allow-Origin`` header, which browsers reject.

Every turn is answered: the message handler is wrapped in the never-silent guard
(``channels/never_silent.py``), so a dead, failing or hanging action server gets an honest
message with the direct support contact instead of silence.

Conversation ids cannot be borrowed (docs/security.md): the server issues every session id
(random, signed with ``GOLDEN_RULE_WIDGET_SECRET``), and a client may resume only an id that
carries a valid signature, so ids cannot be guessed or made up. Each socket is bound to the one
session it was given (for the life of the connection, which lives in this process), and its
messages go into that conversation whatever ``session_id`` they claim; a socket that never asked
for a session cannot post at all. Message text passes the input gate like every channel's
(``channels/input_gate.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_cors.core import SANIC_CORS_EVALUATED
from socketio import AsyncServer

from channels import rasa_fixes
from channels.never_silent import CountsReplies, never_silent
from channels.settings import cors_origins, widget_secret

logger = logging.getLogger(__name__)

SESSION_ID = re.compile(r"([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{22})")


class SessionIds:
    """Issues and checks the widget's session ids: ``<24 random chars>.<22 chars of HMAC-SHA256>``.

    The random part has 144 bits; the signature ties it to this shop's secret, so a client can
    resume a session it was given but cannot make one up. Without a configured secret a random
    one is used for this process (sessions then end when the server restarts; logged).
    """

    def __init__(self, secret: bytes | None) -> None:
        if secret is None:
            logger.warning("GOLDEN_RULE_WIDGET_SECRET is not set: widget sessions last only as long as this process")
            secret = secrets.token_bytes(32)
        self._secret = secret

    def _signature(self, token: str) -> str:
        digest = hmac.new(self._secret, token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:22]

    def issue(self) -> str:
        """A new session id."""
        token = secrets.token_urlsafe(18)
        return f"{token}.{self._signature(token)}"

    def verified(self, data: Any) -> str | None:
        """The ``session_id`` in ``data`` when it is one this server issued; otherwise ``None``."""
        session_id = data.get("session_id") if isinstance(data, dict) else None
        if not isinstance(session_id, str):
            return None
        match = SESSION_ID.fullmatch(session_id)
        if match is None or not hmac.compare_digest(match.group(2), self._signature(match.group(1))):
            return None
        return session_id


class CountingSocketIOOutput(CountsReplies, SocketIOOutput):
    """Rasa's Socket.IO output, counting what it sends (for the never-silent guard)."""


class EngineIOCorsBlueprint(SocketBlueprint):
    """Rasa's Socket.IO blueprint, telling Sanic-CORS to leave the Socket.IO path to engineio."""

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        """Attach the Socket.IO server and mark its requests as CORS-handled for Sanic-CORS."""
        path = "/" + self.ctx.socketio_path.strip("/")

        async def leave_cors_to_engineio(request: Request) -> None:
            if request.path == path or request.path.startswith(path + "/"):
                setattr(request.ctx, SANIC_CORS_EVALUATED, True)

        app.register_middleware(leave_cors_to_engineio, "request")
        super().register(app, options)


class WebChatInput(SocketIOInput):
    """Socket.IO input channel for the website widget (``web/``); see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bound_sessions: dict[str, str] = {}  # socket id -> the session id it was given
        self.session_ids: SessionIds | None = None  # built with the blueprint (reads the secret)

    @classmethod
    def name(cls) -> str:
        """Keep Rasa's channel name, so URLs and output-channel lookups stay ``socketio``."""
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Rasa's options from ``credentials.yml``; the server gets Rasa's local fixes too."""
        rasa_fixes.install()
        return super().from_credentials(credentials)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's Socket.IO blueprint with our origin setting and session/message handlers."""
        super().blueprint(on_new_message)  # builds self.sio with Rasa's connect/disconnect handlers
        sio = self.sio
        assert sio is not None
        sio.eio.cors_allowed_origins = cors_origins()
        self.session_ids = SessionIds(widget_secret())

        async def disconnect(sid: str) -> None:
            self.bound_sessions.pop(sid, None)

        sio.on("disconnect", handler=disconnect, namespace=self.namespace)
        sio.on("session_request", handler=self._session_request_handler(sio), namespace=self.namespace)
        guarded = never_silent(on_new_message)
        sio.on(self.user_message_evt, handler=self._message_handler(sio, guarded), namespace=self.namespace)
        socketio_webhook = EngineIOCorsBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        return socketio_webhook

    def _session_request_handler(self, sio: AsyncServer) -> Callable[[str, Any], Awaitable[None]]:
        async def session_request(sid: str, data: Any) -> None:
            ids = self.session_ids
            assert ids is not None, "blueprint() builds the session ids first"
            session_id = ids.verified(data) or ids.issue()
            if self.session_persistence:
                bound = self.bound_sessions.get(sid)
                if bound and bound != session_id:
                    await _maybe_await(sio.leave_room(sid, bound, namespace=self.namespace))
                self.bound_sessions[sid] = session_id
                await _maybe_await(sio.enter_room(sid, session_id, namespace=self.namespace))
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        return session_request

    def _message_handler(
        self, sio: AsyncServer, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Callable[[str, Any], Awaitable[None]]:
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict):
                logger.warning("Ignoring a Socket.IO message that is not an object.")
                return
            text = data.get("message")
            if self.session_persistence:
                sender_id = self.bound_sessions.get(sid)
                if sender_id is None:
                    logger.warning("Ignoring a Socket.IO message from a socket that has no session.")
                    return
                if data.get("session_id") not in (None, sender_id):
                    logger.warning("A socket claimed another session id; its message goes to its own session.")
            else:
                sender_id = sid
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(metadata, dict):
                metadata = {}
            message = UserMessage(
                text if isinstance(text, str) else None,  # the input gate answers what is not text
                CountingSocketIOOutput(sio, self.bot_message_evt),
                sender_id,
                input_channel=self.name(),
                metadata=metadata,
            )
            await on_new_message(message)

        return handle_message


async def _maybe_await(result: Any) -> None:
    """Await ``result`` when python-socketio returned a coroutine (>= 5.10 made room calls async)."""
    if inspect.isawaitable(result):
        await result
