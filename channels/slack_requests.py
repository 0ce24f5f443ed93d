"""What both Slack request URLs (customers: ``channels/slack.py``, staff: ``channels/staff_slack.py``)
do before they look at an event: one place for Slack's delivery rules.

:func:`read_slack_request` keeps, in this order:

1. the signature (HMAC v0 over ``v0:timestamp:body``, five-minute window, slack_sdk's
   ``SignatureVerifier``) is checked before anything else: a bad, stale or missing one gets 401;
2. every retry (any ``X-Slack-Retry-Num``, not only timeouts) is dropped with
   ``X-Slack-No-Retry: 1``, so nothing is answered or delivered twice (the cost: a message whose
   first delivery failed is not handled);
3. the body must be a JSON object: sent as JSON, or, where buttons post (``allow_form``), as the
   form field ``payload``; otherwise 400 (or 415 for another content type);
4. ``url_verification`` is answered with ``{"challenge": ...}``.

What passes all four is returned as the payload to handle; everything else is the answer to give.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.signature import SignatureVerifier

logger = logging.getLogger(__name__)


def signed_by_slack(verifier: SignatureVerifier, request: Request) -> bool:
    """Whether the request carries a valid, fresh Slack signature."""
    try:
        return verifier.is_valid(
            body=request.body or b"",
            timestamp=request.headers.get("X-Slack-Request-Timestamp"),
            signature=request.headers.get("X-Slack-Signature"),
        )
    except ValueError:  # a timestamp that is not a number
        return False


def read_slack_request(
    request: Request, verifier: SignatureVerifier, where: str, allow_form: bool = False
) -> dict[str, Any] | HTTPResponse:
    """The payload of a request Slack really sent, or the answer to give instead (see module docstring)."""
    if not signed_by_slack(verifier, request):
        return response.text("Missing, invalid or expired Slack signature.", status=HTTPStatus.UNAUTHORIZED)
    retry = request.headers.get("X-Slack-Retry-Num")
    if retry is not None:
        logger.info(
            "Dropping Slack retry #%s on %s (%s): the first delivery is being handled.",
            retry, where, request.headers.get("X-Slack-Retry-Reason", "no reason given"),
        )
        return response.text("", headers={"X-Slack-No-Retry": "1"})
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    try:
        if media_type == "application/json":
            payload = json.loads(request.body or b"null")
        elif allow_form and media_type == "application/x-www-form-urlencoded":
            payload = json.loads(request.form.get("payload") or "null")
        else:
            return response.text("Unsupported content type.", status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
    except ValueError:
        return response.text("The body is not valid JSON.", status=HTTPStatus.BAD_REQUEST)
    if not isinstance(payload, dict):
        return response.text("The body is not a JSON object.", status=HTTPStatus.BAD_REQUEST)
    if payload.get("type") == "url_verification":
        return response.json({"challenge": str(payload.get("challenge", ""))})
    return payload


def posted_by_a_bot(event: dict[str, Any]) -> bool:
    """Bot posts, edits and every other subtype: never a person's new message."""
    return bool(event.get("subtype") or event.get("bot_id") or event.get("bot_profile"))


def bot_user_id(payload: dict[str, Any]) -> str | None:
    """Our bot's own user id, from the event's ``authorizations``."""
    authorizations = payload.get("authorizations")
    if isinstance(authorizations, list) and authorizations and isinstance(authorizations[0], dict):
        user = authorizations[0].get("user_id")
        return user if isinstance(user, str) else None
    return None
