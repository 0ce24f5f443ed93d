"""Product search over the catalog: the best few matches, with honest price and stock.

Rules :func:`search_products` keeps:
- customer text is only ever *text*: it is split into word tokens and each token is quoted for
  FTS5 (or bound as a parameter elsewhere), so quotes, ``*``, ``NEAR``, ``OR``, parentheses,
  ``-``, SQL fragments, markup, emoji or 10,000 characters can neither raise nor change the query;
- relevance comes from the full-text index (SQLite FTS5 ``bm25``; PostgreSQL ``ts_rank``), and
  among equally relevant products those in stock come first;
- every word must match first; only if nothing matches all of them does any word count
  ("quiet wireless mouse" prefers mice that are quiet *and* wireless);
- a category, price bound or in-stock filter is applied inside the query, so the results never
  contain a product outside the category or the budget; an unknown category matches nothing;
- only active products are returned; "in stock" means stock above zero or not a stocked item
  (a protection plan, stock ``NULL``).

:func:`closest_products` serves "we don't carry that": it matches word prefixes ("nimb" →
Nimbus), then falls back to spelling similarity over product names ("nimbuss" → Nimbus).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Float, and_, case, column, func, literal_column, or_, select, table
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from actions.services.catalog import format_money
from actions.store.models import Category, Product
from actions.store.search_index import FTS_TABLE, PG_DOCUMENT_SQL, sqlite_has_search_index

MAX_TEXT_LENGTH = 200
MAX_TOKENS = 12
MAX_LIMIT = 50
# Relevance weights per FTS column (sku, name, description, tags, category): a word in the
# name or the category name says far more about what a product is than one in its description
# ("laptop" should rank laptops above a laptop stand).
BM25_WEIGHTS = (8.0, 10.0, 1.0, 4.0, 8.0)

# Word tokens the way FTS5's unicode61 tokenizer sees them: letters and digits ("_" separates).
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# Words that carry no product meaning; dropping them lets "a mouse for my office" match
# all-words. They are dropped only while other words remain.
STOPWORDS = frozenset(
    "a an and any are as at be but by can do does for from get have i i'm im in is it its me my need "
    "of on or our please show some something that the their there this to under want was we what "
    "which with would you your looking look find buy good best new one ones got"
    .split()
)


# What customers call the demo store's categories when plain plural/singular is not enough.
CATEGORY_ALIASES = {
    "mouse": "mice",
    "dock": "docks-cables",
    "docks": "docks-cables",
    "cable": "docks-cables",
    "cables": "docks-cables",
    "protection": "protection-plans",
    "protection plan": "protection-plans",
    "warranty": "protection-plans",
    "webcam": "webcams",
    "camera": "webcams",
}


@dataclass(frozen=True)
class SearchHit:
    """One product found, with what the assistant may say about it."""

    sku: str
    name: str
    category: str  # slug, e.g. "laptops"
    category_name: str
    price_cents: int
    price: str  # formatted, e.g. "$1,199.00"
    stock: int | None  # None: not a stocked item (a plan), always available
    in_stock: bool
    restock_date: dt.date | None
    score: float  # higher is more relevant; 0.0 when no text was given


def query_tokens(text: str | None) -> list[str]:
    """The word tokens of ``text`` worth searching for, lower-cased, de-duplicated, capped.

    Stop words go unless they are all there is; at most :data:`MAX_TOKENS` tokens of at most
    40 characters each, from the first :data:`MAX_TEXT_LENGTH` characters.
    """
    if not text:
        return []
    words: list[str] = []
    for match in _TOKEN.finditer(str(text)[:MAX_TEXT_LENGTH].lower()):
        word = match.group(0)[:40]
        if word not in words:
            words.append(word)
    meaningful = [w for w in words if w not in STOPWORDS]
    return (meaningful or words)[:MAX_TOKENS]


def _quote(token: str) -> str:
    # An FTS5 string: inside double quotes nothing is an operator; a quote is escaped by doubling.
    return '"' + token.replace('"', '""') + '"'


def fts_match_expression(tokens: Sequence[str], *, any_token: bool = False, prefix: bool = False) -> str:
    """An FTS5 MATCH expression in which every token is a quoted string (never syntax).

    All tokens must match unless ``any_token``; ``prefix`` makes each a prefix query (``"nimb"*``).
    """
    star = "*" if prefix else ""
    return (" OR " if any_token else " AND ").join(_quote(t) + star for t in tokens)


def resolve_category(session: Session, text: str | None) -> Category | None:
    """The category ``text`` names: by slug or display name, singular or plural, any case."""
    if not text:
        return None
    key = " ".join(str(text).lower().split())[:80]
    if not key:
        return None
    slugged = key.replace(" & ", "-").replace(" ", "-")
    variants = {key, slugged, key.rstrip("s"), slugged.rstrip("s"), key + "s", slugged + "s"}
    if key in CATEGORY_ALIASES:
        variants.add(CATEGORY_ALIASES[key])
    return session.scalars(
        select(Category)
        .where(or_(Category.slug.in_(variants), func.lower(Category.name).in_(variants)))
        .order_by(Category.id)
    ).first()


def _in_stock_expression():  # type: ignore[no-untyped-def]
    return or_(Product.stock.is_(None), Product.stock > 0)


def _filters(
    category_id: int | None, max_price_cents: int | None, min_price_cents: int | None, in_stock_only: bool
) -> list:
    conditions = [Product.active.is_(True)]
    if category_id is not None:
        conditions.append(Product.category_id == category_id)
    if max_price_cents is not None:
        conditions.append(Product.price_cents <= max_price_cents)
    if min_price_cents is not None:
        conditions.append(Product.price_cents >= min_price_cents)
    if in_stock_only:
        conditions.append(_in_stock_expression())
    return conditions


def _columns():  # type: ignore[no-untyped-def]
    return (
        Product.sku,
        Product.name,
        Category.slug,
        Category.name,
        Product.price_cents,
        Product.stock,
        Product.restock_date,
    )


def build_fts_query(match: str, conditions: list, limit: int) -> Select:
    """The SQLite query: driven by the FTS5 index, ranked by bm25 then in-stock first.

    ``bm25()`` is lower for better matches, so the score is its negation (higher = better).
    """
    index = table(FTS_TABLE, column("rowid"))
    # The table name itself is the MATCH target and bm25's first argument in FTS5.
    fts = literal_column(FTS_TABLE)
    bm25 = func.bm25(fts, *BM25_WEIGHTS)
    in_stock_first = case((_in_stock_expression(), 0), else_=1)
    return (
        select(*_columns(), (-bm25).label("score"))
        .select_from(index)
        .join(Product, Product.id == index.c.rowid)
        .join(Category, Category.id == Product.category_id)
        .where(fts.op("MATCH")(match), *conditions)
        .order_by(bm25, in_stock_first, Product.price_cents, Product.sku)
        .limit(limit)
    )


def _postgres_query(tokens: Sequence[str], any_token: bool, conditions: list, limit: int) -> Select:
    # plainto_tsquery ANDs the words and ignores any tsquery syntax in them; for "any word" the
    # single-word queries are OR-ed with ||. The document expression matches the GIN index.
    document = literal_column(PG_DOCUMENT_SQL)
    if any_token:
        query = None
        for token in tokens:
            part = func.plainto_tsquery("simple", token)
            query = part if query is None else query.op("||")(part)
    else:
        query = func.plainto_tsquery("simple", " ".join(tokens))
    category_hit = or_(*[func.lower(Category.name).contains(t, autoescape=True) for t in tokens])
    rank = func.ts_rank(document, query, type_=Float)
    in_stock_first = case((_in_stock_expression(), 0), else_=1)
    return (
        select(*_columns(), rank.label("score"))
        .join(Category, Category.id == Product.category_id)
        .where(or_(document.op("@@")(query), category_hit), *conditions)
        .order_by(rank.desc(), in_stock_first, Product.price_cents, Product.sku)
        .limit(limit)
    )


def _substring_query(tokens: Sequence[str], any_token: bool, conditions: list, limit: int) -> Select:
    # Fallback without a text index: each token must appear in some text column (bound, escaped).
    def token_hit(token: str):  # type: ignore[no-untyped-def]
        return or_(
            *[
                func.lower(column).contains(token, autoescape=True)
                for column in (Product.sku, Product.name, Product.description, Product.tags, Category.name)
            ]
        )

    hits = [token_hit(t) for t in tokens]
    name_hits = sum(case((func.lower(Product.name).contains(t, autoescape=True), 1), else_=0) for t in tokens)
    in_stock_first = case((_in_stock_expression(), 0), else_=1)
    return (
        select(*_columns(), (name_hits * 1.0).label("score"))
        .join(Category, Category.id == Product.category_id)
        .where(or_(*hits) if any_token else and_(*hits), *conditions)
        .order_by(name_hits.desc(), in_stock_first, Product.price_cents, Product.sku)
        .limit(limit)
    )


def _browse_query(conditions: list, limit: int) -> Select:
    # No words: in stock first, then cheapest first (a budget question's natural answer).
    in_stock_first = case((_in_stock_expression(), 0), else_=1)
    return (
        select(*_columns(), literal_column("0.0").label("score"))
        .join(Category, Category.id == Product.category_id)
        .where(*conditions)
        .order_by(in_stock_first, Product.price_cents, Product.sku)
        .limit(limit)
    )


def _strategy(session: Session) -> str:
    connection = session.connection()
    backend = connection.dialect.name
    if backend == "sqlite":
        return "fts5" if sqlite_has_search_index(connection) else "substring"
    return "postgresql" if backend == "postgresql" else "substring"


def _text_query(strategy: str, tokens: Sequence[str], any_token: bool, conditions: list, limit: int) -> Select:
    if strategy == "fts5":
        return build_fts_query(fts_match_expression(tokens, any_token=any_token), conditions, limit)
    if strategy == "postgresql":
        return _postgres_query(tokens, any_token, conditions, limit)
    return _substring_query(tokens, any_token, conditions, limit)


def _hits(rows, currency: str) -> list[SearchHit]:  # type: ignore[no-untyped-def]
    return [
        SearchHit(
            sku=sku,
            name=name,
            category=slug,
            category_name=category_name,
            price_cents=price_cents,
            price=format_money(price_cents, currency),
            stock=stock,
            in_stock=stock is None or stock > 0,
            restock_date=restock_date,
            score=float(score or 0.0),
        )
        for sku, name, slug, category_name, price_cents, stock, restock_date, score in rows
    ]


def search_products(
    session: Session,
    text: str | None = None,
    category: str | None = None,
    max_price_cents: int | None = None,
    min_price_cents: int | None = None,
    in_stock_only: bool = False,
    limit: int = 5,
    currency: str = "USD",
) -> list[SearchHit]:
    """The best ``limit`` (1–50) active products for ``text`` within the filters, best first.

    ``category`` is a slug or display name ("laptops", "Laptop", "Docks & cables"); one the store
    does not have gives no results rather than results from elsewhere. Without ``text`` the
    filtered products come in-stock first, cheapest first. Bounds are inclusive, in cents.
    """
    limit = max(1, min(int(limit), MAX_LIMIT))
    category_id: int | None = None
    if category is not None and str(category).strip():
        found = resolve_category(session, category)
        if found is None:
            return []
        category_id = found.id
    if max_price_cents is not None and min_price_cents is not None and max_price_cents < min_price_cents:
        return []
    conditions = _filters(category_id, max_price_cents, min_price_cents, in_stock_only)
    tokens = query_tokens(text)
    if not tokens:
        return _hits(session.execute(_browse_query(conditions, limit)).all(), currency)
    strategy = _strategy(session)
    rows = session.execute(_text_query(strategy, tokens, False, conditions, limit)).all()
    if not rows and len(tokens) > 1:
        rows = session.execute(_text_query(strategy, tokens, True, conditions, limit)).all()
    return _hits(rows, currency)


def closest_products(session: Session, text: str | None, limit: int = 3, currency: str = "USD") -> list[SearchHit]:
    """Products whose names come closest to ``text``, for "we don't carry that, but…" answers.

    First word prefixes through the index ("nimb" finds Nimbus), any word counting; if that finds
    nothing, spelling similarity (difflib) of the whole text against active product names. Returns
    at most ``limit`` (1–10) hits, in-stock ones first among equals; empty for empty text.
    """
    limit = max(1, min(int(limit), 10))
    tokens = query_tokens(text)
    if not tokens:
        return []
    conditions = _filters(None, None, None, False)
    if _strategy(session) == "fts5":
        # Prefix matching on very short tokens ("a"*) matches half the catalog; require 3 letters.
        prefixes = [t for t in tokens if len(t) >= 3]
        if prefixes:
            match = fts_match_expression(prefixes, any_token=True, prefix=True)
            rows = session.execute(build_fts_query(match, conditions, limit)).all()
            if rows:
                return _hits(rows, currency)
    else:
        rows = session.execute(_text_query(_strategy(session), tokens, True, conditions, limit)).all()
        if rows:
            return _hits(rows, currency)
    return _similar_names(session, " ".join(tokens), limit, currency)


def _similar_names(session: Session, wanted: str, limit: int, currency: str) -> list[SearchHit]:
    # Names only (not descriptions): a few hundred short strings even for a big shop's lookups is
    # cheap, and a misspelt product name is what this fallback is for.
    names = dict(
        session.execute(
            select(Product.name_key, Product.sku).where(Product.active.is_(True)).order_by(Product.name_key)
        ).all()
    )
    close = difflib.get_close_matches(wanted, list(names), n=limit, cutoff=0.6)
    # Then misspelt words ("nimbuss") against the words of the names, each word → its names.
    words: dict[str, list[str]] = {}
    for key in names:
        for word in key.split():
            words.setdefault(word, []).append(key)
    for token in wanted.split():
        for word in difflib.get_close_matches(token, list(words), n=limit, cutoff=0.75):
            for key in words[word]:
                if key not in close:
                    close.append(key)
    skus = [names[key] for key in close[:limit]]
    if not skus:
        return []
    rows = session.execute(
        select(*_columns(), literal_column("0.0").label("score"))
        .join(Category, Category.id == Product.category_id)
        .where(Product.sku.in_(skus))
    ).all()
    by_sku = {row[0]: row for row in rows}
    return _hits([by_sku[s] for s in skus if s in by_sku], currency)
