"""Escalation to a named person: who owns it, the ticket, by when, and how the customer is reached.

Plain functions over the caller's SQLAlchemy session (one unit of work, see ``session_scope``):
nothing here commits, so a failure anywhere leaves nothing written (house rule 5: the ticket is
stored before the customer hears anything, and never half-stored).

Reason → skill (who can own the ticket):

============================================================  ===========
reason                                                        skill
============================================================  ===========
pricing                                                       sales
billing, double_charge                                        billing
ask_manager, legal                                            manager
request_human, repeated_misunderstanding, frustration,        support
policy_limit, backend_failure, low_rating,
tech_support_unresolved, verification_failed
============================================================  ===========

``legal`` goes to a manager because a support specialist should not answer a legal claim alone.
If nobody active has the skill, the ticket goes to a manager rather than nowhere (house rule 4).

Personal data (emails, phones) is never logged in the clear; see :func:`mask_email`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.services.business_hours import (
    InvalidWorkingHours,
    WorkingHours,
    by_when_phrase,
    promised_reply_time,
    reply_target_hours,
)
from actions.services.references import new_reference
from actions.settings import get_settings
from actions.store.models import Customer, Staff, Ticket

logger = logging.getLogger(__name__)

UTC = dt.timezone.utc

STATUS_OPEN = "open"
STATUS_RESOLVED = "resolved"

SKILLS = frozenset({"support", "sales", "billing", "manager"})

REASON_SKILLS: Mapping[str, str] = {
    "request_human": "support",
    "ask_manager": "manager",
    "repeated_misunderstanding": "support",
    "frustration": "support",
    "policy_limit": "support",
    "pricing": "sales",
    "legal": "manager",
    "backend_failure": "support",
    "low_rating": "support",
    "billing": "billing",
    "double_charge": "billing",
    "tech_support_unresolved": "support",
    "verification_failed": "support",
}
REASONS = frozenset(REASON_SKILLS)

CONTACT_CHANNELS = frozenset({"email", "phone", "chat"})

# "BD-" and five random digits (BD-10427), drawn with ``secrets`` and unique (services/references.py):
# a reference says nothing about the next one, so references cannot be walked. A nearly full range
# grows a sixth digit, which the pattern below accepts.
REFERENCE_PREFIX = "BD-"
_REFERENCE = re.compile(r"^BD-([0-9]{5,9})$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().-]+$")


class HandoffError(ValueError):
    """A request the service refuses, with a message fit for a log or a developer."""


class UnknownReason(HandoffError):
    pass


class UnknownSkill(HandoffError):
    pass


class InvalidContact(HandoffError):
    pass


class NoStaffAvailable(HandoffError):
    pass


@dataclass(frozen=True)
class Assignment:
    """Who gets a ticket and by when they will reply (aware UTC)."""

    staff_id: int
    name: str
    role: str
    promised_by: dt.datetime
    open_tickets: int


@dataclass(frozen=True)
class TicketReceipt:
    """Everything the customer must hear about a new ticket (house rule 5)."""

    reference: str
    reason: str
    staff_name: str
    staff_role: str
    contact_channel: str
    contact_detail: str | None
    promised_by: dt.datetime
    by_when: str


@dataclass(frozen=True)
class ManagerContact:
    name: str
    role: str
    email: str


@dataclass(frozen=True)
class TicketStatus:
    """A ticket as its owner-verified customer may see it; times are aware UTC.

    ``proves_email`` is the ticket's address when that address was proven in the conversation that
    opened the ticket (so a match on reference + address proves the requester), else ``None``.
    """

    reference: str
    status: str
    reason: str
    owner_name: str | None
    owner_role: str | None
    promised_by: dt.datetime | None
    created_at: dt.datetime
    last_update: dt.datetime
    proves_email: str | None = None


@dataclass(frozen=True)
class ContactPreference:
    channel: str
    detail: str | None


# ---------------------------------------------------------------------------------------------
# small helpers


def mask_email(email: str | None) -> str:
    """"dana@example.com" → "d***@example.com" (for logs; never log the address itself)."""
    if not email or "@" not in email:
        return "***"
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str | None) -> str:
    """"+1 312 555 0199" → "***99"."""
    digits = re.sub(r"\D", "", phone or "")
    return f"***{digits[-2:]}" if len(digits) >= 2 else "***"


def normalize_email(email: str | None) -> str | None:
    """Trimmed, lower-cased address, or ``None`` when it is not shaped like an e-mail address."""
    cleaned = (email or "").strip().lower()
    return cleaned if _EMAIL.match(cleaned) and len(cleaned) <= 254 else None


def normalize_reference(reference: str | None) -> str | None:
    """" bd-10427 ", full-width "ＢＤ－１０４２７" → "BD-10427"; anything not shaped like a reference
    (other scripts' digits included: no stored reference has them) → ``None``."""
    match = _REFERENCE.match(unicodedata.normalize("NFKC", reference or "").strip())
    return f"{REFERENCE_PREFIX}{match.group(1)}" if match else None


def skill_for_reason(reason: str) -> str:
    """The skill a ticket with ``reason`` needs; raises :class:`UnknownReason` for anything unlisted."""
    try:
        return REASON_SKILLS[reason]
    except KeyError:
        known = ", ".join(sorted(REASONS))
        raise UnknownReason(f"unknown handoff reason {reason!r}; expected one of {known}") from None


def _as_utc(naive: dt.datetime | None) -> dt.datetime | None:
    # The store keeps naive UTC (SQLite has no time zones); callers get aware datetimes back.
    return naive.replace(tzinfo=UTC) if naive is not None else None


def _to_store(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime (UTC)")
    return moment.astimezone(UTC).replace(tzinfo=None)


def _staff_skills(staff: Staff) -> set[str]:
    return {part.strip().lower() for part in (staff.skills or "").split(",") if part.strip()}


def _find_customer(session: Session, email: str) -> Customer | None:
    # Emails are stored lower-cased (seed, _get_or_create_customer), so the unique index serves this.
    return session.scalars(select(Customer).where(Customer.email == email)).one_or_none()


def _get_or_create_customer(session: Session, email: str) -> Customer:
    """The customer with ``email``; someone new gets a row with an empty name (we never invent one)."""
    customer = _find_customer(session, email)
    if customer is None:
        customer = Customer(email=email, name="")
        session.add(customer)
        session.flush()
    return customer


def _validate_contact(channel: str, detail: str | None, email: str | None) -> tuple[str, str | None]:
    """Check a channel/detail pair and fill the obvious detail: email → their address, chat → none."""
    channel = (channel or "").strip().lower()
    if channel not in CONTACT_CHANNELS:
        raise InvalidContact(f"contact channel {channel!r} is not one of {', '.join(sorted(CONTACT_CHANNELS))}")
    detail = (detail or "").strip() or None
    if channel == "email":
        detail = normalize_email(detail) if detail else email
        if detail is None:
            raise InvalidContact("contact by email needs a valid e-mail address")
    elif channel == "phone":
        digits = re.sub(r"\D", "", detail or "")
        if not detail or not _PHONE_CHARS.match(detail) or not 7 <= len(digits) <= 15:
            raise InvalidContact("contact by phone needs a phone number (7 to 15 digits)")
    else:
        # Chat: the reply arrives in the conversation itself; there is no address to keep.
        detail = None
    return channel, detail


# ---------------------------------------------------------------------------------------------
# staff


def assign_staff(
    session: Session, skill: str, now: dt.datetime, *, target_hours: float | None = None
) -> Assignment:
    """Pick the owner for a ticket needing ``skill`` (support, sales, billing, manager).

    Rules: only active staff whose comma-separated skills include ``skill``; the earliest promised
    reply time wins (someone at work now beats someone off until Monday); on a tie a specialist goes
    before a manager who merely covers the skill (managers are the backup, not the first line), then
    the fewest open tickets, then the name (so the choice is stable). Staff with an unusable schedule are skipped
    (logged by id). If nobody qualifies, a manager takes it; if there is no manager either,
    :class:`NoStaffAvailable` is raised. ``target_hours`` defaults to :func:`reply_target_hours`.
    """
    skill = (skill or "").strip().lower()
    if skill not in SKILLS:
        raise UnknownSkill(f"unknown skill {skill!r}; expected one of {', '.join(sorted(SKILLS))}")
    if target_hours is None:
        target_hours = reply_target_hours(session, get_settings().reply_target_hours)

    active = list(session.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.name, Staff.id)))
    candidates = [s for s in active if skill in _staff_skills(s)] or [
        s for s in active if "manager" in _staff_skills(s)
    ]
    open_counts = dict(
        session.execute(
            select(Ticket.staff_id, func.count(Ticket.id))
            .where(Ticket.status == STATUS_OPEN, Ticket.staff_id.is_not(None))
            .group_by(Ticket.staff_id)
        ).all()
    )
    ranked: list[tuple[dt.datetime, bool, int, str, int, Staff]] = []
    for staff in candidates:
        try:
            promised = promised_reply_time(now, WorkingHours.of(staff), target_hours)
        except InvalidWorkingHours as exc:
            logger.warning("staff %s skipped for handoff: %s", staff.id, exc)
            continue
        backup = skill != "manager" and "manager" in _staff_skills(staff)
        ranked.append((promised, backup, open_counts.get(staff.id, 0), staff.name, staff.id, staff))
    if not ranked:
        raise NoStaffAvailable(f"no active staff member can take a {skill!r} ticket")
    promised, _, open_tickets, _, _, chosen = min(ranked, key=lambda row: row[:5])
    return Assignment(
        staff_id=chosen.id, name=chosen.name, role=chosen.role, promised_by=promised, open_tickets=open_tickets
    )


