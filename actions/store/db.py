"""Engine and unit-of-work handling for the store.

One engine per database URL, created on first use (never at import time). Every action
call and every command opens exactly one session through :func:`session_scope`, which
commits when the block ends normally and rolls back on any exception, so a failed unit
of work leaves nothing half-written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session, sessionmaker

from actions.settings import get_settings
from actions.store.models import Base
from actions.store.search_index import create_search_index

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _enable_sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets the rasa tracker store, the action
    # server and the staff tools read while one of them writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=3000")
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the configured store), created once per URL."""
    url = url or get_settings().db_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            parsed = make_url(url)
            kwargs: dict = {"future": True, "pool_pre_ping": True}
            if parsed.get_backend_name() == "sqlite":
                database = parsed.database
                if database and database != ":memory:":
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 3}
            else:
                kwargs["pool_timeout"] = 3
                kwargs["connect_args"] = {"connect_timeout": 3} if parsed.get_backend_name() == "postgresql" else {}
            engine = create_engine(url, **kwargs)
            if parsed.get_backend_name() == "sqlite":
                event.listen(engine, "connect", _enable_sqlite_pragmas)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (used by tests that switch databases)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def create_schema(url: str | None = None) -> None:
    """Create every table and index that does not exist yet, and the product search index."""
    engine = get_engine(url)
    Base.metadata.create_all(engine)
    # After the tables: the search index's view and triggers refer to them.
    create_search_index(engine)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error, always close."""
    factory = sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
