"""The REST channel for integrators: a clean 400 for a malformed body, and never a silent turn.

Rasa's stock ``RestInput`` calls ``request.json.get(...)``: a body that is a JSON list, a string or
nothing at all raises inside the handler and comes back as a 500. Here such a body gets a 400 that
says what is expected, and the channel keeps Rasa's route (``/webhooks/rest/webhook``).

The input gate's rules (``golden_rule/input_gate.py``) are checked here first, so an integrator
hears what is wrong: a sender id that is missing, empty or outside the safe alphabet, or a message
that is missing, not text, empty or malformed, gets a 400 naming the field; a message over the cap
gets a 413. ``metadata`` must be a JSON object of at most 4 KB (400 otherwise) and
``input_channel`` a short name. Nothing reaches the tracker store until all of that holds.

The ``sender`` is a bearer credential: whoever knows it continues that conversation. REST is for
server-to-server use; the integrator must issue an unguessable id per customer (docs/security.md).

Never silent: a turn that fails, hangs or produces no reply gets an honest message with the
direct support contact (``channels/never_silent.py``, shared with the widget and Slack).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.exceptions import InvalidUsage as BadRequest  # a 400 (Sanic 21.12 name)
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request

from channels import rasa_fixes
from channels.never_silent import never_silent
from channels.settings import guard_settings
from golden_rule.input_gate import MAX_METADATA_BYTES, Refusal, check_sender, clean_message

EXPECTED = 'expected a JSON object like {"sender": "customer-1", "message": "hello"}'
INPUT_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,31}")


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

    support_email: str = ""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> JsonRestInput:
        """The channel (no options); the server gets Rasa's local fixes (``channels/rasa_fixes.py``)."""
        rasa_fixes.install()
        channel = cls()
        channel.support_email = guard_settings().support_email  # read once, for the 413's words
        return channel

    async def _extract_sender(self, req: Request) -> str | None:
        sender = json_object(req).get("sender")
        if isinstance(sender, int) and not isinstance(sender, bool):
            sender = str(sender)
        refusal = check_sender(sender)
        if refusal is not None:
            raise BadRequest(f"{refusal.detail}: {EXPECTED}")
        return sender

    def _extract_message(self, req: Request) -> str | None:
        verdict = clean_message(json_object(req).get("message"), self.support_email)
        if isinstance(verdict, Refusal):
            error = PayloadTooLarge if verdict.status == 413 else BadRequest
            raise error(f"{verdict.detail}: {EXPECTED}")
        return verdict

    def _extract_input_channel(self, req: Request) -> str:
        channel = json_object(req).get("input_channel")
        return channel if isinstance(channel, str) and INPUT_CHANNEL.fullmatch(channel) else self.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = json_object(request).get("metadata")
        if metadata is None:
            return None
        if not isinstance(metadata, dict):
            raise BadRequest(f"'metadata' must be a JSON object: {EXPECTED}")
        try:
            size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
        except (TypeError, ValueError, UnicodeEncodeError):
            raise BadRequest("'metadata' must be well-formed JSON text") from None
        if size > MAX_METADATA_BYTES:
            raise PayloadTooLarge(f"'metadata' is larger than {MAX_METADATA_BYTES} bytes")
        return metadata

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return super().blueprint(never_silent(on_new_message))