def manager_contact(session: Session) -> ManagerContact | None:
    """The customer care manager's name, role and e-mail (the active staff row with the manager skill).

    Rule 5: "who's your manager?" gets a name and a way to reach them. With several managers the
    first by name is given; with none, ``None``.
    """
    for staff in session.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.name, Staff.id)):
        if "manager" in _staff_skills(staff):
            return ManagerContact(name=staff.name, role=staff.role, email=staff.email)
    return None


# ---------------------------------------------------------------------------------------------
# tickets


def _receipt(ticket: Ticket, now: dt.datetime) -> TicketReceipt:
    promised = _as_utc(ticket.promised_by)
    assert promised is not None and ticket.staff is not None  # set by create_ticket
    return TicketReceipt(
        reference=ticket.reference,
        reason=ticket.reason,
        staff_name=ticket.staff.name,
        staff_role=ticket.staff.role,
        contact_channel=ticket.contact_channel or "chat",
        contact_detail=ticket.contact_detail,
        promised_by=promised,
        by_when=by_when_phrase(promised, now, get_settings().store_timezone),
    )


def create_ticket(
    session: Session,
    *,
    conversation_id: str | None,
    reason: str,
    customer_email: str | None,
    contact_channel: str,
    contact_detail: str | None = None,
    summary: str = "",
    transcript: str = "",
    skill: str | None = None,
    email_proven: bool = False,
    now: dt.datetime,
) -> TicketReceipt:
    """Store an open ticket for a human in the caller's transaction and return what to tell the customer.

    Rules:
    - ``reason`` must be one of :data:`REASONS` (stored as the ticket reason); ``skill`` defaults
      to the reason's skill (:data:`REASON_SKILLS`);
    - ``customer_email`` (optional: an anonymous visitor can still get help) links the ticket to the
      customer, creating a customer row for someone new, so that only this address can look the
      ticket up later; the channel is email/phone/chat, and an email contact defaults to that address;
    - ``email_proven`` says whether that address was proven in this conversation (order number +
      email); only then does a later lookup by reference + address prove who is asking. Nothing of
      the customer row is changed here: contact details typed for a ticket stay on the ticket;
    - the owner and promised time come from :func:`assign_staff`; the reference is ``BD-`` + five
      random digits, unique (:func:`~actions.services.references.new_reference`);
    - the same conversation asking again for the same reason while its ticket is open gets that
      ticket back instead of a duplicate (retries, double clicks);
    - nothing is committed here: if the caller's unit of work fails, no ticket exists.
    """
    skill_for_reason(reason)  # validates the reason before anything is read or written
    skill = skill or REASON_SKILLS[reason]
    email = None
    if customer_email is not None and customer_email.strip():
        email = normalize_email(customer_email)
        if email is None:
            raise InvalidContact("the customer e-mail address is not valid")
    channel, detail = _validate_contact(contact_channel, contact_detail, email)
    stamp = _to_store(now)

    if conversation_id:
        existing = session.scalars(
            select(Ticket)
            .where(Ticket.conversation_id == conversation_id, Ticket.reason == reason, Ticket.status == STATUS_OPEN)
            .order_by(Ticket.id)
        ).first()
        if existing is not None and existing.staff is not None and existing.promised_by is not None:
            return _receipt(existing, now)

    assignment = assign_staff(session, skill, now)
    customer = _get_or_create_customer(session, email) if email else None
    ticket = Ticket(
        reference=new_reference(session, Ticket.reference, REFERENCE_PREFIX),
        conversation_id=conversation_id,
        reason=reason,
        customer=customer,
        contact_channel=channel,
        contact_detail=detail,
        summary=summary,
        transcript=transcript,
        staff_id=assignment.staff_id,
        promised_by=_to_store(assignment.promised_by),
        status=STATUS_OPEN,
        created_at=stamp,
        updated_at=stamp,
        email_proven=bool(email_proven and email),
    )
    session.add(ticket)
    session.flush()
    logger.info(
        "ticket %s (%s) for %s assigned to staff %s",
        ticket.reference,
        reason,
        mask_email(email) if email else "an anonymous visitor",
        assignment.staff_id,
    )
    return _receipt(ticket, now)


