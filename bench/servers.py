"""Start, time and stop the servers under test: rasa servers, our action server, training runs.

Everything listens on 127.0.0.1 on a free port; every wait has a deadline, and every process
started here is stopped by its own handle (terminate, then kill after a grace period).
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

RASA = Path(sys.executable).with_name("rasa")
START_TIMEOUT_S = 600.0
TRAIN_TIMEOUT_S = 1800.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ACTION_TOKEN_ENV = "GOLDEN_RULE_ACTION_TOKEN"


@functools.cache
def action_token() -> str:
    """The token of this run's action servers (one per benchmark process; never written anywhere)."""
    return secrets.token_urlsafe(32)


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment for rasa processes: no telemetry, quiet TensorFlow, this run's action token, ``extra``."""
    return {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        ACTION_TOKEN_ENV: action_token(),
        **extra,
    }


@dataclass
class Server:
    """One server process under test and how long it took to become ready."""

    name: str
    args: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    ready_url: str
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    ready_seconds: float | None = None
    _log: IO[str] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Launch the process; its output goes to ``log_path``."""
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.args, cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> float:
        """Poll ``ready_url`` until it answers 200; returns seconds from process start to ready."""
        assert self.process is not None, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                    if response.status == 200:
                        self.ready_seconds = time.monotonic() - self.started_at
                        return self.ready_seconds
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready within {timeout:.0f} s; see {self.log_path}")

    @property
    def pid(self) -> int:
        """The process id (for CPU accounting and the profiler)."""
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        """Terminate, wait up to 20 s, then kill; close the log."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


def rasa_server(
    name: str, model: Path, cwd: Path, workdir: Path, action_port: int | None, env: dict[str, str]
) -> Server:
    """A ``rasa run`` server with only the REST channel (and our action server if given).

    The endpoints file sends the action server's token: ``env``'s ``GOLDEN_RULE_ACTION_TOKEN``, the
    value :func:`action_server` started with the same ``env`` requires.
    """
    port = free_port()
    credentials = workdir / f"{name}-credentials.yml"
    credentials.write_text("rest:\n")
    args = [str(RASA), "run", "--model", str(model), "--port", str(port), "--interface", "127.0.0.1",
            "--credentials", str(credentials)]
    if action_port is not None:
        endpoints = workdir / f"{name}-endpoints.yml"
        endpoints.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n  token: "{env[ACTION_TOKEN_ENV]}"\n'
        )
        args += ["--endpoints", str(endpoints)]
    return Server(name, args, cwd, env, workdir / f"{name}.log", f"http://127.0.0.1:{port}/")


def action_server(name: str, cwd: Path, workdir: Path, env: dict[str, str]) -> Server:
    """Our action server on a free port, as ``make run`` starts it (``golden_rule.action_server``).

    It binds 127.0.0.1 and takes calls only with ``env``'s ``GOLDEN_RULE_ACTION_TOKEN`` (see
    :func:`quiet_env`); ``/health`` needs none.
    """
    if len(env.get(ACTION_TOKEN_ENV, "")) < 24:
        raise ValueError(f"{name}: env has no {ACTION_TOKEN_ENV}; build it with quiet_env()")
    port = free_port()
    args = [sys.executable, "-m", "golden_rule.action_server", "--port", str(port)]
    return Server(name, args, cwd, env, workdir / f"{name}.log", f"http://127.0.0.1:{port}/health")


def port_of(server: Server) -> int:
    """The port a server was given (parsed back from its ready URL)."""
    return int(server.ready_url.rsplit(":", 1)[1].split("/", 1)[0])


def timed_run(args: list[str], cwd: Path, env: dict[str, str], log_path: Path,
              timeout: float = TRAIN_TIMEOUT_S) -> float:
    """Run a command to completion (e.g. ``rasa train``); returns its wall time in seconds."""
    started = time.monotonic()
    with open(log_path, "w") as log:
        completed = subprocess.run(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                                   check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed with {completed.returncode}; see {log_path}")
    return time.monotonic() - started


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the given processes (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total
