"""Product conversations, grounded in the catalog: search, details, stock, comparison, buying,
promotions. Every fact said comes from the store (house rules 2 and 7).

Rules:
- a search reads the category and the budget from the customer's own words, searches the FTS
  index with what is left, and returns the best few with price and stock;
- a budget that cannot be used ("cheap", "$-5", "a million") is asked about, not guessed;
- a name we do not carry gets "we don't carry that" plus the closest real items;
- an out-of-stock item comes with its restock date and an in-stock alternative;
- only promotions that exist in the ``promotions`` table are ever mentioned.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.services import budget as budgets
from actions.services import search
from actions.services.catalog import format_money, resolve_product, stock_phrase
from actions.services.orders import Answer
from actions.store.models import Product, ProductRelation, Promotion, RelationKind

SHOP_PRODUCT_URL = "{base}/products/{sku}"
RESULTS = 3
# Words that carry no product meaning in a request ("I need a laptop for ...").
_FILLER = re.compile(
    r"\b(i|i'm|im|me|my|we|need|want|would|like|looking|look|for|a|an|the|some|any|new|good|best|"
    r"please|show|find|recommend|suggest|do|you|have|sell|got|can|could|something|what|which|is|are|"
    r"under|below|less|than|max|maximum|up|to|around|about|between|and|or|budget|of|with|in|on|"
    r"dollars?|bucks|usd|cheap|cheapest|affordable|that|it|should|get|buy)\b",
    re.IGNORECASE,
)
_MONEY = re.compile(r"[$€£]?\s?-?\d[\d,.]*\s?(k|grand|thousand|million|m)?\b", re.IGNORECASE)
_PRESSURE = re.compile(
    r"(\d{1,2}\s?%|percent|or i('| wi)ll (leave|go|walk)|competitor|match (the|their) price|cheaper (at|on|elsewhere)"
    r"|amazon|best buy|or else|otherwise i)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ProductLine:
    name: str
    price: str
    stock: str


@dataclass
class SearchAnswer:
    answer: Answer
    hits: list[search.SearchHit] = field(default_factory=list)


def _lines(hits: list[search.SearchHit]) -> str:
    out = []
    for hit in hits:
        if hit.stock is None:
            stock = "available"
        elif hit.in_stock:
            stock = f"{hit.stock} in stock"
        elif hit.restock_date:
            stock = f"out of stock until {hit.restock_date:%B} {hit.restock_date.day}"
        else:
            stock = "out of stock"
        out.append(f"• {hit.name}: {hit.price} ({stock})")
    return "\n".join(out)


# Words by which a message points back at the product being discussed ("is it in stock?").
_REFERS_BACK = re.compile(r"\b(it|its|it's|that|this|those|these|them|one|same)\b", re.IGNORECASE)
_SHORT_FOLLOW_UP_WORDS = 3


def refers_back(text: str) -> bool:
    """Whether a message without a product name is about the product discussed before.

    Rules: a pronoun ("is it in stock?", "how much is that one?") or a short follow-up of at most
    three words ("in stock?", "and the price?") refers back; anything longer that names no product
    ("do you have any webcams?") is a new question, to be answered from the catalog, never with the
    previous product.
    """
    return bool(_REFERS_BACK.search(text)) or len(text.split()) <= _SHORT_FOLLOW_UP_WORDS


def _category_in(session: Session, text: str) -> tuple[str | None, str]:
    """The category a request names, and the text without that word."""
    for word in re.findall(r"[a-z][a-z&-]+(?: plans?)?", text.lower()):
        category = search.resolve_category(session, word)
        if category is not None:
            return category.slug, re.sub(rf"\b{re.escape(word)}\b", " ", text, count=1, flags=re.IGNORECASE)
    return None, text


def search_catalog(session: Session, text: str, currency: str) -> SearchAnswer:
    """Answer "I need a laptop for video editing under 2000" from the catalog."""
    wanted = budgets.parse_budget(text)
    if wanted.needs_question:
        return SearchAnswer(Answer(f"utter_budget_{wanted.kind.value}", {"phrase": wanted.phrase or text[:40]}))
    category, rest = _category_in(session, text)
    rest = _MONEY.sub(" ", rest) if wanted.usable else rest
    words = " ".join(_FILLER.sub(" ", rest).split())
    bounds: dict[str, Any] = {}
    if wanted.usable:
        bounds = {"max_price_cents": wanted.max_cents, "min_price_cents": wanted.min_cents}
    hits = search.search_products(session, words or None, category=category, limit=RESULTS, currency=currency,
                                  **bounds)
    if not hits and words and category:
        # The use case may be worded differently from our descriptions: fall back to the category.
        hits = search.search_products(session, None, category=category, limit=RESULTS, currency=currency, **bounds)
    if not hits:
        closest = search.closest_products(session, words or text, currency=currency)
        return SearchAnswer(Answer("utter_search_nothing", {"closest": _lines(closest) or "(nothing close)"}), closest)
    values = {"results": _lines(hits)}
    if wanted.usable and wanted.phrase:
        values["budget"] = wanted.phrase
        return SearchAnswer(Answer("utter_search_results_budget", values), hits)
    return SearchAnswer(Answer("utter_search_results", values), hits)


def _unknown(session: Session, named: str, currency: str) -> Answer:
    closest = search.closest_products(session, named, currency=currency)
    if closest:
        return Answer("utter_product_not_carried", {"product_name": named[:80], "closest": _lines(closest)})
    return Answer("utter_product_unknown", {"product_name": named[:80]})


def _ambiguous(names: list[str]) -> Answer:
    return Answer("utter_which_product", {"names": names})


def _find(session: Session, named: str, currency: str) -> tuple[Product | None, Answer | None]:
    """The product ``named``, or the answer to give instead (which one? / we don't carry it)."""
    match = resolve_product(session, named)
    if match.product is not None:
        return match.product, None
    if match.candidates:
        return None, _ambiguous([p.name for p in match.candidates])
    return None, _unknown(session, named, currency)


def product_info(session: Session, named: str, currency: str, today: dt.date) -> tuple[Answer, Product | None]:
    product, instead = _find(session, named, currency)
    if product is None:
        return instead, None
    return Answer(
        "utter_product_info",
        {
            "product_name": product.name,
            "description": product.description or "No description on file yet.",
            "price": format_money(product.price_cents, currency),
            "stock": stock_phrase(product, today),
        },
    ), product


def _alternative(session: Session, product: Product) -> Product | None:
    rows = session.scalars(
        select(Product)
        .join(ProductRelation, ProductRelation.related_id == Product.id)
        .where(ProductRelation.product_id == product.id, ProductRelation.kind == RelationKind.alternative,
               Product.active.is_(True))
        .order_by(Product.price_cents)
    )
    return next((p for p in rows if p.in_stock), None)


def stock_info(session: Session, named: str, currency: str, today: dt.date) -> tuple[Answer, Product | None]:
    """Stock count; out of stock → restock date and an in-stock alternative."""
    product, instead = _find(session, named, currency)
    if product is None:
        return instead, None
    values = {"product_name": product.name, "stock": stock_phrase(product, today)}
    if product.in_stock:
        return Answer("utter_stock", values), product
    alternative = _alternative(session, product)
    if alternative is None:
        return Answer("utter_out_of_stock", values), product
    return Answer(
        "utter_out_of_stock_alternative",
        {**values, "alternative": alternative.name, "alternative_price": format_money(alternative.price_cents,
                                                                                       currency),
         "alternative_stock": alternative.stock if alternative.stock is not None else "plenty"},
    ), product


def compare(session: Session, names: list[str], currency: str, today: dt.date) -> Answer:
    """Side by side: price, stock and the key specs (description) of two to three products."""
    products: list[Product] = []
    for named in dict.fromkeys(names):
        product, instead = _find(session, named, currency)
        if product is None:
            return instead
        if product not in products:
            products.append(product)
    if len(products) < 2:
        return Answer("utter_compare_need_two")
    rows = "\n".join(
        f"• {p.name}: {format_money(p.price_cents, currency)}, {stock_phrase(p, today)}. {p.description}"
        for p in products[:3]
    )
    return Answer("utter_compare", {"comparison": rows})


def buy(session: Session, named: str, currency: str, today: dt.date, shop_url: str) -> tuple[Answer, Product | None]:
    """The purchase step: the product's page on the shop, where it is added to the cart."""
    product, instead = _find(session, named, currency)
    if product is None:
        return instead, None
    if not product.in_stock:
        answer, _ = stock_info(session, named, currency, today)
        return answer, product
    return Answer(
        "utter_buy_link",
        {"product_name": product.name, "price": format_money(product.price_cents, currency),
         "url": SHOP_PRODUCT_URL.format(base=shop_url.rstrip("/"), sku=product.sku)},
    ), product


def is_pressure(text: str) -> bool:
    """A demand beyond policy: a percentage, a threat to leave, a competitor's price."""
    return bool(_PRESSURE.search(text or ""))


def discount_answer(session: Session, text: str, today: dt.date) -> Answer:
    """Only real promotions; pressure gets a firm, friendly no and the sales specialist."""
    promotions = [
        p for p in session.scalars(select(Promotion).where(Promotion.active.is_(True)).order_by(Promotion.id))
        if (p.starts_on is None or p.starts_on <= today) and (p.ends_on is None or p.ends_on >= today)
    ]
    listing = "; ".join(f"{p.title} ({p.description})" for p in promotions)
    if is_pressure(text):
        return Answer("utter_discount_firm", {"promotions": listing or "none right now"})
    if not promotions:
        return Answer("utter_discount_none")
    return Answer("utter_discount_real", {"promotions": listing})
