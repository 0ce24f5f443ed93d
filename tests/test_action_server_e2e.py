"""The action server is reachable by the rasa server alone, and `make run` keeps its servers up.

Issue 12, items 2 (supervision), 4 (action server: loopback and a shared token) and 8 (var/ files
owner-only), against the real launcher (``python -m golden_rule.action_server``) and the real
``scripts/run.sh``. run.sh runs in a temporary working copy (symbolic links to this checkout, a
var/ of its own and a copy of the model), so the developer's var/, secrets and ports are never
touched. Every wait polls with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from actions.settings import PROJECT_ROOT
from actions.store import db
from actions.store.seed import seed_demo
from tests.channel_servers import (
    ACTION_TOKEN_ENV,
    MODEL,
    action_server_args,
    free_port,
    new_action_token,
    seeded_store,
    stop_process,
    wait_for_http,
)
from tests.conftest import TODAY

pytestmark = pytest.mark.e2e

# The attack of issue 12 item 5: a hand-made tracker claiming a verified order.
ATTACK = {
    "next_action": "action_order_help",
    "sender_id": "stranger",
    "version": "3.6.21",
    "domain": {},
    "tracker": {
        "sender_id": "stranger",
        "slots": {"verified_order": "10042", "order_id": "10042"},
        "latest_message": {"text": "where is my order", "intent": {"name": "order_status", "confidence": 1.0},
                           "entities": []},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    },
}
ORDER_DETAILS = ("UPS", "1Z4E72A90342118866", "Nimbus 14 Laptop")
# A call as the rasa server makes it for "how much is the Nimbus 14 laptop?" (public catalog data).
PRICE_CALL = {
    **ATTACK,
    "next_action": "action_check_price",
    "sender_id": "shopper",
    "tracker": {
        **ATTACK["tracker"],
        "sender_id": "shopper",
        "slots": {"product": "Nimbus 14 Laptop"},
        "latest_message": {"text": "how much is the Nimbus 14 laptop?",
                           "intent": {"name": "check_price", "confidence": 1.0},
                           "entities": [{"entity": "product", "value": "Nimbus 14 Laptop"}]},
    },
}
# Starting the rasa server takes one to three minutes on the shared 2-core machine; run.sh's tests
# start it twice (once after the kill), beyond pytest's default 300 s.
RUN_SH_TIMEOUT = 1200


def poll(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """``check()``'s first truthy result, polled until ``timeout`` seconds; fails saying ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def http(method: str, url: str, body: dict | None = None) -> tuple[int, str]:
    """Status and body text of one request; an HTTP error status is returned, not raised."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def answers(url: str) -> bool:
    """Whether ``url`` answers with a 2xx right now."""
    try:
        with urllib.request.urlopen(url, timeout=3):
            return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    """Whether a process with this id exists (and is not a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def launcher_env(**extra: str) -> dict[str, str]:
    """The environment for the launcher: quiet, no token of the developer's, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if key not in (ACTION_TOKEN_ENV, "GOLDEN_RULE_ACTIONS_BIND")}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false", **extra}


def non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine other than loopback, or None when it has none."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError:
        out = ""
    if not out.strip():
        try:
            out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=10,
                                 check=False).stdout
        except OSError:
            out = ""
        out = " ".join(re.findall(r"inet (\d+\.\d+\.\d+\.\d+)", out))
    for address in out.split():
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", address) and not address.startswith("127."):
            return address
    return None


# --- The launcher -------------------------------------------------------------------------------

@dataclass
class ActionServer:
    url: str
    port: int
    token: str
    process: subprocess.Popen


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActionServer]:
    """The launcher on a free port with a fresh token and a seeded store."""
    workdir = tmp_path_factory.mktemp("action-server")
    port, token = free_port(), new_action_token()
    env = launcher_env(GOLDEN_RULE_DB_URL=seeded_store(workdir), **{ACTION_TOKEN_ENV: token})
    with open(workdir / "actions.log", "w") as log:
        process = subprocess.Popen(action_server_args(port), cwd=PROJECT_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health", process)
            yield ActionServer(f"http://127.0.0.1:{port}", port, token, process)
        finally:
            stop_process(process)
    log_text = (workdir / "actions.log").read_text(errors="replace")
    assert token not in log_text, "the token was written to the action server's log"


def test_webhook_without_a_token_is_refused(action_server: ActionServer) -> None:
    status, body = http("POST", f"{action_server.url}/webhook", ATTACK)
    assert status == 401
    assert json.loads(body) == {"error": "unauthorized: a valid token is required"}
    assert not any(detail in body for detail in ORDER_DETAILS)


def test_webhook_with_a_wrong_token_is_refused(action_server: ActionServer) -> None:
    wrong = new_action_token()
    for url in (f"{action_server.url}/webhook?token={wrong}", f"{action_server.url}/webhook?token=",
                f"{action_server.url}/webhook?token={action_server.token[:-1]}",
                f"{action_server.url}/webhook?token={action_server.token}x",
                f"{action_server.url}/webhook?tok={action_server.token}"):
        status, body = http("POST", url, ATTACK)
        assert status == 401, url
        assert not any(detail in body for detail in ORDER_DETAILS)


def test_webhook_with_the_token_runs_the_action(action_server: ActionServer) -> None:
    """The rasa server (which holds the token) is trusted: its calls are answered.

    (What an action then reveals is the actions' own business: with the token, the hand-made claim
    above is still refused by the identity rule, so the price question shows the call went through.)
    """
    status, body = http("POST", f"{action_server.url}/webhook?token={action_server.token}", PRICE_CALL)
    assert status == 200
    assert "$1,199.00" in body
    status, body = http("POST", f"{action_server.url}/webhook?token={action_server.token}", ATTACK)
    assert status == 200 and "events" in json.loads(body)


def test_action_list_needs_the_token_and_health_does_not(action_server: ActionServer) -> None:
    assert http("GET", f"{action_server.url}/actions")[0] == 401
    status, body = http("GET", f"{action_server.url}/actions?token={action_server.token}")
    assert status == 200 and "action_order_help" in body
    assert http("GET", f"{action_server.url}/health") == (200, '{"status":"ok"}')


def test_the_action_server_listens_on_loopback_only(action_server: ActionServer) -> None:
    address = non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no IPv4 address besides loopback to try")
    with pytest.raises(OSError), socket.create_connection((address, action_server.port), timeout=5):
        pass
    with socket.create_connection(("127.0.0.1", action_server.port), timeout=5):
        pass  # while loopback answers


@pytest.mark.parametrize(("token", "says"), [(None, "is not set"), ("", "is not set"), ("too-short", "too short")])
def test_the_launcher_refuses_to_start_without_a_proper_token(token: str | None, says: str) -> None:
    port = free_port()
    env = launcher_env() if token is None else launcher_env(**{ACTION_TOKEN_ENV: token})
    done = subprocess.run(action_server_args(port), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and ACTION_TOKEN_ENV in lines[0] and says in lines[0], done.stderr
    assert not answers(f"http://127.0.0.1:{port}/health")


# --- make run: scripts/run.sh in a working copy of its own ----------------------------------------

def copy_model(target: Path, attempts: int = 6) -> None:
    """Copy the trained model, retrying while someone else is rewriting it (a shared checkout)."""
    for _ in range(attempts):
        try:
            shutil.copyfile(MODEL, target)
            with tarfile.open(target) as archive:
                archive.getmembers()
            return
        except (OSError, tarfile.TarError):
            time.sleep(10)
    pytest.fail(f"could not copy a complete {MODEL}; run `make train`")


def working_copy(root: Path) -> Path:
    """A working copy of this checkout in ``root``: links to everything but var/ and models/.

    run.sh does ``cd "$(dirname "$0")/.."`` (a logical path), so run from ``root/scripts`` it works
    in ``root``: its var/ (secrets, tracker store) is ``root/var``.
    """
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it first)")
    for entry in PROJECT_ROOT.iterdir():
        if entry.name not in {"var", "models", ".git", "results", "artifacts"}:
            (root / entry.name).symlink_to(entry)
    (root / "models").mkdir()
    copy_model(root / "models" / MODEL.name)
    return root


@dataclass
class RunSh:
    """scripts/run.sh running in a working copy, its output in ``log``."""

    root: Path
    process: subprocess.Popen
    log_path: Path
    log: IO[str]
    rasa_port: int
    actions_port: int
    web_port: int

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        """The latest pid run.sh reported for each server ("Started the rasa server (pid N).")."""
        found: dict[str, int] = {}
        for name, pid in re.findall(r"Started the (action|rasa|web) server \(pid (\d+)\)", self.output()):
            found[name] = int(pid)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.log.close()


def start_run_sh(root: Path, **extra: str) -> RunSh:
    """Seed a store in the copy's var/ (loosely, as an old checkout would have it) and start run.sh."""
    var = root / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    store = var / "golden_rule.db"
    db_url = f"sqlite:///{store}"
    db.create_schema(db_url)
    with db.session_scope(db_url) as session:
        seed_demo(session, TODAY)
    db.dispose_engines()
    store.chmod(0o644)
    ports = {"RASA_PORT": free_port(), "ACTIONS_PORT": free_port(), "WEB_PORT": free_port()}
    env = launcher_env(
        GOLDEN_RULE_DB_URL=db_url, VENV=str(Path(sys.executable).parent.parent), WEB_BIND="127.0.0.1",
        **{name: str(port) for name, port in ports.items()}, **extra,
    )
    env.pop("GOLDEN_RULE_WIDGET_SECRET", None)  # both secrets generated into the copy's var/secrets.env
    env.pop("GOLDEN_RULE_RASA_TOKEN", None)
    log_path = root / "run.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed in RunSh.stop()
    # Its own session: a test's signal reaches run.sh alone, as a terminal's Ctrl-C reaches make.
    process = subprocess.Popen([str(root / "scripts" / "run.sh")], cwd=root, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    return RunSh(root, process, log_path, log, ports["RASA_PORT"], ports["ACTIONS_PORT"], ports["WEB_PORT"])


def say(rasa_port: int, sender: str, text: str) -> str:
    """The bot's reply texts over REST, joined."""
    status, body = http("POST", f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
                        {"sender": sender, "message": text})
    assert status == 200, body
    return " ".join(reply.get("text") or "" for reply in json.loads(body))


@pytest.mark.timeout(RUN_SH_TIMEOUT)
def test_make_run_restarts_a_dead_server_alone_and_keeps_var_private(tmp_path: Path) -> None:
    run = start_run_sh(working_copy(tmp_path), GOLDEN_RULE_RESTART_LIMIT="2")
    try:
        poll(lambda: "Golden Rule is running." in run.output() or run.process.poll() is not None, 400,
             "run.sh to start its servers")
        assert run.process.poll() is None, run.output()[-3000:]
        rasa_url, actions_port = f"http://127.0.0.1:{run.rasa_port}/", run.actions_port

        # The token: generated into var/secrets.env, never printed, and the one the rasa server sends.
        var = tmp_path / "var"
        secrets_file = (var / "secrets.env").read_text()
        token = re.search(r"^GOLDEN_RULE_ACTION_TOKEN=(\S+)$", secrets_file, re.M)
        assert token and re.search(r"^GOLDEN_RULE_WIDGET_SECRET=\S{32,}$", secrets_file, re.M)
        assert token.group(1) not in run.output()
        assert "$1,199.00" in say(run.rasa_port, "supervised-1", "how much is the Nimbus 14 laptop?")
        assert http("POST", f"http://127.0.0.1:{actions_port}/webhook", ATTACK)[0] == 401

        # var/ owner-only: the folder, the loosely created store, the secrets, rasa's tracker store.
        assert mode(var) == 0o700
        for name in ("golden_rule.db", "secrets.env", "tracker.db"):
            assert mode(var / name) == 0o600, f"var/{name} is {oct(mode(var / name))}"

        # The rasa server dies: it alone is restarted, and says so.
        before = run.pids()
        os.kill(before["rasa"], signal.SIGKILL)
        poll(lambda: "rasa server exited with code 137 (killed by SIGKILL); restarting it in 1 s "
                     "(restart 1 in the last 10 minutes)." in run.output(), 60, "run.sh to report the dead rasa server")
        poll(lambda: run.pids()["rasa"] != before["rasa"] and answers(rasa_url), 400, "the rasa server to come back")
        poll(lambda: "The rasa server is answering again" in run.output(), 30, "run.sh to say the rasa server is back")
        after = run.pids()
        assert after["action"] == before["action"] and alive(before["action"])
        assert after["web"] == before["web"] and alive(before["web"])
        assert "$1,199.00" in say(run.rasa_port, "supervised-2", "how much is the Nimbus 14 laptop?")

        # A server that keeps dying: restarted up to the limit (2 here), then everything stops, exit 1.
        for restart in (1, 2):
            web = run.pids()["web"]
            os.kill(web, signal.SIGKILL)
            poll(lambda restart=restart, web=web: f"(restart {restart} in the last 10 minutes)" in run.output()
                 and run.pids()["web"] != web, 60, f"web server restart {restart}")
        os.kill(run.pids()["web"], signal.SIGKILL)
        poll(lambda: run.process.poll() is not None, 120, "run.sh to give up")
        assert run.process.returncode == 1
        assert "after 2 restarts in the last 10 minutes; giving up" in run.output()
        last = run.pids()
        poll(lambda: not any(alive(pid) for pid in last.values()), 30, "every server to be stopped")
    finally:
        run.stop()


@pytest.mark.timeout(RUN_SH_TIMEOUT)
def test_make_run_stops_everything_on_term(tmp_path: Path) -> None:
    """TERM (or Ctrl-C) stops all three servers, even while the rasa server is still loading."""
    run = start_run_sh(working_copy(tmp_path))
    try:
        poll(lambda: len(run.pids()) == 3 and answers(f"http://127.0.0.1:{run.actions_port}/health"), 300,
             "the action server to answer")
        pids = run.pids()
        run.process.send_signal(signal.SIGTERM)
        poll(lambda: run.process.poll() is not None, 90, "run.sh to stop")
        assert run.process.returncode == 0
        assert "Stopped." in run.output()
        assert not any(alive(pid) for pid in pids.values())
    finally:
        run.stop()
