"""Channel settings of the rasa server, read from the environment.

The action server has its own settings (``actions/settings.py``); these are the ones only the
rasa server's input channels need: which web origins may open a Socket.IO connection, and the
Slack app's credentials. Reading happens when a channel is built, never at import time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_SLACK_API_BASE_URL = "https://slack.com/api/"
# Public, private and direct-message conversation IDs, e.g. C0123ABCD, G0123ABCD, D0123ABCD.
SLACK_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
SLACK_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
DEFAULT_REPLY_BUDGET_SECONDS = 8.0


class ChannelSettingsError(ValueError):
    """A channel setting is present but unusable; the message says which and why."""


@dataclass(frozen=True)
class SlackSettings:
    """What the Slack channel needs: the bot token, the signing secret, the support channel ID.

    ``channel_id`` is optional: without it the bot answers direct messages and mentions only.
    ``api_base_url`` is where the Web API lives (Slack's by default; tests point it at a fake).
    """

    bot_token: str
    signing_secret: str
    channel_id: str | None
    api_base_url: str


@dataclass(frozen=True)
class GuardSettings:
    """What the never-silent guard (``channels/never_silent.py``) needs.

    ``reply_budget_seconds``: how long a turn may take before the customer is told what is going
    on. ``support_email`` and ``support_hours``: the direct contact given in that message (the
    same variables the action server uses for its own honest answers).
    """

    reply_budget_seconds: float
    support_email: str
    support_hours: str


def guard_settings(env: Mapping[str, str] | None = None) -> GuardSettings:
    """The guard's settings; a budget that is not a positive number falls back to 8 seconds."""
    source = os.environ if env is None else env
    try:
        budget = float(source.get("GOLDEN_RULE_REPLY_BUDGET_SECONDS", DEFAULT_REPLY_BUDGET_SECONDS))
    except ValueError:
        budget = DEFAULT_REPLY_BUDGET_SECONDS
    return GuardSettings(
        reply_budget_seconds=budget if budget > 0 else DEFAULT_REPLY_BUDGET_SECONDS,
        support_email=source.get("GOLDEN_RULE_SUPPORT_EMAIL", "support@brightdesk.example"),
        support_hours=source.get("GOLDEN_RULE_SUPPORT_HOURS", "Mon–Fri 09:00–17:00 Central Time"),
    )


MIN_WIDGET_SECRET_CHARS = 32


def widget_secret(env: Mapping[str, str] | None = None) -> bytes | None:
    """The key that signs the widget's session ids (``GOLDEN_RULE_WIDGET_SECRET``), or ``None`` when unset.

    Every rasa replica must share it, and it must outlive a restart, or visitors lose their
    conversation on reload (``make run`` generates one into ``var/secrets.env``). A value shorter
    than 32 characters is an error: it would make session ids forgeable.
    """
    source = os.environ if env is None else env
    raw = source.get("GOLDEN_RULE_WIDGET_SECRET", "").strip()
    if not raw:
        return None
    if len(raw) < MIN_WIDGET_SECRET_CHARS:
        raise ChannelSettingsError(
            f"GOLDEN_RULE_WIDGET_SECRET must be at least {MIN_WIDGET_SECRET_CHARS} random characters"
        )
    return raw.encode()


def cors_origins(env: Mapping[str, str] | None = None) -> str | list[str]:
    """The web origins allowed to open a Socket.IO connection (``GOLDEN_RULE_CORS_ORIGINS``).

    ``*`` (the default) allows every origin; otherwise a comma-separated list such as
    ``https://shop.example,https://www.shop.example``.
    """
    source = os.environ if env is None else env
    raw = source.get("GOLDEN_RULE_CORS_ORIGINS", "").strip()
    if raw in {"", "*"}:
        return "*"
    origins = [origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip()]
    for origin in origins:
        if not re.match(r"^https?://[^/\s]+$", origin):
            raise ChannelSettingsError(
                f"GOLDEN_RULE_CORS_ORIGINS: {origin!r} is not an origin like https://shop.example"
            )
    return origins


def slack_settings(env: Mapping[str, str] | None = None) -> SlackSettings | None:
    """The Slack settings, or ``None`` when Slack is not configured at all.

    Slack is off when neither ``SLACK_BOT_TOKEN`` nor ``SLACK_SIGNING_SECRET`` is set. Setting
    only one of them, or a ``SLACK_CHANNEL`` that is a name instead of an ID, is an error: a
    half-configured bot that silently ignores Slack is worse than one that refuses to start.
    """
    source = os.environ if env is None else env
    values = {name: source.get(name, "").strip() for name in SLACK_VARIABLES}
    if not any(values.values()):
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ChannelSettingsError(f"Slack is half-configured: set {' and '.join(missing)} too (or unset both).")
    channel_id = source.get("SLACK_CHANNEL", "").strip() or None
    if channel_id is not None and not SLACK_CHANNEL_ID.match(channel_id):
        raise ChannelSettingsError(
            f"SLACK_CHANNEL must be a channel ID such as C0123ABCD, not {channel_id!r} "
            "(in Slack: channel details → About → Channel ID)."
        )
    base_url = source.get("SLACK_API_BASE_URL", "").strip() or DEFAULT_SLACK_API_BASE_URL
    if not base_url.endswith("/"):
        base_url += "/"
    return SlackSettings(
        bot_token=values["SLACK_BOT_TOKEN"],
        signing_secret=values["SLACK_SIGNING_SECRET"],
        channel_id=channel_id,
        api_base_url=base_url,
    )
