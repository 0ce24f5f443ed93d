"""The REST channel for integrators: a clean 400 for a malformed body, and never a silent turn.

Rasa's stock ``RestInput`` calls ``request.json.get(...)``: a body that is a JSON list, a string or
nothing at all raises inside the handler and comes back as a 500. Here such a body gets a 400 that
says what is expected, and the channel keeps Rasa's route (``/webhooks/rest/webhook``).

Never silent: a turn that fails, hangs or produces no reply gets an honest message with the
direct support contact (``channels/never_silent.py``, shared with the widget and Slack).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.exceptions import InvalidUsage as BadRequest  # a 400 (Sanic 21.12 name)
from sanic.request import Request

from channels import rasa_fixes
from channels.never_silent import never_silent

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

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> JsonRestInput:
        """The channel (no options); the server gets Rasa's local fixes (``channels/rasa_fixes.py``)."""
        rasa_fixes.install()
        return cls()

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
        return super().blueprint(never_silent(on_new_message))
