"""End to end over REST: the real action server and rasa server, a seeded SQLite store.

Needs the trained model (``make test`` trains it first). Each test module gets its own
servers on free ports and its own store, so nothing here touches ``var/``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update

from actions.settings import PROJECT_ROOT
from actions.store import db
from actions.store.models import Product
from actions.store.seed import seed_demo
from tests.channel_servers import ACTION_TOKEN_ENV, action_endpoint_yaml, action_server_args, new_action_token
from tests.conftest import HOSTILE, TODAY, store_checksum

pytestmark = pytest.mark.e2e

MODEL = Path(os.environ.get("GOLDEN_RULE_TEST_MODEL", PROJECT_ROOT / "models" / "golden-rule.tar.gz"))
RASA = Path(sys.executable).with_name("rasa")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


@dataclass
class Bot:
    rasa_url: str
    db_url: str
    logs: Path | None = None

    def say(self, sender: str, text: str) -> list[dict]:
        body = json.dumps({"sender": sender, "message": text}).encode()
        request = urllib.request.Request(
            f"{self.rasa_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it first)")
    workdir = tmp_path_factory.mktemp("e2e")
    db_url = f"sqlite:///{workdir / 'store.db'}"
    db.create_schema(db_url)
    with db.session_scope(db_url) as session:
        seed_demo(session, TODAY)
    actions_port, rasa_port = _free_port(), _free_port()
    token = new_action_token()
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(action_endpoint_yaml(actions_port, token))
    env = {**os.environ, "GOLDEN_RULE_DB_URL": db_url, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
           ACTION_TOKEN_ENV: token}
    logs = [open(workdir / name, "w") for name in ("actions.log", "rasa.log")]  # noqa: SIM115
    actions = subprocess.Popen(
        action_server_args(actions_port),
        cwd=PROJECT_ROOT, env=env, stdout=logs[0], stderr=subprocess.STDOUT,
    )
    rasa = subprocess.Popen(
        [str(RASA), "run", "--model", str(MODEL), "--port", str(rasa_port), "--endpoints", str(endpoints),
         "--credentials", str(PROJECT_ROOT / "credentials.yml")],
        cwd=PROJECT_ROOT, env=env, stdout=logs[1], stderr=subprocess.STDOUT,
    )
    try:
        _wait(f"http://127.0.0.1:{actions_port}/health", actions)
        _wait(f"http://127.0.0.1:{rasa_port}/", rasa)
        yield Bot(rasa_url=f"http://127.0.0.1:{rasa_port}", db_url=db_url, logs=workdir)
    finally:
        for proc in (rasa, actions):
            proc.terminate()
        for proc in (rasa, actions):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
        db.dispose_engines()


def _texts(replies: list[dict]) -> str:
    return " ".join(r.get("text", "") for r in replies)


def test_price_question_is_answered_from_the_database(bot: Bot) -> None:
    text = _texts(bot.say("e2e-price", "how much is the Nimbus 14 laptop?"))
    assert "$1,199.00" in text
    assert "12 in stock" in text


def test_answer_follows_the_database(bot: Bot) -> None:
    with db.session_scope(bot.db_url) as session:
        session.execute(update(Product).where(Product.sku == "DCK-PRO").values(stock=7))
    text = _texts(bot.say("e2e-dock", "what does the Dock Pro USB-C cost?"))
    assert "$149.00" in text and "7 in stock" in text


def test_bot_challenge_is_honest(bot: Bot) -> None:
    text = _texts(bot.say("e2e-bot", "am I talking to a bot?"))
    assert "automated assistant" in text and "person" in text


def test_out_of_scope_says_so(bot: Bot) -> None:
    text = _texts(bot.say("e2e-oos", "what's the weather going to be tomorrow?"))
    assert "can't help" in text or "outside what I can help with" in text


# --- Service conversations (issue: acknowledge first, fix with real data, never a dead end) ------

def _response_texts(*names: str) -> set[str]:
    import yaml

    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    return {variant["text"] for name in names for variant in domain["responses"][name]}


ACKS = _response_texts(*[
    f"utter_ack_{issue}_{level}"
    for issue in ("late_delivery", "damaged", "item_problem", "double_charge", "billing", "not_working", "complaint",
                  "general")
    for level in ("mild", "strong")
])


def test_angry_late_order_acknowledged_then_verified_then_honest(bot: Bot) -> None:
    first = bot.say("e2e-late", "my order 10042 still hasn't arrived and I'm really annoyed")
    texts = [r["text"] for r in first if "text" in r]
    assert texts[0] in _response_texts("utter_ack_late_delivery_strong", "utter_ack_late_delivery_mild")
    assert "email" in texts[-1]
    assert "UPS" not in " ".join(texts)  # nothing revealed before the email matches
    answer = _texts(bot.say("e2e-late", "dana@example.com"))
    assert "new estimate" in answer and "UPS" in answer and "regional hub" in answer


def test_wrong_email_reveals_nothing(bot: Bot) -> None:
    bot.say("e2e-wrong", "where is order 10042?")
    answer = _texts(bot.say("e2e-wrong", "sam@example.com"))
    assert "couldn't match" in answer
    assert "UPS" not in answer and "Nimbus" not in answer


def test_cancel_processing_order_updates_the_database(bot: Bot) -> None:
    from sqlalchemy import select

    from actions.store.models import Order

    bot.say("e2e-cancel", "cancel order 10061")
    answer = _texts(bot.say("e2e-cancel", "sam@example.com"))
    assert "cancelled" in answer and "$429.00" in answer
    with db.session_scope(bot.db_url) as session:
        assert session.scalars(select(Order.status).where(Order.number == "10061")).one().value == "cancelled"


def test_two_nonsense_messages_end_with_a_person_offered(bot: Bot) -> None:
    first = bot.say("e2e-nonsense", "blorp fizzle wub")
    assert first and first[0].get("buttons"), "first miss asks to rephrase with topic buttons"
    second = _texts(bot.say("e2e-nonsense", "qwx zzkj vrrp"))
    assert "person" in second
    third = _texts(bot.say("e2e-nonsense", "yes"))
    assert "email" in third and "chat" in third  # how to reply: asked once, then the ticket
    fourth = _texts(bot.say("e2e-nonsense", '/contact_preference{"contact_channel": "chat"}'))
    assert "BD-" in fourth


def test_neutral_question_gets_no_acknowledgment(bot: Bot) -> None:
    replies = bot.say("e2e-neutral", "how much is the Nimbus 14 laptop?")
    assert not ({r.get("text") for r in replies} & ACKS)
    replies = bot.say("e2e-neutral-2", "where is order 10042?")
    assert not ({r.get("text") for r in replies} & ACKS)


# --- Escalation to a named person ------------------------------------------------------------------

def test_manager_question_gets_a_name_and_a_way_to_reach_them(bot: Bot) -> None:
    answer = _texts(bot.say("e2e-manager", "who is your manager?"))
    assert "Marcus Lee" in answer and "marcus.lee@brightdesk.example" in answer


def test_request_for_a_person_stores_a_ticket_then_names_owner_and_time(bot: Bot) -> None:
    from sqlalchemy import select

    from actions.store.models import Ticket

    asked = _texts(bot.say("e2e-human", "I want to talk to a human"))
    assert "email" in asked and "phone" in asked and "chat" in asked
    told = _texts(bot.say("e2e-human", '/contact_preference{"contact_channel": "chat"}'))
    assert "BD-" in told and "by " in told
    reference = told[told.index("BD-"): told.index("BD-") + 8]
    with db.session_scope(bot.db_url) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.reference == reference)).one()
        assert ticket.conversation_id == "e2e-human" and ticket.staff.name in told


# --- Sales: catalog-grounded answers and one offer, once -------------------------------------------

OFFER_TEXTS = ("Would you like it?",)


def test_details_with_nothing_waiting_for_them_get_a_question(bot: Bot) -> None:
    """An address or a contact choice out of the blue: a question back, never silence or a false apology."""
    for sender, text in (("e2e-bare-email", "dana@example.com"),
                         ("e2e-bare-choice", '/contact_preference{"contact_channel": "chat"}')):
        replies = bot.say(sender, text)
        answer = _texts(replies)
        assert "What would you like me to do with that?" in answer, answer
        assert "isn't responding" not in answer
        assert any(button["payload"] == "/request_human" for reply in replies for button in reply.get("buttons", []))


def test_a_chat_ticket_is_shown_to_its_conversation_without_proof(bot: Bot) -> None:
    bot.say("e2e-chat-ticket", "I want to talk to a person")
    opened = _texts(bot.say("e2e-chat-ticket", '/contact_preference{"contact_channel": "chat"}'))
    reference = next(word.strip(".,") for word in opened.split() if word.startswith("BD-"))
    status = _texts(bot.say("e2e-chat-ticket", "what's happening with my ticket?"))
    assert reference in status and "email" not in status.lower(), status


def test_search_lists_real_laptops_with_price_and_stock(bot: Bot) -> None:
    answer = _texts(bot.say("e2e-search", "I need a laptop for video editing under 2000"))
    assert "Stratus 15 Creator Laptop: $1,649.00 (5 in stock)" in answer


def test_out_of_stock_gives_zero_restock_date_and_alternative(bot: Bot) -> None:
    answer = _texts(bot.say("e2e-stock", "is the Nimbus 16 Pro in stock?"))
    assert "out of stock" in answer and "next delivery is expected" in answer
    assert "Nimbus 14 Laptop" in answer


def test_one_offer_after_danas_order_question_and_none_after_no(bot: Bot) -> None:
    bot.say("e2e-offer", "where is order 10042?")
    replies = [r.get("text", "") for r in bot.say("e2e-offer", "dana@example.com")]
    offers = [t for t in replies if t.endswith(OFFER_TEXTS)]
    assert len(offers) == 1
    assert not any(owned in offers[0] for owned in ("Nimbus 14 Laptop (", "Echo ANC Headphones ("))
    assert any(item in offers[0] for item in ("Sleeve", "Dock Pro", "Glide Wireless Mouse", "CarePlus"))
    after_no = _texts(bot.say("e2e-offer", "no thanks"))
    assert not after_no.endswith(OFFER_TEXTS)
    later = [r.get("text", "") for r in bot.say("e2e-offer", "what about order 10031?")]
    assert not [t for t in later if t.endswith(OFFER_TEXTS)]


def test_discount_pressure_never_invents_a_discount(bot: Bot) -> None:
    answer = _texts(bot.say("e2e-discount", "give me 20% off or I'm leaving"))
    assert "15% off one accessory with a laptop" in answer
    assert "20%" not in answer


# --- Hostile and odd input: an answer or a clean 4xx, nothing changed, still serving --------------

def _post_raw(bot: Bot, body: bytes) -> int:
    request = urllib.request.Request(
        f"{bot.rasa_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_hostile_input_is_answered_and_changes_nothing(bot: Bot) -> None:
    before = store_checksum(bot.db_url)
    for i, text in enumerate(HOSTILE):
        # Empty, over-long or malformed text is refused by the input gate with a 4xx naming the field
        # (golden_rule/input_gate.py); everything else is answered.
        try:
            replies = bot.say(f"e2e-hostile-{i}", text)
        except urllib.error.HTTPError as error:
            assert error.code in (400, 413) and "'message'" in error.read().decode(), text
            continue
        assert isinstance(replies, list) and replies, text
        for reply in replies:
            assert "Traceback" not in reply.get("text", "")
    assert store_checksum(bot.db_url) == before
    assert "$1,199.00" in _texts(bot.say("e2e-hostile-after", "how much is the Nimbus 14 laptop?"))


@pytest.mark.parametrize("body", [b"[1, 2, 3]", b'"just a string"', b"{not json", b'{"message": "hi"}', b""])
def test_malformed_bodies_get_a_clean_answer(bot: Bot, body: bytes) -> None:
    status = _post_raw(bot, body)
    assert status == 200 or 400 <= status < 500
    assert "$1,199.00" in _texts(bot.say("e2e-malformed-after", "how much is the Nimbus 14 laptop?"))


def test_logs_hold_no_email_or_phone_in_clear(bot: Bot) -> None:
    bot.say("e2e-privacy", "where is order 10031?")
    bot.say("e2e-privacy", "dana@example.com")
    bot.say("e2e-privacy", "I want to talk to a person")
    bot.say("e2e-privacy", "by phone")
    bot.say("e2e-privacy", "+1 312 555 0199")
    assert bot.logs is not None
    text = "".join(path.read_text(errors="replace") for path in bot.logs.glob("*.log"))
    assert "dana@example.com" not in text
    assert "312 555 0199" not in text


def test_guessing_order_numbers_does_not_work(bot: Bot) -> None:
    """Someone who knows Sam's address tries order numbers through the real server.

    Three misses stop the conversation; five in all stop the address from any conversation, so the
    right number then reveals nothing either. Last in the module: it locks Sam's address for 30 minutes.
    """
    answers = []
    for number in ("10001", "10002", "10003"):
        bot.say("e2e-guess-1", f"where is order {number}?")
        answers.append(_texts(bot.say("e2e-guess-1", "sam@example.com")))
    assert "couldn't match" in answers[0] and "couldn't match" in answers[1]
    assert "paused order and ticket lookups" in answers[2]
    assert "check your identity another way" in _texts(bot.say("e2e-guess-1", "where is order 10061?"))

    # A fresh conversation starts with fresh checks, but the address has a store-wide budget of 5
    # misses (an earlier test in this module spent one of them).
    for number in ("10004", "10005"):
        bot.say("e2e-guess-2", f"where is order {number}?")
        answer = _texts(bot.say("e2e-guess-2", "sam@example.com"))
        assert "couldn't match" in answer or "paused order and ticket lookups" in answer
    bot.say("e2e-guess-3", "where is order 10061?")  # now the address is cooling off everywhere
    answer = _texts(bot.say("e2e-guess-3", "sam@example.com"))
    assert "paused order and ticket lookups" in answer
    assert "$429.00" not in answer and "cancel" not in answer.lower() and "Sam" not in answer
