"""The full-text index over the catalog that product search runs on.

SQLite: an FTS5 table ``products_fts`` with *external content*: it stores only the inverted
index, and reads the indexed text from the view ``products_search_source`` (a product joined to
its category name). Triggers keep it in sync:

- a product inserted, deleted, or updated in an indexed column (sku, name, description, tags,
  category) updates its index entry; stock and price changes do not touch the index at all;
- a category renamed re-indexes that category's products.

External-content FTS5 deletes need the *old* indexed values; every trigger therefore passes the
old row's values (and the old category name), which the category trigger keeps consistent.

PostgreSQL: a GIN expression index over ``to_tsvector('simple', ...)`` of the product's own text
columns; :mod:`actions.services.search` queries with the same expression so the index is used.
Other databases get no index (search falls back to a plain substring match there).

Everything here is idempotent (``IF NOT EXISTS``): :func:`create_search_index` runs on every
``create_schema`` and fills the index from existing rows only when it creates the table.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

logger = logging.getLogger(__name__)

FTS_TABLE = "products_fts"
FTS_SOURCE_VIEW = "products_search_source"
# Indexed columns, in FTS column order (bm25 weights in actions.services.search follow it).
FTS_COLUMNS = ("sku", "name", "description", "tags", "category")

# The PostgreSQL document; the search query must use exactly this expression to hit the GIN index.
PG_DOCUMENT_SQL = (
    "to_tsvector('simple', coalesce(products.sku, '') || ' ' || coalesce(products.name, '') || ' ' "
    "|| coalesce(products.description, '') || ' ' || coalesce(products.tags, ''))"
)

_SQLITE_DDL = [
    f"""
    CREATE VIEW IF NOT EXISTS {FTS_SOURCE_VIEW} AS
    SELECT p.id AS id, p.sku AS sku, p.name AS name, p.description AS description, p.tags AS tags,
           c.name AS category
    FROM products AS p JOIN categories AS c ON c.id = p.category_id
    """,
    # porter: "laptops" finds "laptop"; remove_diacritics: "cafe" finds "café".
    f"""
    CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
        sku, name, description, tags, category,
        content='{FTS_SOURCE_VIEW}', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS products_fts_after_insert AFTER INSERT ON products BEGIN
        INSERT INTO {FTS_TABLE}(rowid, sku, name, description, tags, category)
        VALUES (new.id, new.sku, new.name, new.description, new.tags,
                (SELECT name FROM categories WHERE id = new.category_id));
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS products_fts_after_delete AFTER DELETE ON products BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, sku, name, description, tags, category)
        VALUES ('delete', old.id, old.sku, old.name, old.description, old.tags,
                (SELECT name FROM categories WHERE id = old.category_id));
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS products_fts_after_update
    AFTER UPDATE OF sku, name, description, tags, category_id ON products BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, sku, name, description, tags, category)
        VALUES ('delete', old.id, old.sku, old.name, old.description, old.tags,
                (SELECT name FROM categories WHERE id = old.category_id));
        INSERT INTO {FTS_TABLE}(rowid, sku, name, description, tags, category)
        VALUES (new.id, new.sku, new.name, new.description, new.tags,
                (SELECT name FROM categories WHERE id = new.category_id));
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS products_fts_category_rename AFTER UPDATE OF name ON categories
    WHEN old.name IS NOT new.name BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, sku, name, description, tags, category)
        SELECT 'delete', p.id, p.sku, p.name, p.description, p.tags, old.name
        FROM products AS p WHERE p.category_id = old.id;
        INSERT INTO {FTS_TABLE}(rowid, sku, name, description, tags, category)
        SELECT p.id, p.sku, p.name, p.description, p.tags, new.name
        FROM products AS p WHERE p.category_id = new.id;
    END
    """,
]

_PG_DDL = [f"CREATE INDEX IF NOT EXISTS ix_products_search ON products USING GIN ({PG_DOCUMENT_SQL})"]


def _sqlite_has_fts_table(connection: Connection) -> bool:
    found = connection.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": FTS_TABLE}
    ).first()
    return found is not None


def create_search_index(engine: Engine) -> bool:
    """Create the search index objects for ``engine``'s database if missing; True if an index exists.

    Returns False (and logs why) when the database cannot hold one — an SQLite built without
    FTS5, or a database other than SQLite/PostgreSQL — in which case search still works, by a
    slower substring match.
    """
    backend = engine.dialect.name
    if backend == "sqlite":
        with engine.begin() as connection:
            existed = _sqlite_has_fts_table(connection)
            try:
                for statement in _SQLITE_DDL:
                    connection.execute(text(statement))
            except OperationalError as exc:
                # e.g. "no such module: fts5" on an unusual SQLite build.
                logger.warning("full-text index unavailable, search falls back to LIKE: %s", exc.orig)
                return False
            if not existed:
                rebuild_search_index(connection)
        return True
    if backend == "postgresql":
        with engine.begin() as connection:
            for statement in _PG_DDL:
                connection.execute(text(statement))
        return True
    logger.info("no full-text index for the %s backend; search uses substring matching", backend)
    return False


def rebuild_search_index(connection: Connection) -> None:
    """Re-read every product into the SQLite index (after a bulk load that bypassed the triggers)."""
    if connection.dialect.name == "sqlite":
        connection.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"))


def sqlite_has_search_index(connection: Connection) -> bool:
    """Whether this SQLite database has the FTS table (False for any other backend)."""
    return connection.dialect.name == "sqlite" and _sqlite_has_fts_table(connection)
