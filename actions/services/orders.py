"""Order help: ownership checks and the honest answer for status, returns, cancellations,
problems and billing, all from the store.

Rules:
- nothing about an order is returned unless :func:`verify_order` confirmed that the order
  number and the email belong together; an unknown number and a wrong email look the same
  to the caller, so a failed check reveals nothing;
- dates are the store's local dates; "late" means the promised date has passed without delivery;
- a return is only opened inside the window in the ``returns`` policy, counted from delivery;
  a cancellation only while the order is still processing; each writes in the caller's transaction.

Each answer names the domain response to utter and the values it needs (:class:`Answer`).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.services.catalog import format_money
from actions.services.references import new_reference
from actions.store.models import Order, OrderStatus, Policy, ReturnAuthorization

ORDER_NUMBER = re.compile(r"^[0-9]{5,8}$")
# Dot-atom local part (no leading, trailing or doubled dot) and DNS labels (no edge hyphen): an
# address mail can actually be sent to, since it may become the contact a ticket promises.
EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9._%+'-]{1,64}(?<!\.)@"
    r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$"
)
RMA_PREFIX = "RMA-"

_DAMAGED = re.compile(
    r"\b(broken|broke|crack\w*|damag\w*|smash\w*|dent\w*|scratch\w*|shatter\w*|bent|torn)\b", re.I
)
_WRONG = re.compile(r"\b(wrong|not what i (ordered|bought)|different (item|product|model|colou?r)|mix(ed)?[- ]up)\b",
                    re.I)
_MISSING = re.compile(
    r"\b(missing|not in the (box|package)|didn'?t (include|come with)|left out|empty (box|package))\b", re.I
)
_DOUBLE = re.compile(r"\b(twice|double|two times|charged (me )?again|duplicate|charged 2x|2 charges)\b", re.I)


@dataclass(frozen=True)
class Answer:
    """A response to utter (by domain name) with its template values."""

    response: str
    values: dict[str, Any] = field(default_factory=dict)


def clean_order_number(raw: Any) -> str | None:
    """"#10042", " 10042 ", full-width "１００４２" → "10042"; anything but 5–8 digits → None."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).strip().lstrip("#").replace(" ", "")
    return text if ORDER_NUMBER.match(text) else None


def clean_email(raw: Any) -> str | None:
    """A syntactically plausible email, lower-cased; anything else → None."""
    if raw is None:
        return None
    text = str(raw).strip().lower()
    return text if len(text) <= 254 and EMAIL.match(text) else None


def verify_order(session: Session, number: str, email: str) -> bool:
    """True only when order ``number`` exists and belongs to ``email`` (case-insensitive)."""
    order = _order(session, number)
    return order is not None and order.customer.email.lower() == email.strip().lower()


def verified_greeting(session: Session, number: str) -> Answer:
    """How to greet the owner of a verified order: by first name, "welcome back" if they have ordered before."""
    order = _order(session, number)
    if order is None or not order.customer.name:
        return Answer("utter_verified")
    first = order.customer.name.split()[0]
    returning = sum(1 for o in order.customer.orders if o.status is not OrderStatus.cancelled) > 1
    return Answer("utter_verified_returning" if returning else "utter_verified_named", {"name": first})


def _order(session: Session, number: str) -> Order | None:
    return session.scalars(select(Order).where(Order.number == number)).one_or_none()


def _policy_value(session: Session, key: str, default: int) -> int:
    value = session.scalars(select(Policy.value).where(Policy.key == key)).one_or_none()
    return default if value is None else int(value)


def _policy_text(session: Session, key: str) -> str:
    return session.scalars(select(Policy.body).where(Policy.key == key)).one_or_none() or ""


def long_date(day: dt.date) -> str:
    """2026-11-20 → "Friday, November 20"."""
    return f"{day:%A, %B} {day.day}"


def _items(order: Order) -> str:
    names = [
        f"{line.quantity} × {line.product.name}" if line.quantity > 1 else line.product.name for line in order.lines
    ]
    return ", ".join(names) or "no items"


def _base(order: Order) -> dict[str, Any]:
    return {"order_id": order.number, "items": _items(order)}


def is_late(order: Order, today: dt.date) -> bool:
    return order.status is OrderStatus.shipped and order.promised_date is not None and order.promised_date < today


def order_status(session: Session, number: str, today: dt.date) -> Answer:
    """The real state of a verified order; a late one gets the new estimate and the plan."""
    order = _order(session, number)
    if order is None:  # verified orders exist; this is a guard, not a path
        return Answer("utter_order_not_found")
    values = _base(order)
    if order.status is OrderStatus.processing:
        return Answer("utter_order_status_processing", {**values, "promised": long_date(order.promised_date)})
    if order.status is OrderStatus.cancelled:
        return Answer("utter_order_status_cancelled", values)
    if order.status is OrderStatus.delivered:
        return Answer("utter_order_status_delivered", {**values, "delivered": long_date(order.delivered_at.date())})
    values |= {"carrier": order.carrier or "the carrier", "tracking": order.tracking_number or "not available yet"}
    if is_late(order, today):
        estimate = order.estimated_date
        return Answer(
            "utter_order_status_late",
            {
                **values,
                "promised": long_date(order.promised_date),
                "delay_reason": order.delay_reason or "delayed in transit",
                "estimated": long_date(estimate) if estimate else "not confirmed yet",
                "late_policy": _policy_text(session, "late_delivery"),
            },
        )
    return Answer("utter_order_status_shipped", {**values, "promised": long_date(order.promised_date)})


