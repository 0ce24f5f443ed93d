"""Command line for the people who answer escalations.

    python -m actions.staff list                     open tickets: reference, reason, customer, owner, due, age
    python -m actions.staff show BD-10427            everything about one ticket, transcript included
    python -m actions.staff reply BD-10427 "text"    send text into the customer's live conversation
    python -m actions.staff resolve BD-10427         close it, un-pause the conversation, ask for feedback
    (make tickets ARGS="show BD-10427"; plain `make tickets` lists)

Replies and resumes go through the rasa HTTP API (rasa must run with ``--enable-api``; with
``--auth-token`` set GOLDEN_RULE_RASA_TOKEN to the same value):

- reply:   POST {rasa}/conversations/{id}/tracker/events?output_channel=latest&execute_side_effects=true
           with ``{"event": "bot", "text": ...}`` — delivered to the customer's channel even while the
           conversation is paused; the text is then appended to the ticket transcript.
- resolve: POST the same endpoint with ``{"event": "resume"}``, then
           POST {rasa}/conversations/{id}/trigger_intent?output_channel=latest with
           ``{"name": "EXTERNAL_handoff_resolved"}`` (trigger_intent is ignored while paused, hence the
           resume first). The conversation side must declare the intent ``EXTERNAL_handoff_resolved``
           and a rule answering it with the feedback question (house rule 10).

Rules: an unknown, malformed or already resolved ticket is a one-line message and exit code 1;
so is a failed HTTP call, in which case the ticket is left unchanged so the command can be rerun
(``resolve --no-notify`` closes a ticket whose conversation is gone). The API token is never printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.services.business_hours import clock_time, zone_label
from actions.services.handoff import STATUS_OPEN, STATUS_RESOLVED, normalize_reference
from actions.settings import Settings, get_settings
from actions.store.db import session_scope
from actions.store.models import Ticket

HTTP_TIMEOUT_SECONDS = 10
RESOLVED_INTENT = "EXTERNAL_handoff_resolved"


class CommandFailed(Exception):
    """A reason to stop with exit code 1; the message is printed as is."""


@dataclass(frozen=True)
class RasaClient:
    """The two rasa HTTP API calls the staff tools need, with the token kept out of every message."""

    base_url: str
    token: str = ""
    timeout: float = HTTP_TIMEOUT_SECONDS

    def _post(self, path: str, params: dict[str, str], body: dict[str, Any]) -> None:
        if self.token:
            params = {**params, "token": self.token}
        try:
            response = requests.post(f"{self.base_url}{path}", params=params, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            # The exception text contains the URL with ?token=..., so only its kind is shown.
            raise CommandFailed(f"could not reach rasa at {self.base_url} ({exc.__class__.__name__})") from None
        if response.status_code >= 300:
            hint = " (check GOLDEN_RULE_RASA_TOKEN)" if response.status_code in (401, 403) else ""
            raise CommandFailed(f"rasa answered HTTP {response.status_code} for {path.split('?')[0]}{hint}")

    def _conversation(self, conversation_id: str) -> str:
        return f"/conversations/{quote(conversation_id, safe='')}"

    def append_event(self, conversation_id: str, event: dict[str, Any]) -> None:
        self._post(
            f"{self._conversation(conversation_id)}/tracker/events",
            {"output_channel": "latest", "execute_side_effects": "true"},
            event,
        )

    def trigger_intent(self, conversation_id: str, intent: str) -> None:
        self._post(
            f"{self._conversation(conversation_id)}/trigger_intent", {"output_channel": "latest"}, {"name": intent}
        )


# ---------------------------------------------------------------------------------------------
# formatting


def _local(naive_utc: dt.datetime | None, settings: Settings) -> str:
    if naive_utc is None:
        return "—"
    local = naive_utc.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(settings.store_timezone))
    return f"{local:%a %b} {local.day} {clock_time(local)}"


def _age(created: dt.datetime, now: dt.datetime) -> str:
    minutes = max(0, int((now - created).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"


def _customer(ticket: Ticket) -> str:
    """Who the ticket is for; an address the customer only typed (not proven) is marked so."""
    if ticket.customer is None:
        return "(anonymous)"
    who = ticket.customer.name or ticket.customer.email
    return who if ticket.email_proven else f"{ticket.customer.email} (not verified)"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------------------------------------
# commands


def _ticket(session: Session, reference: str, *, open_only: bool) -> Ticket:
    ref = normalize_reference(reference)
    if ref is None:
        raise CommandFailed(f"{reference!r} is not a ticket reference (they look like BD-10427)")
    ticket = session.scalars(select(Ticket).where(Ticket.reference == ref)).one_or_none()
    if ticket is None:
        raise CommandFailed(f"no ticket {ref}")
    if open_only and ticket.status != STATUS_OPEN:
        raise CommandFailed(f"ticket {ref} is {ticket.status}, not open")
    return ticket


def cmd_list(_: argparse.Namespace, settings: Settings, client: RasaClient) -> int:
    now = _now().replace(tzinfo=None)
    with session_scope() as session:
        tickets = list(
            session.scalars(
                select(Ticket).where(Ticket.status == STATUS_OPEN).order_by(Ticket.promised_by, Ticket.id)
            )
        )
        if not tickets:
            print("No open tickets.")
            return 0
        rows = [["reference", "reason", "customer", "owner", f"promised by ({zone_label(settings.store_timezone)})",
                 "age"]]
        for ticket in tickets:
            rows.append([
                ticket.reference,
                ticket.reason,
                _customer(ticket),
                ticket.staff.name if ticket.staff else "(unassigned)",
                _local(ticket.promised_by, settings),
                _age(ticket.created_at, now),
            ])
    print(_table(rows))
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings, client: RasaClient) -> int:
    with session_scope() as session:
        ticket = _ticket(session, args.reference, open_only=False)
        customer = ticket.customer
        who = f"{customer.name or '(no name)'} <{customer.email}>" if customer else "(anonymous)"
        if customer and not ticket.email_proven:
            # A typed address, never proven: do not treat the ticket as that customer's account.
            who = f"<{customer.email}> (address typed in the chat, not verified)"
        lines = [
            f"Ticket {ticket.reference} ({ticket.status})",
            f"reason:        {ticket.reason}",
            f"customer:      {who}",
            f"contact:       {ticket.contact_channel or 'chat'}"
            + (f" — {ticket.contact_detail}" if ticket.contact_detail else ""),
            f"owner:         {ticket.staff.name + ', ' + ticket.staff.role if ticket.staff else '(unassigned)'}",
            f"promised by:   {_local(ticket.promised_by, settings)} {zone_label(settings.store_timezone)}",
            f"opened:        {_local(ticket.created_at, settings)}",
            f"last update:   {_local(ticket.updated_at, settings)}",
            f"conversation:  {ticket.conversation_id or '—'}",
            "",
            "Summary:",
            ticket.summary or "(none)",
            "",
            "Transcript:",
            ticket.transcript or "(empty)",
        ]
    print("\n".join(lines))
    return 0


def _transcript_line(who: str, text: str, when: dt.datetime, settings: Settings) -> str:
    local = when.astimezone(ZoneInfo(settings.store_timezone))
    return f"[{local:%Y-%m-%d %H:%M}] {who}: {text}"


def cmd_reply(args: argparse.Namespace, settings: Settings, client: RasaClient) -> int:
    text = (args.text or "").strip()
    if not text:
        raise CommandFailed("the reply is empty")
    with session_scope() as session:
        ticket = _ticket(session, args.reference, open_only=True)
        if not ticket.conversation_id:
            raise CommandFailed(
                f"ticket {ticket.reference} has no live conversation; reach the customer by "
                f"{ticket.contact_channel or 'email'} instead"
            )
        # Deliver first: the transcript records only what the customer actually received.
        client.append_event(ticket.conversation_id, {"event": "bot", "text": text})
        now = _now()
        who = f"{ticket.staff.name} (agent)" if ticket.staff else "agent"
        entry = _transcript_line(who, text, now, settings)
        ticket.transcript = f"{ticket.transcript}\n{entry}" if ticket.transcript else entry
        ticket.updated_at = now.replace(tzinfo=None)
        reference = ticket.reference
    print(f"Reply delivered to the conversation of {reference} and added to its transcript.")
    return 0


def cmd_resolve(args: argparse.Namespace, settings: Settings, client: RasaClient) -> int:
    with session_scope() as session:
        ticket = _ticket(session, args.reference, open_only=True)
        notified = False
        if ticket.conversation_id and not args.no_notify:
            client.append_event(ticket.conversation_id, {"event": "resume"})
            client.trigger_intent(ticket.conversation_id, RESOLVED_INTENT)
            notified = True
        now = _now()
        ticket.status = STATUS_RESOLVED
        ticket.updated_at = now.replace(tzinfo=None)
        entry = _transcript_line("system", "ticket resolved", now, settings)
        ticket.transcript = f"{ticket.transcript}\n{entry}" if ticket.transcript else entry
        reference = ticket.reference
    tail = "; the conversation is resumed and asks for feedback." if notified else "."
    print(f"Ticket {reference} resolved{tail}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m actions.staff", description="Answer escalated tickets.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="open tickets").set_defaults(func=cmd_list)
    show = sub.add_parser("show", help="one ticket, transcript included")
    show.add_argument("reference")
    show.set_defaults(func=cmd_show)
    reply = sub.add_parser("reply", help="send text into the customer's live conversation")
    reply.add_argument("reference")
    reply.add_argument("text")
    reply.set_defaults(func=cmd_reply)
    resolve = sub.add_parser("resolve", help="close a ticket and hand the conversation back to the bot")
    resolve.add_argument("reference")
    resolve.add_argument("--no-notify", action="store_true", help="do not touch the conversation (it is gone)")
    resolve.set_defaults(func=cmd_resolve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    client = RasaClient(settings.rasa_url, settings.rasa_token)
    try:
        return int(args.func(args, settings, client))
    except CommandFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"error: the store is unreachable or failed ({exc.__class__.__name__})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
