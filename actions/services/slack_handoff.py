"""Live handoff in Slack: tickets become threads in the staff channel, and the thread is the link
between the people answering and the customer's live conversation.

Used by three processes, which is why it holds only settings, store helpers and message text:

- the action server (``actions/handoff.py``): :func:`share_ticket` posts a new ticket to the
  staff channel as a thread (parent: reference, reason, owner, promised time, contact, summary;
  first reply: the transcript) and stores the thread on the ticket;
- the rasa server's staff channel (``channels/staff_slack.py``): finds the ticket of a thread,
  appends agent replies to its transcript, resolves it;
- the rasa server's event broker (``channels/handoff_broker.py``): finds the thread of a
  conversation to relay the customer's messages into it.

Rules it keeps:
- Slack is optional. Without ``GOLDEN_RULE_STAFF_SLACK_CHANNEL`` everything here is a no-op and the
  staff command line (``actions/staff.py``) is the way to answer tickets.
- A Slack failure never loses a ticket or the customer's answer: the ticket is committed before
  Slack is called, the call has a short timeout, and any failure is logged (ticket reference and
  error kind only) and reported as "no live thread".
- Personal data: staff see the customer's contact details in Slack (they need them); logs never
  show them in the clear (:func:`~actions.services.handoff.mask_email` / ``mask_phone``).
- Settings are read when first needed, never at import time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.services.business_hours import clock_time, zone_label
from actions.services.handoff import STATUS_OPEN, STATUS_RESOLVED, mask_email, mask_phone
from actions.settings import get_settings
from actions.store.models import Ticket
from channels.settings import DEFAULT_SLACK_API_BASE_URL, SLACK_CHANNEL_ID, ChannelSettingsError, slack_settings

logger = logging.getLogger(__name__)

STAFF_CHANNEL_VARIABLE = "GOLDEN_RULE_STAFF_SLACK_CHANNEL"
# Optional: a Slack app of the staff's own (otherwise SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET).
STAFF_APP_VARIABLES = ("GOLDEN_RULE_STAFF_SLACK_BOT_TOKEN", "GOLDEN_RULE_STAFF_SLACK_SIGNING_SECRET")
# Slack answers chat.postMessage in well under a second; five seconds bounds how long an action
# can wait for it (the action server runs actions one event loop).
POST_TIMEOUT_SECONDS = 5
# Slack's limit for a message's text is 40,000 characters; stay well below it.
MAX_MESSAGE_CHARS = 35_000


@dataclass(frozen=True)
class StaffSlackSettings:
    """Where escalations go in Slack and how to talk to Slack.

    ``channel_id`` is the staff channel (an ID such as ``C0STAFF01``, not a name); the token and
    signing secret are the Slack app's (the customer channel's, or the staff's own, see
    :func:`staff_slack_settings`); ``api_base_url`` is Slack's Web API, or a fake one in tests.
    """

    channel_id: str
    bot_token: str
    signing_secret: str
    api_base_url: str


def staff_slack_settings(env: Mapping[str, str] | None = None) -> StaffSlackSettings | None:
    """The live-handoff settings, or ``None`` when ``GOLDEN_RULE_STAFF_SLACK_CHANNEL`` is not set.

    The staff side uses the Slack app of the customer channel (``SLACK_BOT_TOKEN``,
    ``SLACK_SIGNING_SECRET``), or its own app when ``GOLDEN_RULE_STAFF_SLACK_BOT_TOKEN`` and
    ``GOLDEN_RULE_STAFF_SLACK_SIGNING_SECRET`` are set (a Slack app has one Events API request URL,
    so customers and staff both in Slack need two apps). A staff channel without a token and a
    signing secret (agent replies could not be verified), only one of the staff pair, or a channel
    name instead of an ID raises :class:`~channels.settings.ChannelSettingsError` saying what to fix.
    """
    source = os.environ if env is None else env
    channel_id = source.get(STAFF_CHANNEL_VARIABLE, "").strip()
    if not channel_id:
        return None
    if not SLACK_CHANNEL_ID.match(channel_id):
        raise ChannelSettingsError(
            f"{STAFF_CHANNEL_VARIABLE} must be a channel ID such as C0123ABCD, not {channel_id!r} "
            "(in Slack: channel details → About → Channel ID)."
        )
    own = {name: source.get(name, "").strip() for name in STAFF_APP_VARIABLES}
    if any(own.values()):
        missing = [name for name, value in own.items() if not value]
        if missing:
            raise ChannelSettingsError(f"The staff Slack app is half-configured: set {' and '.join(missing)} too "
                                       "(or unset both to use SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET).")
        base_url = source.get("SLACK_API_BASE_URL", "").strip() or DEFAULT_SLACK_API_BASE_URL
        token, secret = own[STAFF_APP_VARIABLES[0]], own[STAFF_APP_VARIABLES[1]]
        return StaffSlackSettings(channel_id, token, secret, base_url if base_url.endswith("/") else base_url + "/")
    slack = slack_settings(source)
    if slack is None:
        raise ChannelSettingsError(
            f"{STAFF_CHANNEL_VARIABLE} is set, but no Slack app is: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET "
            f"(or {' and '.join(STAFF_APP_VARIABLES)}), or unset {STAFF_CHANNEL_VARIABLE}."
        )
    return StaffSlackSettings(
        channel_id=channel_id,
        bot_token=slack.bot_token,
        signing_secret=slack.signing_secret,
        api_base_url=slack.api_base_url,
    )


def live_settings() -> StaffSlackSettings | None:
    """:func:`staff_slack_settings` for code that must keep working when they are wrong (actions,
    the event broker): a configuration error is logged and means "no live handoff"."""
    try:
        return staff_slack_settings()
    except ChannelSettingsError as exc:
        logger.warning("live handoff in Slack is off: %s", exc)
        return None


# ---------------------------------------------------------------------------------------------
# what staff see


def masked_contact(ticket: Ticket) -> str:
    """The ticket's contact for logs: channel and a masked detail."""
    channel = ticket.contact_channel or "chat"
    if channel == "email":
        return f"email {mask_email(ticket.contact_detail)}"
    if channel == "phone":
        return f"phone {mask_phone(ticket.contact_detail)}"
    return channel


