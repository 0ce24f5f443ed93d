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

It also refuses malformed input instead of crashing on it: a session id must look like one the
widget makes (8–64 letters, digits, ``-`` or ``_``), and a message must be non-blank text.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import uuid
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
from channels.settings import cors_origins

logger = logging.getLogger(__name__)

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def valid_session_id(data: Any) -> str | None:
    """The session id a client asked for, if it is a well-formed one; otherwise ``None``."""
    if isinstance(data, dict):
        session_id = data.get("session_id")
        if isinstance(session_id, str) and SESSION_ID.match(session_id):
            return session_id
    return None


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
            session_id = valid_session_id(data) or uuid.uuid4().hex
            if self.session_persistence:
                joined = sio.enter_room(sid, session_id, namespace=self.namespace)
                if inspect.isawaitable(joined):  # python-socketio >= 5.10
                    await joined
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
            if not isinstance(text, str) or not text.strip():
                logger.debug("Ignoring an empty Socket.IO message.")
                return
            if self.session_persistence:
                sender_id = valid_session_id(data)
                if sender_id is None:
                    logger.warning("Ignoring a Socket.IO message without a valid session_id.")
                    return
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
                text,
                CountingSocketIOOutput(sio, self.bot_message_evt),
                sender_id,
                input_channel=self.name(),
                metadata=metadata,
            )
            await on_new_message(message)

        return handle_message