def ticket_status(session: Session, reference: str, email: str) -> TicketStatus | None:
    """A ticket's status, only for the customer who owns it (house rule 11).

    Rules: a malformed reference or e-mail returns ``None`` without touching the store; a ticket
    that does not exist, has no customer, or belongs to another address also returns ``None`` (the
    caller cannot tell which, so references cannot be probed). E-mails compare case-insensitively.
    A match shows the ticket's status; it proves the requester's address only when the ticket says
    that address was proven when it was opened (``proves_email``). Failed checks are counted by the
    caller (:mod:`actions.services.access`).
    """
    ref = normalize_reference(reference)
    address = normalize_email(email)
    if ref is None or address is None:
        return None
    ticket = session.scalars(select(Ticket).where(Ticket.reference == ref)).one_or_none()
    if ticket is None or ticket.customer is None or ticket.customer.email.strip().lower() != address:
        return None
    return _status_of(ticket, proves_email=address if ticket.email_proven else None)


def conversation_ticket_status(session: Session, conversation_id: str) -> TicketStatus | None:
    """The status of the newest ticket opened in this conversation, or ``None``.

    The conversation is the proof of ownership here: the customer in it is the one who asked for
    the ticket, so neither reference nor email is needed (also for a chat-only ticket, which has no
    email to check against).
    """
    ticket = session.scalars(
        select(Ticket).where(Ticket.conversation_id == conversation_id).order_by(Ticket.created_at.desc(),
                                                                               Ticket.id.desc()).limit(1)
    ).one_or_none()
    return None if ticket is None else _status_of(ticket)


