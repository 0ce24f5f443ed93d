"""Real servers for the channel tests: action server, rasa server, the widget's web server.

Each test module starts its own set on free loopback ports with a freshly seeded SQLite store
in a temporary directory, so nothing here touches ``var/`` or the ports of ``make run``.
The machine is shared and small: every wait is generous and nothing asserts on speed.
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from actions.settings import PROJECT_ROOT
from actions.store import db
from actions.store.seed import seed_demo
from tests.conftest import TODAY

MODEL = PROJECT_ROOT / "models" / "golden-rule.tar.gz"
RASA = Path(sys.executable).with_name("rasa")
START_TIMEOUT = 300.0
ACTION_TOKEN_ENV = "GOLDEN_RULE_ACTION_TOKEN"


def new_action_token() -> str:
    """A fresh shared token for one action server and the rasa server that calls it."""
    return secrets.token_urlsafe(32)


def action_server_args(port: int) -> list[str]:
    """The action server as ``make run`` starts it (``golden_rule.action_server``: loopback, token required).

    The token is not an argument: the launcher reads it from ``GOLDEN_RULE_ACTION_TOKEN``.
    """
    return [sys.executable, "-m", "golden_rule.action_server", "--port", str(port)]


def action_endpoint_yaml(port: int, token: str) -> str:
    """An endpoints file's ``action_endpoint`` for the action server on ``port`` (Rasa sends ``?token=``)."""
    return f'action_endpoint:\n  url: "http://127.0.0.1:{port}/webhook"\n  token: "{token}"\n'


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen | None = None, timeout: float = START_TIMEOUT) -> None:
    """Wait until ``url`` answers; fail early if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, proc.args[:3]))} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=3):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def seeded_store(workdir: Path) -> str:
    """A new SQLite store in ``workdir`` holding the Brightdesk demo data; its URL."""
    db_url = f"sqlite:///{workdir / 'store.db'}"
    db.create_schema(db_url)
    with db.session_scope(db_url) as session:
        seed_demo(session, TODAY)
    db.dispose_engines()
    return db_url


def stop_process(proc: subprocess.Popen | None) -> None:
    """Terminate ``proc`` if it still runs; kill it when it does not stop within 30 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


class BotServers:
    """The action server and the rasa server (``credentials.yml``, ``--cors "*"`` as in ``make run``).

    The action server is ``golden_rule.action_server`` with a token of its own (``action_token``),
    which the generated endpoints file (``endpoints``) sends.
    """

    def __init__(self, workdir: Path, extra_env: Mapping[str, str] | None = None, enable_api: bool = False) -> None:
        if not MODEL.exists():
            raise RuntimeError(f"{MODEL} is missing: run `make train` (make test does it first)")
        self.workdir = workdir
        self.db_url = seeded_store(workdir)
        self.actions_port, self.rasa_port = free_port(), free_port()
        self.rasa_url = f"http://127.0.0.1:{self.rasa_port}"
        self.enable_api = enable_api
        # As in `make run`: the HTTP API is never on without a token (scripts/run.sh).
        self.api_token = secrets.token_urlsafe(24) if enable_api else ""
        # As in `make run`: the action server takes calls with its token only, and the rasa server
        # has the widget's signing secret (both generated per set of servers; extra_env may set them).
        self.action_token = new_action_token()
        self.endpoints = workdir / "endpoints.yml"
        self.endpoints.write_text(action_endpoint_yaml(self.actions_port, self.action_token))
        self.env = {
            **os.environ,
            "GOLDEN_RULE_DB_URL": self.db_url,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "RASA_TELEMETRY_ENABLED": "false",
            ACTION_TOKEN_ENV: self.action_token,
            "GOLDEN_RULE_WIDGET_SECRET": secrets.token_hex(32),
            **(extra_env or {}),
        }
        self._logs: list[IO[str]] = []
        self.actions: subprocess.Popen | None = None
        self.rasa: subprocess.Popen | None = None

    def _log(self, name: str) -> IO[str]:
        log = open(self.workdir / name, "a")  # noqa: SIM115 - closed in close()
        self._logs.append(log)
        return log

    def start(self) -> BotServers:
        """Start both servers and wait until they answer."""
        self.start_actions()
        self.start_rasa()
        return self

    def start_actions(self, attempts: int = 3) -> None:
        """Start the action server; retry when it dies early (others may be mid-edit in actions/)."""
        for attempt in range(1, attempts + 1):
            self.actions = subprocess.Popen(
                action_server_args(self.actions_port),
                cwd=PROJECT_ROOT, env=self.env, stdout=self._log("actions.log"), stderr=subprocess.STDOUT,
            )
            try:
                wait_for_http(f"http://127.0.0.1:{self.actions_port}/health", self.actions)
                return
            except RuntimeError:
                if attempt == attempts:
                    raise RuntimeError(f"action server did not start; see {self.workdir / 'actions.log'}") from None
                time.sleep(20)

    def start_rasa(self, attempts: int = 3) -> None:
        """Start the rasa server; retry when it dies early (the model may be being retrained)."""
        args = [
            str(RASA), "run", "--model", str(MODEL), "--port", str(self.rasa_port),
            "--endpoints", str(self.endpoints), "--credentials", str(PROJECT_ROOT / "credentials.yml"),
            "--cors", "*",
        ]
        if self.enable_api:
            args += ["--enable-api", "--auth-token", self.api_token]
        for attempt in range(1, attempts + 1):
            self.rasa = subprocess.Popen(
                args, cwd=PROJECT_ROOT, env=self.env, stdout=self._log("rasa.log"), stderr=subprocess.STDOUT
            )
            try:
                wait_for_http(f"{self.rasa_url}/", self.rasa)
                return
            except RuntimeError:
                if attempt == attempts:
                    raise RuntimeError(f"rasa server did not start; see {self.workdir / 'rasa.log'}") from None
                time.sleep(10)

    def api_url(self, path: str) -> str:
        """The URL of an HTTP API ``path`` (``/conversations/...``), with the token."""
        return f"{self.rasa_url}{path}{'&' if '?' in path else '?'}token={self.api_token}"

    def stop_actions(self) -> None:
        """Stop the action server (the rasa server keeps running); ``start_actions`` brings it back."""
        stop_process(self.actions)

    def stop_rasa(self) -> None:
        """Stop the rasa server (the action server keeps running)."""
        stop_process(self.rasa)

    def log_text(self, name: str = "rasa.log") -> str:
        """What a server has logged so far."""
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        """Stop everything and close the logs."""
        stop_process(self.rasa)
        stop_process(self.actions)
        for log in self._logs:
            log.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


class WebServer:
    """The ``web/`` folder served over HTTP on a free loopback port, in a background thread."""

    def __init__(self, directory: Path = PROJECT_ROOT / "web") -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> WebServer:
        """Start serving."""
        self.thread.start()
        return self

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()
