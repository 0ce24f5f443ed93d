"""Catalog answers: find the product a customer named, and describe its price and stock.

Rules:
- prices and stock come from the store, formatted from integer cents;
- a name that matches several products is reported as ambiguous, never guessed;
- a name that matches nothing returns no product (the action says we don't know it).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.store.lookup import GENERIC_SUFFIXES
from actions.store.models import Product

_LEADING_WORDS = re.compile(r"^(?:the|a|an|your|my|this|that)\s+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
MAX_QUERY_LENGTH = 120


def format_money(cents: int, currency: str = "USD") -> str:
    """Cents → "$1,199.00" (USD) or "1,199.00 EUR" for other currencies."""
    amount = f"{cents // 100:,}.{cents % 100:02d}"
    return f"${amount}" if currency == "USD" else f"{amount} {currency}"


def stock_phrase(product: Product, today: dt.date | None = None) -> str:
    """How many are available, honestly: a count, "available any time", or when it is back."""
    if product.stock is None:
        return "it is available any time (it is a plan, not a stocked item)"
    if product.stock > 0:
        return f"we have {product.stock} in stock"
    if product.restock_date and (today is None or product.restock_date >= today):
        when = f"{product.restock_date:%A, %B} {product.restock_date.day}"
        return f"it is out of stock right now; the next delivery is expected on {when}"
    return "it is out of stock right now and we don't have a confirmed restock date yet"


def normalize_query(text: str) -> str:
    """Lower-case, collapsed, without a leading article: "The  Nimbus 14" → "nimbus 14"."""
    cleaned = _SPACES.sub(" ", text.replace("\u200b", "")).strip().lower()[:MAX_QUERY_LENGTH]
    return _LEADING_WORDS.sub("", cleaned).strip(" ?!.,")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class ProductMatch:
    """The result of looking up a product name: one product, several candidates, or none."""

    product: Product | None = None
    candidates: list[Product] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        return self.product is None and len(self.candidates) > 1


def resolve_product(session: Session, text: str) -> ProductMatch:
    """Find the product ``text`` names: by SKU, by exact name, then by name prefix."""
    key = normalize_query(text)
    if not key:
        return ProductMatch()
    active = Product.active.is_(True)
    by_sku = session.scalars(select(Product).where(active, Product.sku == key.upper())).first()
    if by_sku:
        return ProductMatch(product=by_sku)
    exact = session.scalars(select(Product).where(active, Product.name_key == key)).first()
    if exact:
        return ProductMatch(product=exact)
    prefixed = list(
        session.scalars(
            select(Product)
            .where(active, Product.name_key.like(f"{_escape_like(key)}%", escape="\\"))
            .order_by(func.length(Product.name_key), Product.name_key)
            .limit(5)
        )
    )
    if len(prefixed) == 1:
        return ProductMatch(product=prefixed[0])
    # "Nimbus 14" names the Nimbus 14 Laptop (the name without its generic last word), not the
    # Nimbus 14 Sleeve.
    bare = [p for p in prefixed if p.name_key.rsplit(" ", 1)[0] == key and p.name_key.rsplit(" ", 1)[-1] in
            GENERIC_SUFFIXES]
    if len(bare) == 1:
        return ProductMatch(product=bare[0])
    # "nimbus 14 laptop" names "Nimbus 14 Laptop" exactly, but "vista 27" fits two monitors.
    return ProductMatch(candidates=prefixed)


@dataclass(frozen=True)
class PriceQuote:
    sku: str
    name: str
    price: str
    stock: str


def price_quote(session: Session, text: str, currency: str, today: dt.date) -> tuple[PriceQuote | None, list[str]]:
    """The price and stock of the product ``text`` names, or the names it could mean."""
    match = resolve_product(session, text)
    if match.product is None:
        return None, [p.name for p in match.candidates]
    product = match.product
    return (
        PriceQuote(
            sku=product.sku,
            name=product.name,
            price=format_money(product.price_cents, currency),
            stock=stock_phrase(product, today),
        ),
        [],
    )
