"""`make soak`: a steady stream of customers for ``--minutes`` (default 10); memory of both servers over time.

What one run does (everything on loopback, in a temporary folder, every wait bounded):
1. if ``results/load.json`` is missing (or with ``--load``), run the 50 × 20 mix first (``bench/mix.py``,
   its own servers), so the doc always carries load figures;
2. start the action server and the rasa server as ``make run`` configures them (``BotServers`` with the
   production ``endpoints.yml``: SQL tracker store, event broker; the production reply budget of 8 s);
3. warm up: each conversation script of the mix once, all at once;
4. for ``--minutes``, send ``--rate`` messages per second: a new message every 1/rate seconds to the
   conversation that has been idle longest (a conversation sends its next message only after the reply to
   the previous one, so replies are checked as in the mix); a conversation that has had its 20 turns is
   replaced by a new customer (new sender id, next script of the mix);
5. every ``--sample-every`` seconds, the resident memory (VmRSS from /proc/<pid>/status) of each server
   process and its children;
6. drain, check both servers still answer, audit the tickets (one per handoff conversation that got that
   far, no duplicates), stop the servers; write ``results/soak.json``, ``docs/soak.png`` and the
   "Load and soak" section of ``docs/benchmarks.md`` (with the newest 50 × 20 figures), keeping the
   figures it shows in ``bench/load_soak_last_run.json``.

``--render-only`` rewrites the section from the saved results. Nothing here asserts a speed or a size:
the figures are for people (house rule).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import load, mix, report

ROOT = report.PROJECT_ROOT
DOC = report.DOC
PNG = ROOT / "docs" / "soak.png"
RESULTS = ROOT / "results" / "soak.json"
LAST_RUN = ROOT / "bench" / "load_soak_last_run.json"  # the figures the doc shows, kept in git
SECTION = "load-soak"
DEFAULT_MINUTES = 10.0
DEFAULT_RATE = 3.0
DEFAULT_SAMPLE_EVERY_S = 5.0
POOL = 12  # conversations open at once; at 3 msg/s each customer pauses about 4 s between messages


# --- Memory of a process tree, from /proc ---------------------------------------------------------

def children_of(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from the parent ids in /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_kb(pid: int) -> int:
    """VmRSS of one process in kB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children, in MB."""
    return sum(rss_kb(p) for p in [pid, *children_of(pid)]) / 1024


# --- The steady stream ------------------------------------------------------------------------------

@dataclass
class Customer:
    """One open conversation of the soak: its script and how far it has got."""

    sender: str
    script: str
    position: int = 0
    busy: bool = False
    idle_since: float = field(default_factory=time.monotonic)


@dataclass
class Soak:
    """Everything one soak run records."""

    turns: list[mix.TurnResult] = field(default_factory=list)
    senders: dict[str, str] = field(default_factory=dict)
    samples: list[dict[str, float]] = field(default_factory=list)  # t (s from soak start), rasa_mb, actions_mb
    skipped_ticks: int = 0  # a tick with every open conversation still waiting for its reply
    seconds: float = 0.0


class Stream:
    """Sends ``rate`` messages per second across a pool of conversations (see the module docstring)."""

    def __init__(self, url: str, soak: Soak, label: str) -> None:
        self.url = f"{url}/webhooks/rest/webhook"
        self.soak = soak
        self.label = label
        self.started = 0
        self.pool: list[Customer] = []
        self.tasks: set[asyncio.Task] = set()

    def new_customer(self) -> Customer:
        script = mix.MIX[self.started % len(mix.MIX)]
        sender = f"{self.label}-{self.started:05d}-{script}"
        self.started += 1
        self.soak.senders[sender] = script
        return Customer(sender, script)

    async def turn(self, session: aiohttp.ClientSession, customer: Customer, t0: float) -> None:
        steps = mix.SCRIPTS[customer.script][1]
        step = steps[customer.position]
        bot = load.BotTarget("ours", self.url, steps, [])
        sent_at = time.monotonic() - t0
        sample = await load.send(session, bot, customer.sender, step)
        self.soak.turns.append(mix.TurnResult(customer.sender, customer.script, customer.position, step.text,
                                              step.kind, sample.seconds, mix.check(step, sample),
                                              load.reply_text(sample.replies), sent_at))
        customer.position += 1
        customer.busy = False
        customer.idle_since = time.monotonic()

    async def run(self, seconds: float, rate: float, t0: float) -> None:
        """Tick every 1/rate seconds until ``seconds`` have passed, then wait for the replies in flight."""
        self.pool = [self.new_customer() for _ in range(POOL)]
        timeout = aiohttp.ClientTimeout(total=mix.REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
            tick = 0
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                for index, customer in enumerate(self.pool):  # finished conversations make way for new ones
                    if not customer.busy and customer.position >= mix.TURNS:
                        self.pool[index] = self.new_customer()
                idle = [c for c in self.pool if not c.busy]
                if idle:
                    customer = min(idle, key=lambda c: c.idle_since)
                    customer.busy = True
                    task = asyncio.ensure_future(self.turn(session, customer, t0))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                else:
                    self.soak.skipped_ticks += 1
                tick += 1
                await asyncio.sleep(max(0.0, start + tick / rate - time.monotonic()))
            if self.tasks:
                await asyncio.wait(set(self.tasks), timeout=mix.REQUEST_TIMEOUT_S + 5)


async def sample_memory(pids: dict[str, int], soak: Soak, every: float, t0: float, stop: asyncio.Event) -> None:
    """Every ``every`` seconds until ``stop``: the RSS of each server's process tree."""
    while True:
        sample = {"t": time.monotonic() - t0, **{f"{name}_mb": tree_rss_mb(pid) for name, pid in pids.items()}}
        soak.samples.append(sample)
        if len(soak.samples) > 1 and int(sample["t"] // 60) > int(soak.samples[-2]["t"] // 60):
            print(f"soak: {sample['t'] / 60:.0f} min: {len(soak.turns)} messages, "
                  f"{sum(1 for t in soak.turns if t.problem)} errors; RSS rasa {sample['rasa_mb']:.0f} MB, "
                  f"actions {sample['actions_mb']:.0f} MB", flush=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
            return
        except asyncio.TimeoutError:
            continue


async def warm_up(url: str) -> list[mix.TurnResult]:
    """Each script of the mix once, all at once (every code path loaded before memory is measured)."""
    senders = mix.plan(len(mix.MIX), label="soak-warmup")
    return (await mix.run_mix(url, senders)).turns


# --- Figures -----------------------------------------------------------------------------------------

def slope_mb_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mean_t) * (m - mean_m) for t, m in points) / var * 60


