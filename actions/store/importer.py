"""Catalog import: validate a CSV or JSON file of products, then upsert it in one transaction.

Rules:
- every row is validated before anything is written; any error means nothing is written;
- each error names the row (the CSV line number, or the JSON item number) and the field;
- products are matched by SKU: existing ones are updated, new ones inserted, none deleted;
- relation columns (accessories, protection, upgrades, alternatives) replace that
  product's relations of that kind; they may name SKUs from the file or from the store.

CSV columns (see ``catalog/brightdesk.csv``): sku, name, category, price, stock,
restock_date, description, tags, accessories, protection, upgrades, alternatives.
Lists inside a cell are separated by ``;``. An empty stock means "not a stocked item"
(a protection plan); prices are decimal amounts in the store currency.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from actions.store.models import Category, Product, ProductRelation, RelationKind

REQUIRED_COLUMNS = ("sku", "name", "category", "price")
RELATION_COLUMNS: dict[str, RelationKind] = {
    "accessories": RelationKind.accessory,
    "protection": RelationKind.protection,
    "upgrades": RelationKind.upgrade,
    "alternatives": RelationKind.alternative,
}
SKU_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,39}$")
MAX_PRICE_CENTS = 10_000_000 * 100


class ImportFailed(Exception):
    """Raised when a file cannot be imported; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the catalog file")
        self.errors = errors


@dataclass
class ProductRow:
    """One validated product from the file, with the place it came from."""

    where: str
    sku: str
    name: str
    category: str
    price_cents: int
    stock: int | None
    restock_date: dt.date | None
    description: str
    tags: str
    relations: dict[RelationKind, list[str]] = field(default_factory=dict)


@dataclass
class ImportResult:
    created: int
    updated: int
    relations: int


def read_records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Raw records of a CSV or JSON file, each with a human-readable place ("line 7")."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ImportFailed([f"header: missing column(s) {', '.join(missing)}"])
            records = []
            start = reader.line_num + 1
            for row in reader:
                records.append((f"line {start}", {k: v for k, v in row.items() if k is not None}))
                start = reader.line_num + 1
            return records
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ImportFailed([f"line {exc.lineno}: not valid JSON ({exc.msg})"]) from exc
        if isinstance(data, dict) and isinstance(data.get("products"), list):
            data = data["products"]
        if not isinstance(data, list):
            raise ImportFailed(["file: expected a list of products (or {\"products\": [...]})"])
        return [
            (f"item {i}", item if isinstance(item, dict) else {"__invalid__": item}) for i, item in enumerate(data, 1)
        ]
    raise ImportFailed([f"file: unsupported type '{suffix or path.name}' (use .csv or .json)"])


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value).strip()


def parse_price(raw: str) -> int:
    """Decimal amount → cents. Raises ValueError with a reason a shop owner understands."""
    cleaned = raw.replace("$", "").replace(",", "").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(f"price '{raw}' is not a number") from exc
    if not amount.is_finite():
        raise ValueError(f"price '{raw}' is not a number")
    if amount <= 0:
        raise ValueError(f"price '{raw}' must be above zero")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"price '{raw}' has more than two decimals")
    cents = int(amount * 100)
    if cents > MAX_PRICE_CENTS:
        raise ValueError(f"price '{raw}' is implausibly high")
    return cents


def _split_skus(raw: str) -> list[str]:
    return [part.strip().upper() for part in raw.split(";") if part.strip()]