def _next_rma_reference(session: Session) -> str:
    """``RMA-`` + five random digits, unique (never sequential: one reference tells nothing of others)."""
    return new_reference(session, ReturnAuthorization.reference, RMA_PREFIX)


def _open_case(session: Session, order: Order, kind: str, resolution: str, conversation_id: str) -> ReturnAuthorization:
    case = ReturnAuthorization(
        reference=_next_rma_reference(session),
        order=order,
        kind=kind,
        resolution=resolution,
        conversation_id=conversation_id,
    )
    session.add(case)
    session.flush()
    return case


def _existing_case(session: Session, order: Order) -> ReturnAuthorization | None:
    return session.scalars(
        select(ReturnAuthorization).where(
            ReturnAuthorization.order_id == order.id, ReturnAuthorization.status == "open"
        )
    ).first()


def start_return(session: Session, number: str, today: dt.date, conversation_id: str) -> Answer:
    """Open a return inside the policy window, or say honestly why not and what instead."""
    order = _order(session, number)
    if order is None:
        return Answer("utter_order_not_found")
    values = _base(order)
    window = _policy_value(session, "returns", 30)
    existing = _existing_case(session, order)
    if existing:
        return Answer("utter_return_already_open", {**values, "reference": existing.reference})
    if order.status is OrderStatus.processing:
        return Answer("utter_return_not_shipped", values)
    if order.status is OrderStatus.cancelled:
        return Answer("utter_order_status_cancelled", values)
    if order.status is OrderStatus.shipped:
        return Answer("utter_return_not_delivered", {**values, "window": window})
    delivered = order.delivered_at.date()
    deadline = delivered + dt.timedelta(days=window)
    if today > deadline:
        return Answer(
            "utter_return_outside_window",
            {**values, "delivered": long_date(delivered), "days": (today - delivered).days, "window": window},
        )
    case = _open_case(session, order, "return", "refund", conversation_id)
    return Answer(
        "utter_return_created",
        {
            **values,
            "reference": case.reference,
            "amount": format_money(order.total_cents),
            "deadline": long_date(deadline),
        },
    )


def cancel_order(session: Session, number: str) -> Answer:
    """Cancel while still processing; otherwise explain why not and the alternative."""
    order = _order(session, number)
    if order is None:
        return Answer("utter_order_not_found")
    values = _base(order)
    if order.status is OrderStatus.processing:
        order.status = OrderStatus.cancelled
        session.flush()
        return Answer(
            "utter_cancel_done",
            {**values, "amount": format_money(order.total_cents), "days": _policy_value(session, "cancellation", 5)},
        )
    if order.status is OrderStatus.cancelled:
        return Answer("utter_order_status_cancelled", values)
    window = _policy_value(session, "returns", 30)
    if order.status is OrderStatus.shipped:
        return Answer(
            "utter_cancel_too_late_shipped",
            {**values, "shipped": long_date(order.shipped_at.date()), "carrier": order.carrier or "the carrier",
             "window": window},
        )
    return Answer("utter_cancel_too_late_delivered", {**values, "window": window})


def problem_kind(text: str) -> str:
    """What went wrong, from the customer's words: damaged, wrong_item, missing or other."""
    if _WRONG.search(text or ""):
        return "wrong_item"
    if _MISSING.search(text or ""):
        return "missing"
    if _DAMAGED.search(text or ""):
        return "damaged"
    return "other"


def report_problem(session: Session, number: str, text: str, today: dt.date, conversation_id: str) -> Answer:
    """Damaged, wrong or missing item: a free replacement case inside the policy window."""
    order = _order(session, number)
    if order is None:
        return Answer("utter_order_not_found")
    values = _base(order)
    kind = problem_kind(text)
    if order.status is not OrderStatus.delivered:
        # Nothing arrived yet: the honest answer is where the parcel is.
        return order_status(session, number, today)
    window = _policy_value(session, "damaged", 14)
    delivered = order.delivered_at.date()
    if (today - delivered).days > window:
        return Answer(
            "utter_problem_outside_window",
            {**values, "delivered": long_date(delivered), "window": window},
        )
    existing = _existing_case(session, order)
    case = existing or _open_case(session, order, kind, "replacement", conversation_id)
    label = {
        "damaged": "arrived damaged",
        "wrong_item": "is not what you ordered",
        "missing": "is missing something",
        "other": "isn't right",
    }
    return Answer("utter_problem_case_opened", {**values, "reference": case.reference, "what": label[kind]})


def is_double_charge(text: str) -> bool:
    return bool(_DOUBLE.search(text or ""))


def billing_summary(session: Session, number: str) -> Answer:
    """What we charged for a verified order (the invoice view)."""
    order = _order(session, number)
    if order is None:
        return Answer("utter_order_not_found")
    return Answer(
        "utter_invoice",
        {**_base(order), "amount": format_money(order.total_cents), "placed": long_date(order.placed_at.date())},
    )