def memory_figures(samples: list[dict[str, float]], name: str) -> dict[str, float | None]:
    """Start (first sample after warm-up), end, max and the slope over the second half of the run."""
    values = [(s["t"], s[f"{name}_mb"]) for s in samples if s.get(f"{name}_mb")]
    if not values:
        return {"start_mb": None, "end_mb": None, "max_mb": None, "slope_mb_per_min": None}
    half = values[-1][0] / 2
    return {
        "start_mb": values[0][1],
        "end_mb": values[-1][1],
        "max_mb": max(m for _, m in values),
        "slope_mb_per_min": slope_mb_per_min([(t, m) for t, m in values if t >= half]),
        "second_half_from_s": half,
    }


def soak_figures(soak: Soak, warm: list[mix.TurnResult], tickets: dict[str, Any], serving: bool,
                 minutes: float, rate: float, every: float, machine: dict[str, Any]) -> dict[str, Any]:
    """What the doc shows, from one run (``machine`` as it was before the servers started)."""
    failures = [t for t in soak.turns if t.problem]
    return {
        "machine": machine,
        "load_average_end": list(os.getloadavg()),
        "minutes": minutes,
        "rate": rate,
        "pool": POOL,
        "sample_every_s": every,
        "seconds": soak.seconds,
        "messages": len(soak.turns),
        "achieved_rate": len(soak.turns) / soak.seconds if soak.seconds else 0.0,
        "skipped_ticks": soak.skipped_ticks,
        "conversations": len(soak.senders),
        "conversations_finished": len({t.sender for t in soak.turns if t.index == mix.TURNS - 1}),
        "errors": len(failures),
        "error_kinds": {kind: sum(1 for t in failures if (t.problem or "").startswith(kind))
                        for kind in sorted({(t.problem or "").split(" (")[0] for t in failures})},
        "first_failures": [mix.describe(t) for t in failures[:10]],
        "warmup_errors": sum(1 for t in warm if t.problem),
        **mix.latency_figures([t.seconds for t in soak.turns]),
        "over_production_budget": sum(1 for t in soak.turns if t.seconds > mix.PRODUCTION_REPLY_BUDGET_S),
        "tickets": tickets,
        "still_serving": serving,
        "memory": {name: memory_figures(soak.samples, name) for name in ("rasa", "actions")},
        "samples": soak.samples,
        "latency_windows": latency_windows(soak),
    }


