"""Store scale: product search and order lookup on generated catalogs of growing size.

Each size gets its own temporary SQLite file with the real schema (``create_schema``: tables,
indexes, the FTS5 search index and its triggers), the demo store, then generated products,
customers, orders and order lines added by bulk inserts. Queries go through the same service
functions the actions call (``search_products``; ``verify_order`` + ``order_status``), one session
per call as in an action. ``EXPLAIN QUERY PLAN`` of the statements those functions really issue
shows which index each uses.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy import text as sa_text

from actions.services.orders import order_status, verify_order
from actions.services.search import fts_match_expression, query_tokens, search_products
from actions.store import db
from actions.store.models import Category, Customer, Order, OrderLine, OrderStatus, Product
from actions.store.search_index import FTS_TABLE
from actions.store.seed import seed_demo
from bench.report import percentile

TODAY = dt.date(2026, 11, 23)
BATCH = 10_000

BRANDS = ("Nimbus", "Vista", "Echo", "Glide", "Orbit", "Kestrel", "Lumen", "Quartz", "Harbor", "Tundra", "Sable",
          "Cobalt", "Aster", "Juniper", "Falcon", "Mosaic", "Zephyr", "Onyx", "Pioneer", "Summit")
SERIES = ("Air", "Pro", "Lite", "Max", "Studio", "Go", "Flex", "One", "Edge", "Core", "Ultra", "Mini", "Plus", "Neo")
KINDS = {
    "laptops": ("Laptop", "Notebook", "Ultrabook"),
    "monitors": ("Monitor", "4K Monitor", "Curved Monitor", "Portable Display"),
    "headphones": ("Headphones", "ANC Headphones", "Earbuds", "Headset"),
    "keyboards": ("Keyboard", "Mechanical Keyboard", "Wireless Keyboard"),
    "mice": ("Mouse", "Wireless Mouse", "Trackball", "Vertical Mouse"),
    "webcams": ("Webcam", "4K Webcam", "Ring Light"),
    "chairs": ("Chair", "Ergonomic Chair", "Stool"),
    "docks-cables": ("Dock", "USB-C Hub", "Cable", "Adapter"),
    "accessories": ("Sleeve", "Stand", "Desk Mat", "Case"),
    "protection-plans": ("Protection Plan",),
}
ADJECTIVES = ("quiet", "light", "compact", "wireless", "ergonomic", "fast", "bright", "silent", "durable", "slim",
              "adjustable", "portable", "premium", "budget", "travel", "office", "gaming", "studio")
FEATURES = ("USB-C charging", "noise cancelling", "a 3-year warranty", "Bluetooth 5.3", "a braided cable",
            "memory foam", "an aluminium body", "low latency", "a 90-day battery", "multi-device pairing")

# Customer searches as the bot would pass them: (text, filters). Common and rare words, a filter,
# a budget, words nothing matches (the any-word fallback), a browse without words.
QUERIES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("laptop", {}),
    ("wireless mouse", {}),
    ("quiet mechanical keyboard", {}),
    ("4k monitor", {}),
    ("usb-c dock", {}),
    ("noise cancelling headphones", {}),
    ("Nimbus 14", {}),
    ("ergonomic chair", {"max_price_cents": 30_000}),
    ("webcam", {"category": "webcams", "in_stock_only": True}),
    ("zebra unicorn", {}),
    ("", {"category": "monitors", "max_price_cents": 30_000}),
    ("Kestrel Pro travel sleeve", {}),
)


@dataclass
class Timing:
    """Latencies of one operation, in milliseconds."""

    values: list[float]

    def summary(self) -> dict[str, float]:
        """p50, p95, p99, mean and count."""
        return {
            "p50_ms": percentile(self.values, 50),
            "p95_ms": percentile(self.values, 95),
            "p99_ms": percentile(self.values, 99),
            "mean_ms": sum(self.values) / len(self.values) if self.values else math.nan,
            "count": len(self.values),
        }


def _products(rng: random.Random, count: int, categories: dict[str, int], start: int) -> Iterator[dict[str, Any]]:
    now = dt.datetime(2026, 11, 1)
    slugs = sorted(categories)
    for i in range(start, start + count):
        slug = slugs[i % len(slugs)]
        name = f"{rng.choice(BRANDS)} {rng.choice(SERIES)} {rng.randint(2, 99)} {rng.choice(KINDS[slug])}"
        description = (
            f"A {rng.choice(ADJECTIVES)}, {rng.choice(ADJECTIVES)} {KINDS[slug][0].lower()} with "
            f"{rng.choice(FEATURES)} and {rng.choice(FEATURES)}."
        )
        yield {
            "sku": f"GEN-{i:07d}",
            "name": name,
            "name_key": name.lower(),
            "description": description,
            "category_id": categories[slug],
            "price_cents": rng.randint(5, 3000) * 100 - 1,
            "stock": None if slug == "protection-plans" else rng.choice((0, 1, 3, 8, 15, 40)),
            "tags": ";".join(rng.sample(ADJECTIVES, 3)),
            "active": rng.random() > 0.02,
            "updated_at": now,
        }


def _bulk(connection: Any, table: Any, rows: Iterator[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            connection.execute(insert(table), batch)
            batch = []
    if batch:
        connection.execute(insert(table), batch)


def build_catalog(url: str, products: int, seed: int = 7) -> dict[str, Any]:
    """Create the store at ``url`` with the demo data plus generated rows up to ``products`` products.

    Orders: one per product (at least 1,000), each with one line; one customer per ten orders.
    Returns the row counts, the load time and a sample of (order number, email) pairs to look up.
    """
    rng = random.Random(seed)
    started = time.perf_counter()
    db.create_schema(url)
    with db.session_scope(url) as session:
        seed_demo(session, TODAY)
    engine = db.get_engine(url)
    with engine.begin() as connection:
        categories = dict(connection.execute(select(Category.slug, Category.id)).all())
        existing = connection.execute(select(Product.id)).all()
        _bulk(connection, Product.__table__, _products(rng, max(0, products - len(existing)), categories, 0))
        product_ids = [row[0] for row in connection.execute(select(Product.id))]
        orders = max(1_000, products)
        customers = max(100, orders // 10)
        created = dt.datetime(2026, 1, 1)
        _bulk(connection, Customer.__table__, (
            {"email": f"customer{i}@example.net", "name": f"Customer {i}", "created_at": created}
            for i in range(customers)
        ))
        first_customer = connection.execute(
            select(Customer.id).where(Customer.email == "customer0@example.net")
        ).scalar_one()
        statuses = list(OrderStatus)
        order_rows = []
        for i in range(orders):
            placed = created + dt.timedelta(minutes=i)
            status = statuses[i % len(statuses)]
            order_rows.append({
                "number": str(200_000 + i),
                "customer_id": first_customer + i % customers,
                "status": status,
                "placed_at": placed,
                "shipped_at": placed + dt.timedelta(days=1) if status is not OrderStatus.processing else None,
                "delivered_at": placed + dt.timedelta(days=3) if status is OrderStatus.delivered else None,
                "promised_date": (placed + dt.timedelta(days=5)).date(),
                "carrier": "UPS",
                "tracking_number": f"1Z{i:012d}",
                "total_cents": 10_000,
            })
        _bulk(connection, Order.__table__, iter(order_rows))
        first_order = connection.execute(select(Order.id).where(Order.number == "200000")).scalar_one()
        _bulk(connection, OrderLine.__table__, (
            {"order_id": first_order + i, "product_id": rng.choice(product_ids), "quantity": 1,
             "unit_price_cents": 10_000}
            for i in range(orders)
        ))
    load_seconds = time.perf_counter() - started
    with engine.connect() as connection:
        total_products = connection.execute(select(Product.id)).all()
    sample = [(str(200_000 + rng.randrange(orders)), None) for _ in range(200)]
    lookups = [(number, f"customer{(int(number) - 200_000) % customers}@example.net") for number, _ in sample]
    return {"products": len(total_products), "orders": orders, "customers": customers,
            "load_seconds": load_seconds, "lookups": lookups}


def time_calls(url: str, call: Callable[[Any], Any], repeats: int, sql_ms: list[float] | None = None) -> Timing:
    """Time ``call(session)`` ``repeats`` times, one session per call as in an action.

    With ``sql_ms``, the time spent inside SQLite executing statements is appended to it per call.
    """
    values = []
    with sql_timer(url) as spent:
        for _ in range(repeats):
            spent.clear()
            started = time.perf_counter()
            with db.session_scope(url) as session:
                call(session)
            values.append((time.perf_counter() - started) * 1000)
            if sql_ms is not None:
                sql_ms.append(sum(spent))
    return Timing(values)


@contextmanager
def sql_timer(url: str) -> Iterator[list[float]]:
    """Milliseconds each statement spends executing (cursor execute to return), while in the block."""
    engine = db.get_engine(url)
    spent: list[float] = []
    started: list[float] = []

    def before(*_args: Any) -> None:
        started.append(time.perf_counter())

    def after(*_args: Any) -> None:
        if started:
            spent.append((time.perf_counter() - started.pop()) * 1000)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def fts_matches(url: str, text: str) -> int | None:
    """How many catalog rows the all-words FTS expression for ``text`` matches (None: no words)."""
    tokens = query_tokens(text)
    if not tokens:
        return None
    with db.get_engine(url).connect() as connection:
        return connection.execute(
            sa_text(f"SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :match"),
            {"match": fts_match_expression(tokens)},
        ).scalar_one()


def _order_lookup(number: str, email: str) -> Callable[[Any], Any]:
    def call(session: Any) -> Any:
        if not verify_order(session, number, email):
            raise AssertionError(f"order {number} did not verify for {email}")
        return order_status(session, number, TODAY)

    return call


@contextmanager
def captured_statements(url: str) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT the engine for ``url`` runs inside the block, with its parameters."""
    engine = db.get_engine(url)
    statements: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def query_plans(url: str, call: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """``EXPLAIN QUERY PLAN`` of each SELECT ``call(session)`` issues (schema checks left out)."""
    with captured_statements(url) as statements, db.session_scope(url) as session:
        call(session)
    plans = []
    raw = db.get_engine(url).raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            if "sqlite_master" in statement:
                continue
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append({"sql": " ".join(statement.split()), "plan": [row[3] for row in cursor.fetchall()]})
    finally:
        raw.close()
    return plans


def measure_size(products: int, workdir: Path, repeats: int) -> dict[str, Any]:
    """Build one catalog and time search and order lookup on it; returns figures and plans."""
    url = f"sqlite:///{workdir / f'catalog-{products}.db'}"
    built = build_catalog(url, products)
    # Warm the page cache and the pool once, as a running action server would be.
    search_products_call = lambda text, filters: (lambda s: search_products(s, text or None, **filters))  # noqa: E731
    for text, filters in QUERIES:
        time_calls(url, search_products_call(text, filters), 1)
    per_query = {}
    all_values: list[float] = []
    for text, filters in QUERIES:
        sql_ms: list[float] = []
        timing = time_calls(url, search_products_call(text, filters), repeats, sql_ms)
        label = text or "(no words)"
        if filters:
            label += " + " + ", ".join(f"{k}={v}" for k, v in filters.items())
        with db.session_scope(url) as session:
            hits = len(search_products(session, text or None, **filters))
        per_query[label] = {**timing.summary(), "hits": hits, "fts_matches": fts_matches(url, text),
                            "sql_p50_ms": percentile(sql_ms, 50)}
        all_values += timing.values
    lookups: list[float] = []
    for number, email in built["lookups"][: max(repeats * 4, 20)]:
        lookups += time_calls(url, _order_lookup(number, email), 1).values
    number, email = built["lookups"][0]
    plans = {
        "search": query_plans(url, search_products_call("wireless mouse", {})),
        "order": query_plans(url, _order_lookup(number, email)),
    }
    db.dispose_engines()
    return {
        "products": built["products"],
        "orders": built["orders"],
        "customers": built["customers"],
        "load_seconds": built["load_seconds"],
        "search": Timing(all_values).summary(),
        "search_per_query": per_query,
        "order": Timing(lookups).summary(),
        "plans": plans,
        "fts_used": any("VIRTUAL TABLE INDEX" in step and "products_fts" in step
                        for p in plans["search"] for step in p["plan"]),
        "order_index_used": any("orders USING INDEX" in step and "number=?" in step
                                for p in plans["order"] for step in p["plan"]),
    }


def growth_exponent(sizes: list[dict[str, Any]], key: str) -> float | None:
    """k in time ∝ products^k between the smallest and largest catalog (0: flat, 1: linear)."""
    if len(sizes) < 2:
        return None
    small, large = sizes[0], sizes[-1]
    ratio = large[key]["p50_ms"] / small[key]["p50_ms"]
    return math.log(ratio) / math.log(large["products"] / small["products"])


def run(sizes: list[int], repeats: int) -> dict[str, Any]:
    """Measure every catalog size in its own temporary folder; the files are deleted afterwards."""
    results = []
    with tempfile.TemporaryDirectory(prefix="golden-rule-scale-") as folder:
        for size in sizes:
            print(f"store scale: {size:,} products", flush=True)
            results.append(measure_size(size, Path(folder), repeats))
    return {
        "sizes": results,
        "repeats": repeats,
        "search_growth": growth_exponent(results, "search"),
        "order_growth": growth_exponent(results, "order"),
    }