def _local(naive_utc: dt.datetime | None, timezone: str) -> str:
    if naive_utc is None:
        return "not set"
    local = naive_utc.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(timezone))
    return f"{local:%a %b} {local.day} {clock_time(local)} {zone_label(timezone)}"


def parent_message(ticket: Ticket, timezone: str) -> str:
    """The thread's first message: everything needed to pick the ticket up, and how to answer it."""
    owner = f"{ticket.staff.name} ({ticket.staff.role})" if ticket.staff else "unassigned"
    customer = ticket.customer
    who = (f"{customer.name} <{customer.email}>" if customer.name else customer.email) if customer else "anonymous"
    if customer and not ticket.email_proven:
        # A typed address, never proven: staff must not treat the ticket as that customer's account.
        who = f"{customer.email} (typed in the chat, not verified)"
    channel = ticket.contact_channel or "chat"
    contact = {
        "chat": "this chat: reply in this thread and the customer reads it live",
        "email": f"email {ticket.contact_detail}",
        "phone": f"phone {ticket.contact_detail}",
    }.get(channel, channel)
    lines = [
        f"*Ticket {ticket.reference}* ({ticket.reason.replace('_', ' ')})",
        f"*Owner:* {owner}",
        f"*Promised reply by:* {_local(ticket.promised_by, timezone)}",
        f"*Customer:* {who}",
        f"*Contact:* {contact}",
        f"*Summary:* {ticket.summary or '(none)'}",
        "Replies in this thread go to the customer's conversation; the customer's new messages appear "
        "here. Write `resolve` to close the ticket and hand the conversation back to the assistant.",
    ]
    return "\n".join(lines)[:MAX_MESSAGE_CHARS]


def transcript_message(ticket: Ticket) -> str:
    """The thread's first reply: the conversation so far."""
    return f"*Transcript*\n```\n{(ticket.transcript or '(empty)')[:MAX_MESSAGE_CHARS]}\n```"


# ---------------------------------------------------------------------------------------------
# the action server side


def _ticket_by_reference(session: Session, reference: str) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.reference == reference)).one_or_none()