def latency_windows(soak: Soak, window: float = 30.0) -> list[dict[str, float]]:
    """Messages per second and p95 latency per ``window`` seconds of the run (by send time)."""
    buckets: dict[int, list[float]] = {}
    for turn in soak.turns:
        buckets.setdefault(int(turn.sent_at // window), []).append(turn.seconds * 1000)
    end = soak.seconds or max(turn.sent_at for turn in soak.turns) if soak.turns else 0.0
    return [{"t": (b + 0.5) * window, "rate": len(v) / max(1.0, min(window, end - b * window)),
             "p95_ms": report.percentile(v, 95)} for b, v in sorted(buckets.items())]


# --- The plot and the doc ------------------------------------------------------------------------------

def plot(figures: dict[str, Any], path: Path = PNG) -> None:
    """RSS of each server over the run (own scale, fitted line over the second half); below, msg/s and p95."""
    import warnings

    with warnings.catch_warnings():  # matplotlib 3.5 calls pyparsing names that newer pyparsing deprecates
        warnings.simplefilter("ignore")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

    samples = figures["samples"]
    minutes = [s["t"] / 60 for s in samples]
    fig = plt.figure(figsize=(10, 7))
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 2])
    servers = (("rasa", "rasa server", "#1f6feb"), ("actions", "action server", "#d9822b"))
    for column, (name, label, colour) in enumerate(servers):
        axis = fig.add_subplot(grid[0, column])
        values = [s[f"{name}_mb"] for s in samples]
        axis.plot(minutes, values, color=colour, label=f"{label} RSS")
        memory = figures["memory"][name]
        half, slope = memory.get("second_half_from_s"), memory.get("slope_mb_per_min")
        if half is not None and slope is not None:
            tail = [(t, v) for t, v in zip(minutes, values, strict=True) if t * 60 >= half]
            mean_t = sum(t for t, _ in tail) / len(tail)
            mean_v = sum(v for _, v in tail) / len(tail)
            ends = [tail[0][0], tail[-1][0]]
            axis.plot(ends, [mean_v + slope * (t - mean_t) for t in ends], "--", color="#333333",
                      label=f"fit, second half: {slope:+.2f} MB/min")
            axis.axvspan(half / 60, minutes[-1], color="#eeeeee", zorder=0)
        # A scale of at least ±5% around the mean, so sampling noise does not look like a trend.
        middle = sum(values) / len(values)
        span = max(max(values) - min(values), 0.1 * middle)
        axis.set_ylim(middle - span, middle + span)
        axis.set_title(label)
        axis.set_ylabel("resident memory (MB)")
        axis.set_xlabel("minutes since the warm-up ended")
        axis.grid(True, alpha=0.3)
        axis.legend(loc="lower right", fontsize=8)
    bottom = fig.add_subplot(grid[1, :])
    windows = figures["latency_windows"]
    if windows:
        t = [w["t"] / 60 for w in windows]
        bottom.plot(t, [w["p95_ms"] for w in windows], "o-", color="#6e40c9", markersize=3, label="p95 latency")
        bottom.set_ylabel("p95 latency per 30 s (ms)")
        bottom.set_ylim(bottom=0, top=max(w["p95_ms"] for w in windows) * 1.3)
        rate_axis = bottom.twinx()
        rate_axis.plot(t, [w["rate"] for w in windows], color="#9a9a9a", linewidth=1, label="messages/s")
        rate_axis.set_ylabel("messages/s")
        rate_axis.set_ylim(0, max(w["rate"] for w in windows) * 1.5)
        bottom.legend(loc="lower left", fontsize=8)
        rate_axis.legend(loc="lower right", fontsize=8)
    bottom.set_xlabel("minutes since the warm-up ended")
    bottom.grid(True, alpha=0.3)
    fig.suptitle(f"Soak: {figures['minutes']:g} min at {figures['rate']:g} msg/s over REST, "
                 f"{figures['messages']} messages, {figures['errors']} errors ({figures['machine']['date']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MB"


def _slope(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:+.2f} MB/min"


def _tickets(tickets: dict[str, Any]) -> str:
    if not tickets:
        return "—"
    duplicates = tickets.get("duplicate_references") or []
    text = (f"{tickets['new_tickets']} new for {tickets['handoff_conversations']} handoff conversations, "
            f"{len(duplicates)} duplicate references")
    return text + (f", **{len(tickets['problems'])} problems**" if tickets.get("problems") else "")


def _kinds(scripts: dict[str, int]) -> str:
    counts = {kind: 0 for kind in ("service", "sales", "handoff")}
    for script, n in scripts.items():
        counts[mix.SCRIPTS[script][0]] += n
    return " / ".join(str(counts[k]) for k in ("service", "sales", "handoff"))


def _failures(figures: dict[str, Any]) -> list[str]:
    if not figures.get("first_failures"):
        return []
    return ["First failing turns:", "", *[f"- `{line}`" for line in figures["first_failures"]], ""]


def _pacing(think: float) -> str:
    if not think:
        return ("each customer sends the next message the moment the reply arrives (no think time), so turn *k* "
                "of every conversation lands at about the same time and each turn queues behind the others: with "
                "one rasa server on 2 cores the mean latency is about conversations ÷ throughput (Little's law), "
                "so these latencies measure the queue as much as the bot.")
    return (f"each customer pauses {think:g} s on average (0.5–1.5×) between a reply and the next message, so "
            "the mean latency is about conversations ÷ throughput − pause (Little's law) when the servers are "
            "saturated.")


def _budget_sentence(budget: float) -> str:
    production = mix.PRODUCTION_REPLY_BUDGET_S
    if budget == production:
        return (f", with the production reply budget of {production:g} s: a turn past it gets the never-silent "
                "guard's apology and counts as an error.")
    return (f", except the reply budget: {budget:g} s instead of {production:g} s, so that a slow machine shows "
            "up as latency here rather than as a failed test (house rule: no speed in pass/fail). *Turns over "
            f"{production:g} s* counts the customers who, with the production budget, would have had the "
            "guard's apology instead of their answer (on REST the late answer is then not delivered).")


def load_part(figures: dict[str, Any] | None) -> list[str]:
    """The 50 × 20 mix: figures of its last run."""
    lines = ["### 50 concurrent conversations × 20 turns over REST", ""]
    if not figures:
        return [*lines, "_Not run yet: `make load`, or the e2e step of `make test` (tests/test_load_e2e.py)._", ""]
    budget = figures.get("reply_budget_s", mix.PRODUCTION_REPLY_BUDGET_S)
    lines += [
        report.machine_line(figures["machine"]) + f" From: {figures.get('source', '?')}, "
        f"{figures['wall_seconds']:.0f} s of traffic.",
        "",
        report.table(
            ["conversations × turns", "service / sales / handoff", "think time", "p50 ms", "p95 ms", "p99 ms",
             "max ms", "turns/s", "CPU ms/turn", "errors", f"turns over {mix.PRODUCTION_REPLY_BUDGET_S:g} s",
             "tickets in the store"],
            [[f"{figures['conversations']} × {figures['turns_per_conversation']}", _kinds(figures["scripts"]),
              f"{figures['think_seconds']:g} s", f"**{report.fmt(figures['p50_ms'])}**",
              f"**{report.fmt(figures['p95_ms'])}**", report.fmt(figures["p99_ms"]), report.fmt(figures["max_ms"]),
              report.fmt(figures["throughput"]), report.fmt(figures.get("cpu_ms_per_turn")),
              f"**{figures['errors']}**", figures.get("over_production_budget", "—"), _tickets(figures["tickets"])]]),
        "",
        "By kind of conversation: " + "; ".join(
            f"{kind} p50 {report.fmt(v['p50_ms'])} ms, p95 {report.fmt(v['p95_ms'])} ms"
            for kind, v in figures["by_conversation_kind"].items()) + ".",
        "",
        "How: all conversations start at once and " + _pacing(figures["think_seconds"])
        + " Each conversation keeps one script (sender ids are unique); the six scripts cycle "
        "(a returning customer's late order, a return, troubleshooting and policies; a new customer's order "
        "status and cancellation; two shopping conversations; a person asked for with a reply in the chat or "
        "by email). An *error* is an HTTP status other than 200, a timeout (60 s), an empty reply, the "
        "never-silent guard's apology, or a reply without what the store says it must contain (prices, stock, "
        "restock date, carrier and estimate, `RMA-`, `BD-` references). Tickets are counted in the store after "
        "the run: exactly one per handoff conversation, under that conversation's id, with the reference the "
        "customer was told (and that a status question later names), and no duplicate reference. Servers as "
        "`make run` configures them (SQL tracker store on SQLite, `credentials.yml`)"
        + _budget_sentence(budget),
        "",
    ]
    lines += _failures(figures)
    lines += ["<details><summary>The six conversation scripts (20 messages each)</summary>", ""]
    for name in mix.MIX:
        kind, steps = mix.SCRIPTS[name]
        lines.append(f"- **{name}** ({kind}): " + " → ".join(f"*{step.text}*" for step in steps))
    lines += ["", "</details>", ""]
    return lines


def _whole_run(memory: dict[str, dict[str, Any]]) -> str:
    parts = []
    for name, label in (("rasa", "rasa server"), ("actions", "action server")):
        m = memory[name]
        if m.get("start_mb") is None:
            continue
        change = m["end_mb"] - m["start_mb"]
        text = f"{label} {change:+.1f} MB ({change / m['start_mb']:+.1%})"
        if m.get("slope_mb_per_min") is not None:
            text += f", {m['slope_mb_per_min'] * 60:+.0f} MB per hour at the second half's fitted rate"
        parts.append(text)
    return "Whole run, end minus start: " + "; ".join(parts) + "." if parts else ""


def soak_part(figures: dict[str, Any] | None) -> list[str]:
    """The soak: memory over time and the stream's figures."""
    if not figures:
        return ["### Soak", "", "_Not run yet: `make soak` (10 minutes; `make soak ARGS=\"--minutes 1\"` for a "
                "quick check)._", ""]
    memory = figures["memory"]
    before = figures["machine"].get("load_average")
    after = figures.get("load_average_end")
    load_text = ""
    if before and after:
        load_text = (f" Load average (1/5/15 min) before the servers started {before[0]:.1f}/{before[1]:.1f}/"
                     f"{before[2]:.1f}, at the end {after[0]:.1f}/{after[1]:.1f}/{after[2]:.1f}.")
    if figures.get("cpu_ms_per_msg"):
        load_text += (f" The two servers used {figures['cpu_ms_per_msg']:.0f} CPU ms per message, about "
                      f"{figures['achieved_rate'] * figures['cpu_ms_per_msg'] / 1000:.2f} of a core at this rate;"
                      " the rest of the load average is other work on the machine (this script's own client included).")
    rows = []
    for name, label in (("rasa", "rasa server"), ("actions", "action server")):
        m = memory[name]
        growth = ""
        if m.get("slope_mb_per_min") is not None and m.get("start_mb"):
            half_minutes = (figures["seconds"] - m.get("second_half_from_s", 0)) / 60
            change = m["slope_mb_per_min"] * half_minutes
            growth = f"{change:+.1f} MB ({change / m['start_mb']:+.1%})"
        rows.append([label, _mb(m["start_mb"]), _mb(m["end_mb"]), _mb(m["max_mb"]),
                     f"**{_slope(m['slope_mb_per_min'])}**", growth])
    lines = [
        f"### Soak: {figures['minutes']:g} minute{'' if figures['minutes'] == 1 else 's'} at "
        f"{figures['rate']:g} messages/s",
        "",
        report.machine_line(figures["machine"]) + load_text,
        "",
        report.table(["server (process and children)", "RSS after warm-up", "RSS at the end", "max",
                      "slope, second half", "fitted change over the second half"], rows),
        "",
        _whole_run(memory),
        "",
        "![RSS of both servers during the soak](soak.png)",
        "",
        report.table(
            ["messages", "achieved msg/s", "conversations started / finished", "p50 ms", "p95 ms", "p99 ms",
             "max ms", "errors", f"turns over {mix.PRODUCTION_REPLY_BUDGET_S:g} s", "tickets in the store",
             "both servers answer afterwards"],
            [[figures["messages"], report.fmt(figures["achieved_rate"], 2),
              f"{figures['conversations']} / {figures['conversations_finished']}", report.fmt(figures["p50_ms"]),
              f"**{report.fmt(figures['p95_ms'])}**", report.fmt(figures["p99_ms"]), report.fmt(figures["max_ms"]),
              f"**{figures['errors']}**", figures["over_production_budget"], _tickets(figures["tickets"]),
              "yes" if figures["still_serving"] else "**no**"]]),
        "",
        f"How: the servers run exactly as `make run` configures them (production `endpoints.yml`: SQL tracker "
        f"store on SQLite, the event broker; reply budget {mix.PRODUCTION_REPLY_BUDGET_S:g} s), with a freshly "
        "seeded store. After a warm-up (each of the six scripts once, at once), a message goes out every "
        f"{1 / figures['rate']:.2f} s to whichever of {figures['pool']} open conversations has waited longest "
        "for its customer's next message (a conversation never has two messages in flight); a conversation that "
        "has had its 20 turns is replaced by a new customer with a new sender id, so the tracker store keeps "
        "growing as in production. Every reply is checked as in the load test. Resident memory (VmRSS from "
        f"`/proc/<pid>/status`) of each server process and its children is sampled every "
        f"{figures['sample_every_s']:g} s; the slope is a least-squares fit over the second half of the run, "
        "after start-up effects (model and caches warming, first allocations) have settled.",
        "",
    ]
    if figures.get("skipped_ticks"):
        lines += [f"{figures['skipped_ticks']} ticks found every open conversation still waiting for a reply "
                  "(no message sent on those ticks).", ""]
    lines += _failures(figures)
    return lines


def section(load_figures: dict[str, Any] | None, soak_figures_: dict[str, Any] | None) -> str:
    """The whole "Load and soak" section."""
    lines = [
        "## Load and soak",
        "",
        "Generated by `make soak` (`bench/soak.py`) and `make load` (`bench/mix.py`) between the `load-soak` "
        "markers. The load figures are those of the last 50 × 20 run (`results/load.json`, written by "
        "`tests/test_load_e2e.py` in the e2e step of `make test` and by `make load`); that test fails on any "
        "error or any lost, duplicated or misfiled ticket, never on a time.",
        "",
    ]
    lines += load_part(load_figures)
    lines += soak_part(soak_figures_)
    return "\n".join(lines)


def latest(load_path: Path = mix.RESULTS, soak_path: Path = RESULTS, kept_path: Path = LAST_RUN) -> dict[str, Any]:
    """The newest load and soak figures: ``results/`` (not in git) where newer than those kept in git."""
    kept = report.load_results(kept_path) or {}
    for key, path in (("load", load_path), ("soak", soak_path)):
        fresh = report.load_results(path)
        if fresh and (not kept.get(key) or fresh["machine"]["date"] >= kept[key]["machine"]["date"]):
            kept[key] = fresh
    return kept


def write_doc(doc: Path = DOC, load_path: Path = mix.RESULTS, soak_path: Path = RESULTS,
              kept_path: Path = LAST_RUN) -> dict[str, Any]:
    """Rewrite the text between ``<!-- BEGIN load-soak -->`` and ``<!-- END load-soak -->`` (appended if new).

    The figures shown are also kept in ``bench/load_soak_last_run.json`` (like ``bench/last_run.json``), so
    a later ``make load`` or ``make soak`` on a fresh checkout keeps the other half's figures. The other
    sections of the doc (``bench/report.py``'s targets, bench and eval) are left as they are.
    """
    figures = latest(load_path, soak_path, kept_path)
    if figures:
        report.save_results(kept_path, figures)
    body = section(figures.get("load"), figures.get("soak"))
    text = doc.read_text() if doc.exists() else report.DOC_TEMPLATE
    begin, end = f"<!-- BEGIN {SECTION} -->", f"<!-- END {SECTION} -->"
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    pattern = re.compile(rf"({re.escape(begin)}\n).*?({re.escape(end)})", re.DOTALL)
    text = pattern.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(2), text, count=1)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    return figures


