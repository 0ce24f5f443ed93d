"""The staff command line, with agent replies delivered to a real local HTTP server standing in for rasa."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from actions import settings as settings_module
from actions import staff
from actions.services.handoff import create_ticket
from actions.settings import PROJECT_ROOT, settings_from_env
from actions.store import db
from actions.store.models import Ticket

UTC = dt.timezone.utc
CHICAGO = ZoneInfo("America/Chicago")
FRIDAY_EVENING = dt.datetime(2026, 11, 27, 18, 30, tzinfo=CHICAGO).astimezone(UTC)
TOKEN = "s3cret-token"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class FakeRasa:
    """A real HTTP server on 127.0.0.1 that records every request and answers with ``status``."""

    url: str
    requests: list[Recorded] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def rasa(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRasa]:
    fake = FakeRasa(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            fake.requests.append(
                Recorded("POST", parts.path, parse_qs(parts.query), json.loads(raw) if raw else None)
            )
            payload = b'{"ok": true}'
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("GOLDEN_RULE_RASA_URL", fake.url + "/")
    monkeypatch.setenv("GOLDEN_RULE_RASA_TOKEN", TOKEN)
    settings_module.get_settings.cache_clear()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        settings_module.get_settings.cache_clear()


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    """The CLI's clock: Monday Nov 30 2026, 09:30 Chicago."""
    now = dt.datetime(2026, 11, 30, 9, 30, tzinfo=CHICAGO).astimezone(UTC)
    monkeypatch.setattr(staff, "_now", lambda: now)
    return now


def open_ticket(url: str, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "conversation_id": "conv-42",
        "reason": "pricing",
        "customer_email": "dana@example.com",
        "email_proven": True,
        "contact_channel": "phone",
        "contact_detail": "+1 312 555 0199",
        "summary": "Asks for a volume price on 10 Dock Pro.",
        "transcript": "user: can I get 10 docks cheaper?\nbot: Jo Kim handles price requests.",
        "now": FRIDAY_EVENING,
    }
    values.update(overrides)
    with db.session_scope(url) as session:
        return create_ticket(session, **values).reference


def load(url: str, reference: str) -> Ticket:
    with db.session_scope(url) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.reference == reference)).one()
        session.expunge(ticket)
        return ticket


# --------------------------------------------------------------------------------------------- list / show


