"""Load over REST: 50 customers at once, 20 turns each, service, sales and handoff mixed.

The real action server and rasa server (``bench.mix.load_servers``: ``BotServers`` with the production
``endpoints.yml``, a freshly seeded SQLite store in a temporary folder) and the mix of ``bench/mix.py``:
every conversation starts at once and each customer sends the next message as soon as the reply arrives.
Every turn must come back 200, non-empty and with what the store says (prices, stock, restock dates,
order details, ``RMA-``/``BD-`` references); every handoff conversation must leave exactly one ticket in
the store, under its own conversation id, with the reference its customer was told; no reference twice;
both servers still serving afterwards.

Speed is never asserted (house rule): the figures (p50/p95/p99/max, throughput, CPU per turn, turns that
took longer than the production reply budget) go to ``results/load.json`` and are printed; ``make soak``
and ``make load`` put them in docs/benchmarks.md. The rasa server runs with the reply budget at the
request timeout (see ``bench.mix.LOAD_REPLY_BUDGET_S``) so a busy machine shows up as latency, not as the
never-silent guard's apology in place of an answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import mix

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(900)  # server start-up plus about 1,000 turns on a shared 2-core machine
def test_fifty_concurrent_conversations_answer_right_and_keep_every_ticket(tmp_path: Path) -> None:
    servers = mix.load_servers(tmp_path)
    try:
        servers.start()
        figures = mix.run_phase(servers, conversations=50, turns=20)
        serving = mix.still_serving(servers)
    finally:
        servers.close()
    figures["source"] = "tests/test_load_e2e.py"
    figures["still_serving"] = serving
    mix.save(figures)
    mix.print_figures(figures)

    assert figures["conversations"] == 50 and figures["turns"] == 50 * 20
    assert sorted(figures["by_conversation_kind"]) == ["handoff", "sales", "service"]
    assert figures["errors"] == 0, (
        f"{figures['errors']} of {figures['turns']} turns failed ({figures['error_kinds']}); first ones:\n"
        + "\n".join(figures["first_failures"])
    )
    tickets = figures["tickets"]
    assert tickets["handoff_conversations"] == 16
    assert tickets["new_tickets"] == tickets["handoff_conversations"], tickets
    assert tickets["duplicate_references"] == [], tickets
    assert tickets["problems"] == [], "\n".join(tickets["problems"])
    assert serving, "a server stopped answering after the load; see its log in " + str(tmp_path)