def share_ticket(
    session: Session,
    reference: str,
    *,
    settings: StaffSlackSettings | None = None,
    client: WebClient | None = None,
) -> bool:
    """Post ticket ``reference`` to the staff channel as a thread; ``True`` when it has a thread.

    Rules: a no-op (``False``) without live-handoff settings. The caller's unit of work is committed
    first, so the ticket is stored whatever Slack does and no store lock is held during the call. A
    ticket that already has a thread (the same request retried) is not posted again. If the parent
    message fails, the failure is logged by reference and error kind and ``False`` is returned; if
    only the transcript reply fails, the thread still counts (staff can read it with
    ``make tickets ARGS="show ..."``).
    """
    settings = settings if settings is not None else live_settings()
    if settings is None:
        return False
    ticket = _ticket_by_reference(session, reference)
    if ticket is None:
        return False
    if ticket.slack_thread_ts:
        return True
    session.commit()
    client = client or WebClient(token=settings.bot_token, base_url=settings.api_base_url,
                                 timeout=POST_TIMEOUT_SECONDS)
    timezone = get_settings().store_timezone
    try:
        parent = client.chat_postMessage(channel=settings.channel_id, text=parent_message(ticket, timezone))
        thread_ts = parent.get("ts")
        if not isinstance(thread_ts, str) or not thread_ts:
            raise SlackClientError("chat.postMessage answered without a ts")
    except (SlackApiError, SlackClientError, OSError, ValueError) as exc:
        logger.warning("ticket %s (contact %s) not posted to Slack: %s", reference, masked_contact(ticket),
                       _error_kind(exc))
        return False
    ticket.slack_channel = settings.channel_id
    ticket.slack_thread_ts = thread_ts
    session.flush()
    try:
        client.chat_postMessage(channel=settings.channel_id, thread_ts=thread_ts, text=transcript_message(ticket))
    except (SlackApiError, SlackClientError, OSError, ValueError) as exc:
        logger.warning("transcript of ticket %s not posted to its Slack thread: %s", reference, _error_kind(exc))
    logger.info("ticket %s posted to the staff channel in Slack", reference)
    return True


def _error_kind(exc: Exception) -> str:
    """What went wrong, without the message (which may echo request data)."""
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error") if exc.response is not None else None
        return f"Slack API error {error!r}"
    return exc.__class__.__name__


# ---------------------------------------------------------------------------------------------
# the rasa server side (staff channel, broker)


@dataclass(frozen=True)
class ThreadTicket:
    """A ticket as the staff channel and the broker need it (detached from any session)."""

    reference: str
    status: str
    conversation_id: str | None
    contact_channel: str
    channel: str
    thread_ts: str
    created_at: dt.datetime  # naive UTC, as stored


def _view(ticket: Ticket) -> ThreadTicket:
    return ThreadTicket(
        reference=ticket.reference,
        status=ticket.status,
        conversation_id=ticket.conversation_id,
        contact_channel=ticket.contact_channel or "chat",
        channel=ticket.slack_channel or "",
        thread_ts=ticket.slack_thread_ts or "",
        created_at=ticket.created_at,
    )


def ticket_for_thread(session: Session, channel: str, thread_ts: str) -> ThreadTicket | None:
    """The ticket whose Slack thread is (``channel``, ``thread_ts``), or ``None``."""
    ticket = session.scalars(
        select(Ticket).where(Ticket.slack_channel == channel, Ticket.slack_thread_ts == thread_ts)
    ).first()
    return _view(ticket) if ticket is not None else None


def open_thread_for_conversation(session: Session, conversation_id: str) -> ThreadTicket | None:
    """The newest open ticket of ``conversation_id`` that has a Slack thread, or ``None``."""
    ticket = session.scalars(
        select(Ticket)
        .where(
            Ticket.conversation_id == conversation_id,
            Ticket.status == STATUS_OPEN,
            Ticket.slack_thread_ts.is_not(None),
        )
        .order_by(Ticket.id.desc())
    ).first()
    return _view(ticket) if ticket is not None else None


def is_live(ticket: ThreadTicket | None) -> bool:
    """A person answers this conversation in Slack right now: open, with a thread, reply by chat.

    Only such conversations are paused (and kept paused across sessions): a customer who asked
    for an email or a call keeps talking to the assistant meanwhile.
    """
    return ticket is not None and ticket.status == STATUS_OPEN and bool(ticket.thread_ts) and (
        ticket.contact_channel == "chat"
    )


def append_to_transcript(session: Session, reference: str, who: str, text: str, now: dt.datetime) -> None:
    """Add ``[time] who: text`` to the ticket's transcript (store time zone), like the staff CLI."""
    ticket = _ticket_by_reference(session, reference)
    if ticket is None:
        return
    timezone = get_settings().store_timezone
    local = now.astimezone(ZoneInfo(timezone))
    entry = f"[{local:%Y-%m-%d %H:%M}] {who}: {text}"
    ticket.transcript = f"{ticket.transcript}\n{entry}" if ticket.transcript else entry
    ticket.updated_at = now.astimezone(dt.timezone.utc).replace(tzinfo=None)


def resolve_ticket(session: Session, reference: str, who: str, now: dt.datetime) -> bool:
    """Mark an open ticket resolved, with a transcript line; ``False`` if it is not open."""
    ticket = _ticket_by_reference(session, reference)
    if ticket is None or ticket.status != STATUS_OPEN:
        return False
    ticket.status = STATUS_RESOLVED
    append_to_transcript(session, reference, "system", f"ticket resolved in Slack by {who}", now)
    return True
