"""A restarted rasa server loses nothing: the SQL tracker store keeps the half-filled form."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.settings import PROJECT_ROOT
from tests.channel_servers import ACTION_TOKEN_ENV, action_endpoint_yaml, action_server_args, new_action_token
from tests.test_e2e_rest import MODEL, RASA, Bot, _free_port, _texts, _wait

pytestmark = pytest.mark.e2e

Servers = tuple[Bot, list[str], dict[str, str], list[subprocess.Popen]]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """The action server running, and how to start (and restart) a rasa server on a SQL tracker store."""
    from actions.store import db
    from actions.store.seed import seed_demo
    from tests.conftest import TODAY

    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    db.create_schema(db_url)
    with db.session_scope(db_url) as session:
        seed_demo(session, TODAY)
    actions_port, rasa_port = _free_port(), _free_port()
    token = new_action_token()
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        action_endpoint_yaml(actions_port, token)
        + f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{tmp_path / "tracker.db"}"\n'
    )
    env = {**os.environ, "GOLDEN_RULE_DB_URL": db_url, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
           ACTION_TOKEN_ENV: token}
    actions = subprocess.Popen(
        action_server_args(actions_port),
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    rasa_cmd = [str(RASA), "run", "--model", str(MODEL), "--port", str(rasa_port), "--endpoints", str(endpoints),
                "--credentials", str(PROJECT_ROOT / "credentials.yml")]
    _wait(f"http://127.0.0.1:{actions_port}/health", actions)
    procs: list[subprocess.Popen] = [actions]
    try:
        yield Bot(rasa_url=f"http://127.0.0.1:{rasa_port}", db_url=db_url), rasa_cmd, env, procs
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        db.dispose_engines()


def test_restart_mid_form_continues_where_the_customer_was(servers: Servers) -> None:
    bot, rasa_cmd, env, procs = servers
    first = subprocess.Popen(rasa_cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    procs.append(first)
    _wait(f"{bot.rasa_url}/", first)
    asked = _texts(bot.say("restart-1", "where is order 10042?"))
    assert "email" in asked
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=60)

    second = subprocess.Popen(rasa_cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    procs.append(second)
    _wait(f"{bot.rasa_url}/", second)
    answer = _texts(bot.say("restart-1", "dana@example.com"))
    assert "UPS" in answer and "new estimate" in answer


def test_action_server_down_gets_an_honest_answer_then_recovers(servers: Servers) -> None:
    bot, rasa_cmd, env, procs = servers
    rasa = subprocess.Popen(rasa_cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    procs.append(rasa)
    _wait(f"{bot.rasa_url}/", rasa)
    actions = procs[0]
    actions.terminate()
    actions.wait(timeout=30)
    down = _texts(bot.say("down-1", "how much is the Nimbus 14 laptop?"))
    assert "isn't responding" in down and "support@brightdesk.example" in down

    restarted = subprocess.Popen(actions.args, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    procs.append(restarted)
    _wait(actions_health(actions.args), restarted)
    assert "$1,199.00" in _texts(bot.say("down-1", "how much is the Nimbus 14 laptop?"))


def actions_health(args: list[str]) -> str:
    port = args[args.index("--port") + 1]
    return f"http://127.0.0.1:{port}/health"


def test_a_hanging_action_server_gets_an_honest_answer_within_the_budget(servers: Servers) -> None:
    """An action server that accepts the call and never answers: the customer is told, not kept waiting."""
    bot, rasa_cmd, env, procs = servers
    rasa = subprocess.Popen(rasa_cmd, cwd=PROJECT_ROOT, env={**env, "GOLDEN_RULE_REPLY_BUDGET_SECONDS": "3"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(rasa)
    _wait(f"{bot.rasa_url}/", rasa)
    actions = procs[0]
    actions.terminate()
    actions.wait(timeout=30)
    port = int(actions.args[actions.args.index("--port") + 1])
    with socket.create_server(("127.0.0.1", port)) as hanging:  # accepts connections, never answers
        hanging.listen(16)
        started = time.monotonic()
        told = _texts(bot.say("hang-1", "how much is the Nimbus 14 laptop?"))
        waited = time.monotonic() - started
    assert "isn't responding" in told and "support@brightdesk.example" in told
    assert waited < 60, f"the customer waited {waited:.0f} s"  # Rasa alone would wait its 5-minute timeout

    restarted = subprocess.Popen(actions.args, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    procs.append(restarted)
    _wait(actions_health(actions.args), restarted)
    assert "$1,199.00" in _texts(bot.say("hang-1", "how much is the Nimbus 14 laptop?"))
