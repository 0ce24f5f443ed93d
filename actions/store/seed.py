"""The Brightdesk demo store (shared/DESIGN.md §2), seeded idempotently.

Seeding upserts by natural key (category slug, SKU, customer email, order number, staff
email, promotion code, policy key): running it twice leaves the same rows. Order dates are
set relative to "today" in the store's timezone, so the demo cases stay true whenever the
seed runs: 10042 is late, 10031 is inside the 30-day return window, 10061 is processing.
Tickets, offers and feedback are never touched.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.settings import PROJECT_ROOT
from actions.store.importer import import_catalog
from actions.store.models import (
    Category,
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    Policy,
    Product,
    Promotion,
    Staff,
)

DEMO_CATALOG = PROJECT_ROOT / "catalog" / "brightdesk.csv"

CATEGORIES = {
    "laptops": "Laptops",
    "monitors": "Monitors",
    "headphones": "Headphones",
    "keyboards": "Keyboards",
    "mice": "Mice",
    "webcams": "Webcams & lighting",
    "chairs": "Chairs",
    "docks-cables": "Docks & cables",
    "accessories": "Accessories",
    "protection-plans": "Protection plans",
}

STAFF = [
    {
        "name": "Priya Shah",
        "role": "support specialist",
        "skills": "support,billing",
        "email": "priya.shah@brightdesk.example",
        "phone": "+1 312 555 0142",
    },
    {
        "name": "Jo Kim",
        "role": "sales specialist",
        "skills": "sales,pricing",
        "email": "jo.kim@brightdesk.example",
        "phone": "+1 312 555 0177",
    },
    {
        "name": "Marcus Lee",
        "role": "customer care manager",
        "skills": "manager,support,billing,sales",
        "email": "marcus.lee@brightdesk.example",
        "phone": "+1 312 555 0100",
    },
]

CUSTOMERS = [
    {"email": "dana@example.com", "name": "Dana Reyes", "phone": "+1 312 555 0199"},
    {"email": "sam@example.com", "name": "Sam Okafor", "phone": None},
]

POLICIES = [
    ("returns", "Returns", "Unused or lightly used items can be returned within 30 days of delivery for a full refund; "
     "we email a prepaid return label.", 30),
    ("damaged", "Damaged, wrong or missing items", "Report damage, a wrong item or a missing item within 14 days of "
     "delivery and we send a replacement at no cost, or refund you if you prefer.", 14),
    ("late_delivery", "Late deliveries", "When a carrier misses the promised date we track the parcel with them "
     "every day; if it still hasn't arrived two business days after their new estimate, we send a replacement "
     "or refund you in full, whichever you prefer.", 2),
    ("cancellation", "Cancellations", "Orders can be cancelled free of charge until they ship; the refund reaches "
     "the original payment method within 3–5 business days.", 5),
    ("shipping", "Shipping", "Standard shipping is free on orders over $50 (otherwise $5.99) and takes 3–5 business "
     "days; express shipping costs $14.99 and takes 1–2 business days.", None),
    ("payment", "Payment methods", "We accept Visa, Mastercard, American Express, PayPal and bank transfer for "
     "business accounts.", None),
    ("warranty", "Warranty", "Every product carries a 1-year manufacturer warranty; CarePlus plans add accidental "
     "damage cover.", 12),
    ("hours", "Support hours", "Our support team works Monday to Friday, 09:00–17:00 Central Time.", None),
    ("reply_target", "Reply-time target", "A person replies to every escalated request within 4 working hours.", 4),
]

PROMOTION = {
    "code": "LAPTOP-ACCESSORY-15",
    "title": "15% off one accessory with a laptop",
    "description": "Buy a laptop and get 15% off one of its accessories in the same order.",
    "percent_off": 15,
    "applies_to_relation": "accessory",
    "requires_category": "laptops",
}


def _orders(today: dt.date) -> list[dict[str, Any]]:
    def at(days: int, hour: int = 10) -> dt.datetime:
        return dt.datetime.combine(today + dt.timedelta(days=days), dt.time(hour))

    return [
        {
            "number": "10042",
            "email": "dana@example.com",
            "status": OrderStatus.shipped,
            "placed_at": at(-9),
            "shipped_at": at(-8, 15),
            "delivered_at": None,
            "carrier": "UPS",
            "tracking_number": "1Z4E72A90342118866",
            "promised_date": today - dt.timedelta(days=3),
            "estimated_date": today + dt.timedelta(days=2),
            "delay_reason": "held up at the carrier's regional hub after a sorting backlog",
            "lines": [("NB-14", 1)],
        },
        {
            "number": "10031",
            "email": "dana@example.com",
            "status": OrderStatus.delivered,
            "placed_at": at(-24),
            "shipped_at": at(-23, 15),
            "delivered_at": at(-20, 13),
            "carrier": "FedEx",
            "tracking_number": "7712 9843 1102",
            "promised_date": today - dt.timedelta(days=20),
            "estimated_date": None,
            "delay_reason": None,
            "lines": [("HP-ANC", 1)],
        },
        {
            "number": "10061",
            "email": "sam@example.com",
            "status": OrderStatus.processing,
            "placed_at": at(0, 8),
            "shipped_at": None,
            "delivered_at": None,
            "carrier": None,
            "tracking_number": None,
            "promised_date": today + dt.timedelta(days=4),
            "estimated_date": None,
            "delay_reason": None,
            "lines": [("MON-27", 1)],
        },
    ]


def _upsert(session: Session, model: type, key: str, values: dict[str, Any]) -> Any:
    row = session.scalars(select(model).where(getattr(model, key) == values[key])).one_or_none()
    if row is None:
        row = model()
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    return row


def seed_demo(session: Session, today: dt.date, catalog: Path = DEMO_CATALOG) -> None:
    """Upsert the whole demo store in the caller's transaction."""
    for slug, name in CATEGORIES.items():
        _upsert(session, Category, "slug", {"slug": slug, "name": name})
    session.flush()
    import_catalog(session, catalog)

    products = {p.sku: p for p in session.scalars(select(Product))}
    # Out-of-stock demo items carry a restock date a couple of weeks out.
    products["NB-16"].restock_date = today + dt.timedelta(days=18)
    products["CH-STOOL"].restock_date = today + dt.timedelta(days=10)

    for staff in STAFF:
        _upsert(session, Staff, "email", {**staff, "timezone": "America/Chicago"})
    customers = {c["email"]: _upsert(session, Customer, "email", c) for c in CUSTOMERS}
    for key, title, body, value in POLICIES:
        _upsert(session, Policy, "key", {"key": key, "title": title, "body": body, "value": value})
    _upsert(session, Promotion, "code", {**PROMOTION, "active": True})
    session.flush()

    for spec in _orders(today):
        values = {k: v for k, v in spec.items() if k not in {"email", "lines"}}
        order = _upsert(session, Order, "number", {**values, "customer": customers[spec["email"]]})
        if [(line.product.sku, line.quantity) for line in order.lines] != spec["lines"]:
            order.lines.clear()
            session.flush()
            for sku, quantity in spec["lines"]:
                order.lines.append(
                    OrderLine(product=products[sku], quantity=quantity, unit_price_cents=products[sku].price_cents)
                )
        order.total_cents = sum(products[sku].price_cents * q for sku, q in spec["lines"])
    session.flush()
