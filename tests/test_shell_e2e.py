"""`make shell`'s script driven like a person would: a real `rasa shell` in a pseudo-terminal."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from actions.settings import PROJECT_ROOT
from tests.channel_servers import (
    ACTION_TOKEN_ENV,
    MODEL,
    action_endpoint_yaml,
    free_port,
    new_action_token,
    seeded_store,
)

pytestmark = pytest.mark.e2e

PROMPT = "Your input ->"
LOAD_TIMEOUT = 400  # action server + model load on a shared 2-core machine
ANSWER_TIMEOUT = 120


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[pexpect.spawn]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it first)")
    actions_port = free_port()
    token = new_action_token()
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(action_endpoint_yaml(actions_port, token))
    env = {
        **os.environ,
        "GOLDEN_RULE_DB_URL": seeded_store(tmp_path),
        # Both secrets given, so shell.sh writes no var/secrets.env into the working copy; its
        # action server logs into the temp folder.
        ACTION_TOKEN_ENV: token,
        "GOLDEN_RULE_WIDGET_SECRET": secrets.token_hex(32),
        "ACTIONS_LOG": str(tmp_path / "actions-shell.log"),
        "ACTIONS_PORT": str(actions_port),
        "SHELL_PORT": str(free_port()),
        "ENDPOINTS": str(endpoints),
        "VENV": str(Path(sys.executable).parent.parent),  # the virtualenv running these tests
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",
        "TERM": "dumb",
    }
    log = open(tmp_path / "shell.log", "w")  # noqa: SIM115 - closed below
    child = pexpect.spawn(str(PROJECT_ROOT / "scripts" / "shell.sh"), cwd=str(PROJECT_ROOT), env=env,
                          encoding="utf-8", timeout=ANSWER_TIMEOUT, dimensions=(40, 200))
    child.logfile_read = log
    try:
        child.expect("Starting the action server")
        child.expect(PROMPT, timeout=LOAD_TIMEOUT)
        yield child
    finally:
        if child.isalive():
            child.sendline("/stop")
            child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=60)
        child.close(force=True)
        log.close()


def _say(child: pexpect.spawn, text: str, answer: str) -> str:
    """Type a line and wait for the bot's ``answer`` (a regular expression); return the matched text.

    Waiting for the answer, not for the next prompt: prompt_toolkit redraws the prompt while the
    line is typed, so the prompt text shows up before the bot has said anything.
    """
    child.sendline(text)
    child.expect(answer)
    matched = child.after
    child.expect(PROMPT)
    return matched


def test_a_short_conversation_in_rasa_shell(shell: pexpect.spawn) -> None:
    _say(shell, "hello", r"Brightdesk")
    price = _say(shell, "how much is the Nimbus 14 laptop?", r"\$1,199\.00")
    assert "$1,199.00" in price
    _say(shell, "bye", r"Take care|Goodbye, and thanks")
    shell.sendline("/stop")
    shell.expect(pexpect.EOF, timeout=60)