def _status_of(ticket: Ticket, proves_email: str | None = None) -> TicketStatus:
    return TicketStatus(
        reference=ticket.reference,
        status=ticket.status,
        reason=ticket.reason,
        owner_name=ticket.staff.name if ticket.staff else None,
        owner_role=ticket.staff.role if ticket.staff else None,
        promised_by=_as_utc(ticket.promised_by),
        created_at=_as_utc(ticket.created_at),  # type: ignore[arg-type]
        last_update=_as_utc(ticket.updated_at),  # type: ignore[arg-type]
        proves_email=proves_email,
    )


# ---------------------------------------------------------------------------------------------
# contact preference (house rule 9: ask, store, honour later)


def set_preferred_contact(session: Session, email: str, channel: str, detail: str | None = None) -> ContactPreference:
    """Store how the customer with ``email`` wants to be contacted: email, phone or chat.

    Rules: the channel goes to ``Customer.preferred_contact``; a phone number given with the phone
    channel replaces ``Customer.phone``; the email channel uses the address on the account (a
    different address is refused, since the customer row has room for one); chat keeps no detail.
    Someone new gets a customer row. Raises :class:`InvalidContact` for anything else.
    Callers pass only a *proven* address (actions/services/identity.py): a claimed one changes nothing.
    """
    address = normalize_email(email)
    if address is None:
        raise InvalidContact("the customer e-mail address is not valid")
    if (channel or "").strip().lower() == "email" and detail and normalize_email(detail) != address:
        raise InvalidContact("contact by email uses the address on the customer's account")
    channel, detail = _validate_contact(channel, detail, address)
    customer = _get_or_create_customer(session, address)
    customer.preferred_contact = channel
    if channel == "phone":
        customer.phone = detail
    session.flush()
    logger.info("contact preference %s stored for %s", channel, mask_email(address))
    return ContactPreference(channel=channel, detail=detail)


def preferred_contact(session: Session, email: str) -> ContactPreference | None:
    """The stored preference for ``email`` (with the phone or address it implies), or ``None``.

    Callers pass only a *proven* address: a claimed one must not reveal a stored phone."""
    address = normalize_email(email)
    if address is None:
        return None
    customer = _find_customer(session, address)
    if customer is None or customer.preferred_contact not in CONTACT_CHANNELS:
        return None
    channel = customer.preferred_contact
    detail = {"email": customer.email, "phone": customer.phone}.get(channel)
    if channel == "phone" and not detail:
        return None  # a phone preference without a number cannot be honoured; ask again
    return ContactPreference(channel=channel, detail=detail)
