"""Runtime settings, read once from the environment into one typed object.

Every module that needs configuration calls :func:`get_settings`; nothing else in the
code base reads ``os.environ``. Reading is lazy (first call), so importing the action
package never touches the environment, the disk or the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = PROJECT_ROOT / "var" / "golden_rule.db"


def _env_bool(source: Mapping[str, str], name: str, default: bool) -> bool:
    raw = source.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_positive_float(source: Mapping[str, str], name: str, default: float) -> float:
    # A typo here must not take every action down with it: anything that is not a positive
    # number means the default (the policies table normally carries the real value anyway).
    try:
        value = float((source.get(name) or "").strip())
    except ValueError:
        return default
    return value if value > 0 and value != float("inf") else default


def _env_non_negative_int(source: Mapping[str, str], name: str, default: int) -> int:
    # Same reasoning as above: a typo falls back to the default instead of failing every action.
    try:
        value = int((source.get(name) or "").strip())
    except ValueError:
        return default
    return value if value >= 0 else default


@dataclass(frozen=True)
class Settings:
    """Everything the action server and the command-line tools can be configured with.

    ``db_url`` is any SQLAlchemy URL; the default is an embedded SQLite file under
    ``var/`` so the assistant runs with no external service.
    """

    db_url: str
    seed_demo: bool
    support_email: str
    support_hours: str
    store_name: str
    store_timezone: str
    currency: str
    # Staff handoff (actions/staff.py, actions/services/handoff.py). Defaults keep older callers working.
    rasa_url: str = "http://localhost:5005"
    rasa_token: str = ""
    reply_target_hours: float = 4.0
    # Sales offers (actions/services/offers.py): days before the same item is offered to a customer again.
    offer_cooloff_days: int = 30
    # Where a product page lives: the purchase step links to {shop_url}/products/{sku}.
    shop_url: str = "https://brightdesk.example"


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (defaults to the process environment)."""
    source = os.environ if env is None else env
    db_url = source.get("GOLDEN_RULE_DB_URL", "").strip() or f"sqlite:///{DEFAULT_DB_PATH}"
    return Settings(
        db_url=db_url,
        seed_demo=_env_bool(source, "GOLDEN_RULE_SEED_DEMO", True),
        support_email=source.get("GOLDEN_RULE_SUPPORT_EMAIL", "support@brightdesk.example"),
        support_hours=source.get("GOLDEN_RULE_SUPPORT_HOURS", "Mon–Fri 09:00–17:00 Central Time"),
        store_name=source.get("GOLDEN_RULE_STORE_NAME", "Brightdesk"),
        store_timezone=source.get("GOLDEN_RULE_TIMEZONE", "America/Chicago"),
        currency=source.get("GOLDEN_RULE_CURRENCY", "USD"),
        rasa_url=(source.get("GOLDEN_RULE_RASA_URL", "").strip() or "http://localhost:5005").rstrip("/"),
        rasa_token=source.get("GOLDEN_RULE_RASA_TOKEN", "").strip(),
        reply_target_hours=_env_positive_float(source, "GOLDEN_RULE_REPLY_TARGET_HOURS", 4.0),
        offer_cooloff_days=_env_non_negative_int(source, "GOLDEN_RULE_OFFER_COOLOFF_DAYS", 30),
        shop_url=(source.get("GOLDEN_RULE_SHOP_URL", "").strip() or "https://brightdesk.example").rstrip("/"),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return settings_from_env()
