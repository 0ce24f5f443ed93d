"""Back-in-stock requests: a customer leaves a contact to hear when a product is back.

Rules:
- only for a stocked product that is out of stock right now; for one in stock (or a plan, which is
  always available) nothing is stored and the answer says it can be bought now;
- the contact is checked (an e-mail address for e-mail; at least 7 digits for phone/SMS), never
  guessed; for e-mail a verified customer's own address is used when none is given;
- asking twice for the same product with the same contact keeps the first request (no duplicates);
- requests stay pending until a person notifies the customer (:func:`mark_notified`); staff list
  them with ``make back-in-stock``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.store.models import BackInStockRequest, Customer, Product, utcnow

CHANNELS = ("email", "phone", "sms")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{2,}$")


class RequestStatus(str, enum.Enum):
    created = "created"
    already_requested = "already_requested"
    in_stock = "in_stock"  # nothing to wait for: it can be bought now
    unknown_product = "unknown_product"
    invalid_contact = "invalid_contact"


@dataclass(frozen=True)
class BackInStockResult:
    status: RequestStatus
    request_id: int | None = None
    sku: str | None = None
    name: str | None = None
    restock_date: dt.date | None = None


@dataclass(frozen=True)
class PendingRequest:
    """One request as staff see it."""

    id: int
    sku: str
    name: str
    stock: int | None
    contact_channel: str
    contact_detail: str
    customer_name: str | None
    created_at: dt.datetime
    notified_at: dt.datetime | None


def normalize_contact(channel: str | None, detail: str | None) -> tuple[str, str] | None:
    """(channel, detail) cleaned, or None when they do not make a usable contact."""
    channel = (channel or "").strip().lower()
    if channel in {"text", "text message"}:
        channel = "sms"
    if channel in {"e-mail", "mail"}:
        channel = "email"
    detail = " ".join((detail or "").split())[:254]
    if channel == "email":
        detail = detail.lower()
        return (channel, detail) if _EMAIL.match(detail) else None
    if channel in {"phone", "sms"}:
        digits = re.sub(r"\D", "", detail)
        if 7 <= len(digits) <= 15 and re.fullmatch(r"[+\d\s().-]+", detail):
            return channel, detail
    return None


def request_back_in_stock(
    session: Session,
    sku: str,
    contact_channel: str,
    contact_detail: str | None = None,
    *,
    customer_email: str | None = None,
    conversation_id: str | None = None,
    now: dt.datetime | None = None,
) -> BackInStockResult:
    """Store a request to hear when ``sku`` is back; see the module docstring for the rules."""
    product = session.scalars(
        select(Product).where(Product.sku == (sku or "").strip().upper(), Product.active.is_(True))
    ).first()
    if product is None:
        return BackInStockResult(RequestStatus.unknown_product)
    found = BackInStockResult(RequestStatus.in_stock, sku=product.sku, name=product.name)
    if product.in_stock:
        return found
    customer = None
    if customer_email:
        customer = session.scalars(select(Customer).where(Customer.email == customer_email.strip().lower())).first()
    if not contact_detail and (contact_channel or "").strip().lower() in {"email", "e-mail", "mail"} and customer:
        contact_detail = customer.email
    contact = normalize_contact(contact_channel, contact_detail)
    if contact is None:
        return BackInStockResult(RequestStatus.invalid_contact, sku=product.sku, name=product.name)
    channel, detail = contact
    existing = session.scalars(
        select(BackInStockRequest).where(
            BackInStockRequest.product_id == product.id,
            BackInStockRequest.contact_channel == channel,
            BackInStockRequest.contact_detail == detail,
            BackInStockRequest.notified_at.is_(None),
        )
    ).first()
    if existing is not None:
        return BackInStockResult(
            RequestStatus.already_requested, existing.id, product.sku, product.name, product.restock_date
        )
    request = BackInStockRequest(
        product_id=product.id,
        customer_id=customer.id if customer else None,
        contact_channel=channel,
        contact_detail=detail,
        conversation_id=conversation_id,
        created_at=now or utcnow(),
    )
    session.add(request)
    session.flush()
    return BackInStockResult(RequestStatus.created, request.id, product.sku, product.name, product.restock_date)


def list_back_in_stock(
    session: Session, *, sku: str | None = None, include_notified: bool = False, limit: int = 500
) -> list[PendingRequest]:
    """Requests oldest first (pending only unless ``include_notified``), optionally for one SKU."""
    query = (
        select(BackInStockRequest, Product, Customer.name)
        .join(Product, Product.id == BackInStockRequest.product_id)
        .outerjoin(Customer, Customer.id == BackInStockRequest.customer_id)
        .order_by(BackInStockRequest.created_at, BackInStockRequest.id)
        .limit(max(1, limit))
    )
    if not include_notified:
        query = query.where(BackInStockRequest.notified_at.is_(None))
    if sku:
        query = query.where(Product.sku == sku.strip().upper())
    return [
        PendingRequest(
            id=request.id,
            sku=product.sku,
            name=product.name,
            stock=product.stock,
            contact_channel=request.contact_channel,
            contact_detail=request.contact_detail,
            customer_name=customer_name,
            created_at=request.created_at,
            notified_at=request.notified_at,
        )
        for request, product, customer_name in session.execute(query).all()
    ]


def mark_notified(session: Session, request_id: int, *, now: dt.datetime | None = None) -> bool:
    """Mark one request as done (the customer was told); False if it does not exist or was done."""
    request = session.get(BackInStockRequest, request_id)
    if request is None or request.notified_at is not None:
        return False
    request.notified_at = now or utcnow()
    session.flush()
    return True
