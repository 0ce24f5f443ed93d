"""The action server, reachable by the rasa server alone: ``python -m golden_rule.action_server``.

rasa-sdk 3.6's ``rasa run actions`` listens on every interface and asks nothing of its callers, so
anyone who reaches its port can post a hand-made tracker (``verified_order: 10042``,
``next_action: action_order_help``) and read an order. This launcher runs rasa-sdk's own Sanic app
(``rasa_sdk.endpoint.create_app``: the same executor, actions and plugins as ``rasa run actions``)
with two rules added:

- **Loopback by default.** It binds ``127.0.0.1``. ``GOLDEN_RULE_ACTIONS_BIND`` picks another
  address (``0.0.0.0``, a private interface); set it only behind a private network, where the
  rasa server is the only other host that can reach the port. rasa-sdk's ``SANIC_HOST`` is ignored.
- **A shared token.** Every request except ``GET /health`` must carry ``?token=<token>``, the
  value of ``GOLDEN_RULE_ACTION_TOKEN``: Rasa's ``action_endpoint`` sends its ``token:`` setting as
  that query parameter (``rasa.utils.endpoints.EndpointConfig.combine_parameters``), and
  ``endpoints.yml`` sets it from the same variable. A missing or wrong token gets 401 and a short
  JSON error; the comparison takes constant time. ``/health`` stays open for probes and start-up
  waits: it answers ``{"status": "ok"}`` and nothing else.

The launcher refuses to start, with one line on stderr and exit code 2, when the token is missing
or shorter than :data:`MIN_TOKEN_LENGTH` characters (``make run`` generates one into
``var/secrets.env``). The token is read from the environment only, never from the command line,
where ``ps`` would show it; Sanic's access log (which would print the query string) stays off.

Settings (read once, in :func:`main`): ``GOLDEN_RULE_ACTION_TOKEN``, ``GOLDEN_RULE_ACTIONS_BIND``
(default ``127.0.0.1``), ``ACTIONS_PORT`` (default 5055; ``--port`` wins). The other options are
rasa-sdk's own (``--actions``, default ``actions``; ``--cors``, default none; TLS; logging).
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger("golden_rule.action_server")  # the same name under python -m

TOKEN_ENV = "GOLDEN_RULE_ACTION_TOKEN"
BIND_ENV = "GOLDEN_RULE_ACTIONS_BIND"
PORT_ENV = "ACTIONS_PORT"
DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 5055
# 24 characters of token_urlsafe are 144 bits; shorter values are the kind people type by hand.
MIN_TOKEN_LENGTH = 24
KEEP_ALIVE_SECONDS = 75
TOKEN_PARAMETER = "token"
# Paths answered without a token: a liveness probe that reveals nothing.
OPEN_PATHS = frozenset({"/health"})


class SettingsError(ValueError):
    """A setting the launcher cannot start with; the message is the one line shown to the operator."""


@dataclass(frozen=True)
class Settings:
    """The launcher's settings, read once from the environment."""

    token: str
    bind: str
    port: int

    def __repr__(self) -> str:
        # Never print the token, even in a traceback or a debug line.
        return f"Settings(token=<{len(self.token)} chars>, bind={self.bind!r}, port={self.port})"


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The settings from ``environ``; :class:`SettingsError` says what is wrong."""
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise SettingsError(
            f"{TOKEN_ENV} is not set: the action server needs the token the rasa server sends "
            f"(make run generates one into var/secrets.env)"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(
            f"{TOKEN_ENV} is too short ({len(token)} characters; at least {MIN_TOKEN_LENGTH}): use e.g. "
            f'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    bind = environ.get(BIND_ENV, "").strip() or DEFAULT_BIND
    raw_port = environ.get(PORT_ENV, "").strip()
    try:
        port = int(raw_port) if raw_port else DEFAULT_PORT
    except ValueError:
        raise SettingsError(f"{PORT_ENV} must be a port number, not {raw_port!r}") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{PORT_ENV} must be between 1 and 65535, not {port}")
    return Settings(token=token, bind=bind, port=port)


def token_matches(given: str | None, expected: str) -> bool:
    """Whether ``given`` is the token, compared in constant time (no timing hint about its prefix)."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def require_token(app: Sanic, token: str) -> None:
    """Refuse every request but :data:`OPEN_PATHS` unless ``?token=`` is ``token`` (401, short JSON)."""

    async def check_token(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        # Only the first value counts: a second ``token`` parameter cannot sneak a guess past it.
        if token_matches(request.args.get(TOKEN_PARAMETER), token):
            return None
        logger.warning("Refused a %s %s request without a valid token.", request.method, request.path)
        return response.json({"error": "unauthorized: a valid token is required"}, status=401)

    # Request middleware runs before any route handler; returning a response ends the request there.
    app.register_middleware(check_token, "request")


def build_app(
    action_package: str, token: str, cors_origins: Sequence[str] | str | None = None, auto_reload: bool = False
) -> Sanic:
    """rasa-sdk's action server app for ``action_package``, behind the token, with its plugins attached."""
    from rasa_sdk.endpoint import create_app
    from rasa_sdk.plugin import plugin_manager

    # No CORS by default (rasa-sdk's own default for `rasa run actions`): no browser should call it.
    app = create_app(action_package, cors_origins=cors_origins or "", auto_reload=auto_reload)
    require_token(app, token)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    return app


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def argument_parser(settings_port: int) -> argparse.ArgumentParser:
    """rasa-sdk's own options (``rasa run actions``), with the port defaulting to ``ACTIONS_PORT``."""
    from rasa_sdk.endpoint import create_argument_parser

    parser = create_argument_parser()
    parser.prog = "python -m golden_rule.action_server"
    parser.description = "Golden Rule's action server: rasa-sdk on loopback behind a shared token."
    parser.set_defaults(port=settings_port, actions="actions")
    return parser


def _log_privacy_installer() -> Callable[[], None] | None:
    """``golden_rule.privacy.install_log_privacy`` when that module is there (it masks personal data)."""
    try:
        from golden_rule import privacy
    except ModuleNotFoundError as error:
        if error.name != "golden_rule.privacy":
            raise
        return None
    return getattr(privacy, "install_log_privacy", None)


def configure_logging(args: argparse.Namespace) -> None:
    """Logging as ``rasa run actions`` sets it up, then the privacy mask over every record."""
    from rasa_sdk import utils
    from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME

    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel, args.logging_config_file
    )
    utils.update_sanic_log_level()
    install = _log_privacy_installer()
    if install is not None:
        install()


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Check the settings, then serve until stopped. Returns the exit code (2: a setting is wrong)."""
    try:
        settings = load_settings(os.environ if environ is None else environ)
    except SettingsError as error:
        print(f"golden_rule.action_server: {error}", file=sys.stderr)
        return 2
    args = argument_parser(settings.port).parse_args(argv)
    configure_logging(args)

    from rasa_sdk import utils
    from rasa_sdk.endpoint import create_ssl_context

    app = build_app(args.actions, settings.token, args.cors, args.auto_reload)
    # The rasa server's aiohttp client keeps idle connections for 15 s; Sanic's default closes them
    # after 5 s, so under load a request could be written into a connection the server was closing
    # ("Cannot write to closing transport": one failed turn in 1,000 in the load test). Outliving the
    # client's idle time lets the client close first.
    app.config.KEEP_ALIVE_TIMEOUT = KEEP_ALIVE_SECONDS
    ssl_context = create_ssl_context(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    if not is_loopback(settings.bind):
        logger.warning(
            "The action server listens on %s (%s): keep that address on a private network the rasa "
            "server alone can reach.", settings.bind, BIND_ENV,
        )
    scheme = "https" if ssl_context else "http"
    logger.info("Action endpoint is up and running on %s://%s:%s (token required)", scheme, settings.bind, args.port)
    app.run(
        settings.bind, args.port, ssl=ssl_context, workers=utils.number_of_sanic_workers(),
        access_log=False,  # an access line would print the query string, token included
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