def validate_records(
    records: Iterable[tuple[str, dict[str, Any]]],
    known_categories: set[str],
    known_skus: set[str],
) -> tuple[list[ProductRow], list[str]]:
    """Check every record; return the valid rows and one message per problem."""
    rows: list[ProductRow] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for where, record in records:
        if "__invalid__" in record:
            errors.append(f"{where}: expected an object with product fields")
            continue
        problems: list[str] = []
        sku = _text(record, "sku").upper()
        if not sku:
            problems.append("missing sku")
        elif not SKU_PATTERN.match(sku):
            problems.append(f"sku '{sku}' may only hold letters, digits, '.', '_' and '-' (max 40)")
        elif sku in seen:
            problems.append(f"sku '{sku}' already appears on {seen[sku]}")
        name = _text(record, "name")
        if not name:
            problems.append("missing name")
        elif len(name) > 120:
            problems.append("name is longer than 120 characters")
        category = _text(record, "category").lower()
        if not category:
            problems.append("missing category")
        elif category not in known_categories:
            problems.append(f"unknown category '{category}' (known: {', '.join(sorted(known_categories))})")
        price_cents = 0
        try:
            price_cents = parse_price(_text(record, "price"))
        except ValueError as exc:
            problems.append(str(exc) if _text(record, "price") else "missing price")
        stock: int | None = None
        raw_stock = _text(record, "stock")
        if raw_stock:
            try:
                stock = int(raw_stock)
                if stock < 0:
                    problems.append(f"stock '{raw_stock}' must not be negative")
            except ValueError:
                problems.append(f"stock '{raw_stock}' is not a whole number")
        restock: dt.date | None = None
        raw_restock = _text(record, "restock_date")
        if raw_restock:
            try:
                restock = dt.date.fromisoformat(raw_restock)
            except ValueError:
                problems.append(f"restock_date '{raw_restock}' is not a date like 2026-12-01")
        relations = {kind: _split_skus(_text(record, column)) for column, kind in RELATION_COLUMNS.items()}
        if problems:
            errors.extend(f"{where}: {p}" for p in problems)
            continue
        seen[sku] = where
        rows.append(
            ProductRow(
                where=where,
                sku=sku,
                name=name,
                category=category,
                price_cents=price_cents,
                stock=stock,
                restock_date=restock,
                description=_text(record, "description"),
                tags=_text(record, "tags"),
                relations={k: v for k, v in relations.items() if v},
            )
        )
    available = known_skus | set(seen)
    for row in rows:
        for kind, skus in row.relations.items():
            for related in skus:
                if related not in available:
                    errors.append(f"{row.where}: {kind.value} '{related}' is not a known sku")
                elif related == row.sku:
                    errors.append(f"{row.where}: {kind.value} '{related}' points at the product itself")
    return rows, errors


def import_catalog(
    session: Session,
    path: Path,
    progress: Callable[[Iterable[ProductRow]], Iterable[ProductRow]] = lambda rows: rows,
) -> ImportResult:
    """Validate ``path`` and upsert its products in the caller's transaction.

    Raises :class:`ImportFailed` before writing anything if any row is invalid.
    """
    categories = {c.slug: c for c in session.scalars(select(Category))}
    known_skus = set(session.scalars(select(Product.sku)))
    rows, errors = validate_records(read_records(path), set(categories), known_skus)
    if errors:
        raise ImportFailed(errors)
    if not rows:
        raise ImportFailed(["file: no products found"])

    existing = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_([r.sku for r in rows])))}
    created = updated = 0
    for row in progress(rows):
        product = existing.get(row.sku)
        if product is None:
            product = Product(sku=row.sku)
            session.add(product)
            existing[row.sku] = product
            created += 1
        else:
            updated += 1
        product.name = row.name
        product.name_key = row.name.lower()
        product.category = categories[row.category]
        product.price_cents = row.price_cents
        product.stock = row.stock
        product.restock_date = row.restock_date
        product.description = row.description
        product.tags = row.tags
        product.active = True
    session.flush()

    ids = dict(session.execute(select(Product.sku, Product.id)).all())
    relation_count = 0
    for row in rows:
        for kind, skus in row.relations.items():
            wanted = {ids[sku] for sku in skus}
            current = set(
                session.scalars(
                    select(ProductRelation.related_id).where(
                        ProductRelation.product_id == ids[row.sku], ProductRelation.kind == kind
                    )
                )
            )
            # Only the difference is written, so re-importing the same file changes nothing.
            if current - wanted:
                session.execute(
                    delete(ProductRelation).where(
                        ProductRelation.product_id == ids[row.sku],
                        ProductRelation.kind == kind,
                        ProductRelation.related_id.in_(current - wanted),
                    )
                )
            for related_id in sorted(wanted - current):
                session.add(ProductRelation(product_id=ids[row.sku], related_id=related_id, kind=kind))
            relation_count += len(wanted)
    session.flush()
    return ImportResult(created=created, updated=updated, relations=relation_count)