# --- The run ---------------------------------------------------------------------------------------------

def run(minutes: float, rate: float, every: float) -> dict[str, Any]:
    """Start the servers, warm up, stream, audit, stop; the figures."""
    from bench.servers import cpu_seconds

    machine = report.machine()
    with tempfile.TemporaryDirectory(prefix="gr-soak-") as tmp:
        servers = mix.load_servers(Path(tmp), mix.PRODUCTION_REPLY_BUDGET_S)
        try:
            servers.start()
            print(f"soak: servers up (rasa pid {servers.rasa.pid}, actions pid {servers.actions.pid}); warm-up",
                  flush=True)
            warm = asyncio.run(warm_up(servers.rasa_url))
            before = mix.ticket_rows(servers.db_url)
            pids = [servers.rasa.pid, servers.actions.pid]
            cpu_before = cpu_seconds(pids)
            print(f"soak: {minutes:g} min at {rate:g} msg/s", flush=True)
            soak = asyncio.run(steady(servers, minutes, rate, every))
            cpu = cpu_seconds(pids) - cpu_before
            serving = mix.still_serving(servers)
            senders = {s: script for s, script in soak.senders.items()
                       if mix.SCRIPTS[script][0] != "handoff"
                       or any(t.sender == s and t.kind == "handoff: ticket stored" for t in soak.turns)}
            result = mix.MixResult(soak.turns, soak.seconds, senders)
            tickets = mix.ticket_audit(result, before, mix.ticket_rows(servers.db_url))
        finally:
            servers.close()
    figures = soak_figures(soak, warm, tickets, serving, minutes, rate, every, machine)
    figures["cpu_ms_per_msg"] = cpu * 1000 / len(soak.turns) if soak.turns else None
    return figures