def test_list_without_tickets(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert staff.main(["list"]) == 0
    assert capsys.readouterr().out.strip() == "No open tickets."


def test_list_shows_open_tickets(store: str, fixed_now: dt.datetime, capsys: pytest.CaptureFixture[str]) -> None:
    first = open_ticket(store)
    second = open_ticket(store, conversation_id="conv-43", reason="double_charge", customer_email="sam@example.com")
    anonymous = open_ticket(store, conversation_id="conv-44", reason="legal", customer_email=None,
                            contact_channel="chat")
    closed = open_ticket(store, conversation_id="conv-45", reason="frustration")
    with db.session_scope(store) as session:
        session.execute(update(Ticket).where(Ticket.reference == closed).values(status="resolved"))

    assert staff.main(["list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == "reference reason customer owner promised by (Central Time) age".split()
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {first, second, anonymous}
    assert "pricing" in rows[first] and "Dana Reyes" in rows[first] and "Jo Kim" in rows[first]
    assert "Mon Nov 30 1:00 PM" in rows[first]
    assert rows[first].rstrip().endswith("2d 15h")  # Friday 18:30 → Monday 09:30
    assert "double_charge" in rows[second] and "Sam Okafor" in rows[second] and "Priya Shah" in rows[second]
    assert "(anonymous)" in rows[anonymous] and "Marcus Lee" in rows[anonymous]


def test_show_prints_everything(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    reference = open_ticket(store)
    assert staff.main(["show", reference.lower()]) == 0
    out = capsys.readouterr().out
    for expected in (
        f"Ticket {reference} (open)",
        "reason:        pricing",
        "Dana Reyes <dana@example.com>",
        "contact:       phone — +1 312 555 0199",
        "owner:         Jo Kim, sales specialist",
        "promised by:   Mon Nov 30 1:00 PM Central Time",
        "opened:        Fri Nov 27 6:30 PM",
        "conversation:  conv-42",
        "Asks for a volume price on 10 Dock Pro.",
        "user: can I get 10 docks cheaper?\nbot: Jo Kim handles price requests.",
    ):
        assert expected in out


@pytest.mark.parametrize(("reference", "message"), [("BD-99999", "no ticket BD-99999"), ("ticket 7", "not a ticket")])
def test_show_unknown_or_malformed(store: str, capsys: pytest.CaptureFixture[str], reference: str,
                                  message: str) -> None:
    assert staff.main(["show", reference]) == 1
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_store_failure_is_one_line_and_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOLDEN_RULE_DB_URL", f"sqlite:///{tmp_path / 'empty.db'}")  # no tables
    settings_module.get_settings.cache_clear()
    try:
        assert staff.main(["list"]) == 1
    finally:
        db.dispose_engines()
        settings_module.get_settings.cache_clear()
    assert "store is unreachable" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- reply


def test_reply_reaches_the_live_conversation_and_the_transcript(
    store: str, rasa: FakeRasa, fixed_now: dt.datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = open_ticket(store)
    text = "Hi Dana, Jo here: for 10 Dock Pro I can do $134 each. Shall I reserve them?"
    assert staff.main(["reply", reference, text]) == 0
    assert "delivered" in capsys.readouterr().out

    assert len(rasa.requests) == 1
    request = rasa.requests[0]
    assert request.path == "/conversations/conv-42/tracker/events"
    assert request.query == {"output_channel": ["latest"], "execute_side_effects": ["true"], "token": [TOKEN]}
    assert request.body == {"event": "bot", "text": text}

    ticket = load(store, reference)
    assert ticket.transcript.endswith(f"[2026-11-30 09:30] Jo Kim (agent): {text}")
    assert ticket.transcript.startswith("user: can I get 10 docks cheaper?")
    assert ticket.status == "open"
    assert ticket.updated_at == fixed_now.replace(tzinfo=None)


def test_reply_quotes_conversation_ids_and_omits_an_empty_token(
    store: str, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOLDEN_RULE_RASA_TOKEN", "")
    settings_module.get_settings.cache_clear()
    reference = open_ticket(store, conversation_id="slack/U123 ?x")
    assert staff.main(["reply", reference, "hello"]) == 0
    assert rasa.requests[0].path == "/conversations/slack%2FU123%20%3Fx/tracker/events"
    assert "token" not in rasa.requests[0].query


def test_reply_to_a_resolved_ticket_is_refused(store: str, rasa: FakeRasa, capsys: pytest.CaptureFixture[str]) -> None:
    reference = open_ticket(store)
    with db.session_scope(store) as session:
        session.execute(update(Ticket).values(status="resolved"))
    assert staff.main(["reply", reference, "hello?"]) == 1
    assert f"ticket {reference} is resolved, not open" in capsys.readouterr().err
    assert rasa.requests == []


def test_reply_without_a_conversation_names_the_channel(
    store: str, rasa: FakeRasa, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = open_ticket(store, conversation_id=None)
    assert staff.main(["reply", reference, "hello"]) == 1
    assert "reach the customer by phone" in capsys.readouterr().err
    assert rasa.requests == []


def test_empty_reply_is_refused(store: str, rasa: FakeRasa) -> None:
    reference = open_ticket(store)
    assert staff.main(["reply", reference, "   "]) == 1
    assert rasa.requests == []


@pytest.mark.parametrize(("status", "message"), [(500, "HTTP 500"), (401, "check GOLDEN_RULE_RASA_TOKEN")])
def test_rasa_errors_leave_the_transcript_alone(
    store: str, rasa: FakeRasa, capsys: pytest.CaptureFixture[str], status: int, message: str
) -> None:
    reference = open_ticket(store)
    before = load(store, reference).transcript
    rasa.status = status
    assert staff.main(["reply", reference, "hello"]) == 1
    err = capsys.readouterr().err
    assert message in err and TOKEN not in err
    assert load(store, reference).transcript == before


def test_unreachable_rasa_never_prints_the_token(
    store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("GOLDEN_RULE_RASA_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("GOLDEN_RULE_RASA_TOKEN", TOKEN)
    settings_module.get_settings.cache_clear()
    reference = open_ticket(store)
    assert staff.main(["reply", reference, "hello"]) == 1
    err = capsys.readouterr().err
    assert f"could not reach rasa at http://127.0.0.1:{port}" in err
    assert TOKEN not in err
    assert "(agent)" not in load(store, reference).transcript


# --------------------------------------------------------------------------------------------- resolve


def test_resolve_resumes_then_asks_for_feedback(
    store: str, rasa: FakeRasa, fixed_now: dt.datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = open_ticket(store)
    assert staff.main(["resolve", reference]) == 0
    assert "resolved; the conversation is resumed" in capsys.readouterr().out

    assert [(r.path, r.body) for r in rasa.requests] == [
        ("/conversations/conv-42/tracker/events", {"event": "resume"}),
        ("/conversations/conv-42/trigger_intent", {"name": "EXTERNAL_handoff_resolved"}),
    ]
    assert rasa.requests[0].query == {"output_channel": ["latest"], "execute_side_effects": ["true"], "token": [TOKEN]}
    assert rasa.requests[1].query == {"output_channel": ["latest"], "token": [TOKEN]}

    ticket = load(store, reference)
    assert ticket.status == "resolved"
    assert ticket.updated_at == fixed_now.replace(tzinfo=None)
    assert ticket.transcript.endswith("system: ticket resolved")

    # Closed now: a second resolve or a reply is refused with exit code 1 and no HTTP call.
    assert staff.main(["resolve", reference]) == 1
    assert staff.main(["reply", reference, "one more thing"]) == 1
    assert "is resolved, not open" in capsys.readouterr().err
    assert len(rasa.requests) == 2
    assert staff.main(["list"]) == 0
    assert reference not in capsys.readouterr().out


def test_resolve_keeps_the_ticket_open_when_rasa_fails(store: str, rasa: FakeRasa) -> None:
    reference = open_ticket(store)
    rasa.status = 503
    assert staff.main(["resolve", reference]) == 1
    assert load(store, reference).status == "open"  # rerun once rasa is back


def test_resolve_without_notifying(store: str, rasa: FakeRasa, capsys: pytest.CaptureFixture[str]) -> None:
    with_conversation = open_ticket(store)
    without = open_ticket(store, conversation_id=None, reason="legal")
    assert staff.main(["resolve", with_conversation, "--no-notify"]) == 0
    assert staff.main(["resolve", without]) == 0
    assert rasa.requests == []
    assert load(store, with_conversation).status == load(store, without).status == "resolved"
    assert capsys.readouterr().out.count("resolved.") == 2


def test_resolve_unknown_ticket(store: str, rasa: FakeRasa, capsys: pytest.CaptureFixture[str]) -> None:
    assert staff.main(["resolve", "BD-55555"]) == 1
    assert "no ticket BD-55555" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- entry point, settings


def test_module_entry_point(store: str) -> None:
    reference = open_ticket(store)
    env = {**os.environ, "GOLDEN_RULE_DB_URL": store}
    listed = subprocess.run(
        [sys.executable, "-m", "actions.staff", "list"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert reference in listed.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "actions.staff", "show", "BD-00001"], cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: no ticket BD-00001"


def test_handoff_settings_from_env() -> None:
    defaults = settings_from_env({})
    assert (defaults.rasa_url, defaults.rasa_token, defaults.reply_target_hours) == ("http://localhost:5005", "", 4.0)
    custom = settings_from_env(
        {
            "GOLDEN_RULE_RASA_URL": " https://rasa.internal:5005/ ",
            "GOLDEN_RULE_RASA_TOKEN": " tok ",
            "GOLDEN_RULE_REPLY_TARGET_HOURS": "2.5",
        }
    )
    assert (custom.rasa_url, custom.rasa_token, custom.reply_target_hours) == ("https://rasa.internal:5005", "tok", 2.5)
    for bad in ("four", "0", "-3", "nan", "inf"):
        assert settings_from_env({"GOLDEN_RULE_REPLY_TARGET_HOURS": bad}).reply_target_hours == 4.0
