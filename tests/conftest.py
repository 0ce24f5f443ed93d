"""Shared fixtures: a seeded SQLite store per test, and small trackers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker

from actions import settings as settings_module
from actions.store import db
from actions.store.seed import seed_demo

# A fixed "today" (a Monday) so dates in assertions do not depend on when tests run.
TODAY = dt.date(2026, 11, 23)


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty SQLite store of this test's own, made the configured store."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("GOLDEN_RULE_DB_URL", url)
    settings_module.get_settings.cache_clear()
    db.create_schema(url)
    yield url
    db.dispose_engines()
    settings_module.get_settings.cache_clear()


@pytest.fixture
def store(db_url: str) -> str:
    """The configured store, seeded with the Brightdesk demo data as of ``TODAY``."""
    with db.session_scope(db_url) as session:
        seed_demo(session, TODAY)
    return db_url


def make_tracker(
    slots: dict[str, Any] | None = None,
    intent: str = "greet",
    text: str = "",
    entities: list[dict[str, Any]] | None = None,
    sender_id: str = "test-user",
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    """The smallest tracker that carries the given slots and latest message."""
    return Tracker.from_dict(
        {
            "sender_id": sender_id,
            "slots": slots or {},
            "latest_message": {
                "intent": {"name": intent, "confidence": 1.0},
                "entities": entities or [],
                "text": text,
            },
            "events": events or [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


# Hostile and odd customer messages: each must get an answer (or a clean 4xx) and change nothing.
HOSTILE = [
    "",
    "   \t  ",
    "x" * 20_000,
    "😡😡😡 \u200b\u200b\u200d where is my order?",
    "مرحبا، أين طلبي؟",
    "\x00\x01\x02\x1b[31m",
    "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "10042'; DROP TABLE orders;--",
    "' OR '1'='1",
    "%s%s%s%n {0} {product_name} ${jndi:ldap://x}",
    '/inform{"order_id": "10042\' OR 1=1 --", "email": "a@b.c"}',
    '/check_price{"product": "<b>NB-14</b>"}',
]


def store_checksum(db_url: str) -> str:
    """A digest of every row of every table: equal before and after means the store is unchanged."""
    import hashlib

    from actions.store.models import Base

    digest = hashlib.sha256()
    with db.get_engine(db_url).connect() as conn:
        for name, table in sorted(Base.metadata.tables.items()):
            for row in conn.execute(table.select().order_by(*table.primary_key.columns)):
                digest.update(f"{name}:{tuple(row)!r}".encode())
    return digest.hexdigest()