async def steady(servers: Any, minutes: float, rate: float, every: float) -> Soak:
    """The sampled steady stream (after the warm-up)."""
    soak = Soak()
    pids = {"rasa": servers.rasa.pid, "actions": servers.actions.pid}
    stop = asyncio.Event()
    t0 = time.monotonic()
    sampler = asyncio.ensure_future(sample_memory(pids, soak, every, t0, stop))
    stream = Stream(servers.rasa_url, soak, f"soak-{os.getpid()}-{int(time.time())}")
    await stream.run(minutes * 60, rate, t0)
    soak.seconds = time.monotonic() - t0
    stop.set()
    await sampler
    return soak


def main(argv: list[str] | None = None) -> int:
    """Run the soak (and the load mix first if it has no results yet); write the results and the doc."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES, help="length of the steady stream")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="messages per second")
    parser.add_argument("--sample-every", type=float, default=DEFAULT_SAMPLE_EVERY_S,
                        help="seconds between RSS samples")
    parser.add_argument("--load", action="store_true", help="run the 50 × 20 mix first even if it has results")
    parser.add_argument("--no-load", action="store_true", help="never run the 50 × 20 mix")
    parser.add_argument("--render-only", action="store_true", help="rewrite the doc (and plot) from saved results")
    parser.add_argument("--doc", type=Path, default=DOC, help="markdown file to update")
    args = parser.parse_args(argv)
    if args.render_only:
        figures = write_doc(args.doc)
        if figures.get("soak"):
            plot(figures["soak"])
        return 0
    if args.load or (not args.no_load and not mix.RESULTS.exists()):
        print("soak: no 50 × 20 load figures yet (or --load): running the mix first", flush=True)
        mix.main(["--no-doc"])
    figures = run(args.minutes, args.rate, args.sample_every)
    mix.save(figures, RESULTS)
    plot(figures)
    write_doc(args.doc)
    for name in ("rasa", "actions"):
        m = figures["memory"][name]
        print(f"soak: {name}: RSS {_mb(m['start_mb'])} after warm-up, {_mb(m['end_mb'])} at the end, max "
              f"{_mb(m['max_mb'])}, second-half slope {_slope(m['slope_mb_per_min'])}", flush=True)
    print(f"soak: {figures['messages']} messages ({figures['achieved_rate']:.2f}/s), {figures['errors']} errors, "
          f"p50 {report.fmt(figures['p50_ms'])} ms, p95 {report.fmt(figures['p95_ms'])} ms, max "
          f"{report.fmt(figures['max_ms'])} ms; tickets: {_tickets(figures['tickets'])}; "
          f"still serving: {figures['still_serving']}", flush=True)
    for line in figures["first_failures"]:
        print(f"soak: FAILED {line}", flush=True)
    tickets = figures["tickets"]
    ok = (not figures["errors"] and figures["still_serving"] and not tickets.get("problems")
          and not tickets.get("duplicate_references"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
