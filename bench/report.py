"""Shared pieces of the benchmark and evaluation harnesses: the machine, statistics, the doc.

``docs/benchmarks.md`` holds one section per harness between HTML comment markers
(``<!-- BEGIN bench -->`` … ``<!-- END bench -->``), so ``make bench`` and ``make eval`` each
rewrite only their own part. The targets table is rebuilt by both from the raw results each
harness leaves in JSON (``bench/last_run.json``, ``eval/last_run.json``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
import sqlite3
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOC = PROJECT_ROOT / "docs" / "benchmarks.md"
BENCH_RESULTS = PROJECT_ROOT / "bench" / "last_run.json"
EVAL_RESULTS = PROJECT_ROOT / "eval" / "last_run.json"
SECTIONS = ("targets", "bench", "eval")

DOC_TEMPLATE = """# Benchmarks and evaluation

How fast Golden Rule answers beside the stock `rasa init` bot, how the store scales with the
catalog, and how well it understands customers. Everything between the `BEGIN`/`END` markers is
generated: `make bench` (`bench/run.py`) rewrites the speed and store sections, `make eval`
(`eval/run.py`) the understanding section, and both rebuild the targets table from the raw figures
they keep in `bench/last_run.json` and `eval/last_run.json`. Tests never assert times; these
figures are for people.

Figures are taken on a **shared 2-core machine** while other engineers train models and run tests,
so absolute times vary from run to run (the load average at the start of each run is recorded);
the A/B interleaving makes the *ratios* steadier than the absolute numbers, and CPU ms per message
is less sensitive to contention than wall time.

Options: `make bench ARGS="--quick --skip-train"` is a tiny run for development;
`ARGS="--head"` measures the committed code (`git archive HEAD`) and serves the model trained from
it in the same run, for when the working tree is in the middle of someone's edit;
`make eval ARGS="--head --model PATH"` evaluates such a model against the same commit's data and
test stories.

<!-- BEGIN targets -->
_Not run yet._
<!-- END targets -->

<!-- BEGIN bench -->
_`make bench` has not run yet._
<!-- END bench -->

<!-- BEGIN eval -->
_`make eval` has not run yet._
<!-- END eval -->
"""


def machine() -> dict[str, Any]:
    """Cores, memory, Python and library versions, for the record."""
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "rasa": version("rasa"),
        "rasa_sdk": version("rasa-sdk"),
        "sqlalchemy": version("SQLAlchemy"),
        "sqlite": sqlite3.sqlite_version,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def machine_line(info: dict[str, Any]) -> str:
    """One line of markdown describing where and when figures were taken."""
    load = info.get("load_average")
    load_text = f", load average at start {load[0]:.1f}" if load else ""
    return (
        f"Taken {info['date']} on a shared machine: {info['cores']} cores ({info['cpu']}), "
        f"{info['memory_gb']} GB RAM{load_text}; Python {info['python']}, rasa {info['rasa']}, "
        f"rasa-sdk {info['rasa_sdk']}, SQLAlchemy {info['sqlalchemy']}, SQLite {info['sqlite']}."
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for a table; an em dash for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, body: str, doc: Path = DOC) -> None:
    """Replace the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in ``doc``."""
    if name not in SECTIONS:
        raise ValueError(f"unknown section {name!r}")
    text = doc.read_text() if doc.exists() else DOC_TEMPLATE
    for section in SECTIONS:  # a doc edited by hand may have lost a marker pair
        if f"<!-- BEGIN {section} -->" not in text:
            text += f"\n<!-- BEGIN {section} -->\n<!-- END {section} -->\n"
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.DOTALL)
    text = pattern.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(2), text, count=1)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)


def save_results(path: Path, results: dict[str, Any]) -> None:
    """Keep a harness's raw figures so the other harness can rebuild the targets table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def load_results(path: Path) -> dict[str, Any] | None:
    """A harness's last raw figures, or None if it has not run."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else ("**met**" if met else "**missed**")


def _profile_gap(bench: dict[str, Any]) -> str:
    """The biggest per-message CPU difference ours − peer in the py-spy profile, as a phrase."""
    prof = bench.get("rest", {}).get("profile") or {}
    messages = prof.get("messages")
    if not messages or "skipped" in prof:
        return ""
    ours: dict[str, float] = {}
    for name in ("ours-rasa", "ours-actions"):
        for component, seconds in (prof.get(name) or {}).items():
            ours[component] = ours.get(component, 0.0) + seconds * 1000 / messages
    peer = {c: v * 1000 / messages for c, v in (prof.get("peer-rasa") or {}).items()}
    gaps = sorted(((ours.get(c, 0.0) - peer.get(c, 0.0), c) for c in set(ours) | set(peer)), reverse=True)
    total = sum(ours.values()) - sum(peer.values())
    if not gaps or total <= 0:
        return ""
    gap, component = gaps[0]
    return f"+{total:.0f} ms CPU/msg over the stock bot, {gap:.0f} ms of it in {component}"


def targets_section(bench: dict[str, Any] | None, evaluation: dict[str, Any] | None) -> str:
    """The targets table from whatever results exist (a harness that has not run shows as such)."""
    rows: list[list[str]] = []
    bench = bench or {}

    def add(target: str, measured: str, met: bool | None, source: str, why: str = "") -> None:
        rows.append([target, measured, _verdict(met), why if met is False else "", source])

    rest = bench.get("rest", {})
    phases = {p["name"]: p for p in rest.get("phases", [])}
    one, ten, fifty = phases.get("1x50"), phases.get("10x20"), phases.get("50x20")
    gap = _profile_gap(bench)
    target = "p50 latency at 1 sender ≤ 1.3× the stock bot's"
    if one:
        ratio = one["ours"]["p50_ms"] / one["peer"]["p50_ms"]
        add(target, f"{ratio:.2f}× ({fmt(one['ours']['p50_ms'])} ms vs {fmt(one['peer']['p50_ms'])} ms)",
            ratio <= 1.3, "bench", gap)
    else:
        add(target, "—", None, "bench")
    target = "throughput at 10 senders ≥ 0.8× the stock bot's"
    if ten:
        ratio = ten["ours"]["throughput"] / ten["peer"]["throughput"]
        why = (f"CPU-bound: {fmt(ten['ours']['cpu_ms_per_msg'])} vs {fmt(ten['peer']['cpu_ms_per_msg'])} CPU ms/msg "
               "on 2 cores; same cause")
        add(target, f"{ratio:.2f}× ({fmt(ten['ours']['throughput'])} vs {fmt(ten['peer']['throughput'])} msg/s)",
            ratio >= 0.8, "bench", why)
    else:
        add(target, "—", None, "bench")
    if fifty:
        errors = fifty["ours"]["errors"]
        add("zero errors at 50 senders", f"{errors} errors in {fifty['ours']['count']} messages", errors == 0, "bench",
            ", ".join(fifty["ours"]["error_kinds"]))
    else:
        add("zero errors at 50 senders", "—", None, "bench")
    store = bench.get("store", {}).get("sizes", [])
    largest = max(store, key=lambda s: s["products"]) if store else None
    target = "product search p95 < 10 ms at 100k products"
    if largest and largest["products"] >= 100_000:
        p95 = largest["search"]["p95_ms"]
        slowest = max(largest["search_per_query"].items(), key=lambda item: item[1]["p95_ms"])
        matches = slowest[1].get("fts_matches")
        why = (f"ranking every match before LIMIT: `{slowest[0]}` matches {matches:,} rows" if matches
               else f"`{slowest[0]}` is slowest")
        add(target, f"{p95:.1f} ms", p95 < 10, "bench", why)
    else:
        add(target, "—", None, "bench")
    training = bench.get("training", {})
    if training.get("ours"):
        seconds = training["ours"]["seconds"]
        peer = training.get("peer", {}).get("seconds")
        measured = f"{seconds:.0f} s" + (f" (stock bot {peer:.0f} s in the same run)" if peer else "")
        parts = training["ours"].get("components") or {}
        why = ", ".join(f"{c} {v:.0f} s" for c, v in sorted(parts.items(), key=lambda x: -x[1])[:2])
        add("training < 5 minutes on 2 cores", measured, seconds < 300, "bench", why)
    else:
        add("training < 5 minutes on 2 cores", "—", None, "bench")
    unseen = (evaluation or {}).get("unseen")
    target = "intent accuracy on unseen phrasings ≥ 0.93"
    if unseen and unseen.get("accuracy") is not None:
        accuracy = unseen["accuracy"]
        worst = sorted(((v["accuracy"], i) for i, v in unseen["per_intent"].items()
                        if v.get("in_model") and v.get("accuracy") is not None and v["accuracy"] < 1))[:3]
        why = "weakest: " + ", ".join(f"{i} {a:.2f}" for a, i in worst) if worst else ""
        add(target, f"{accuracy:.3f} ({unseen['correct']}/{unseen['total']}, intents in the model)",
            accuracy >= 0.93, "eval", why)
    else:
        add(target, "—", None, "eval")

    dates = []
    if bench:
        dates.append(f"bench {bench['machine']['date']}")
    if evaluation:
        dates.append(f"eval {evaluation['machine']['date']}")
    lines = [
        "## Targets",
        "",
        table(["target", "measured", "verdict", "where it goes (missed only)", "from"], rows),
        "",
        f"Last runs: {', '.join(dates) if dates else 'none'}. Each missed target is explained in its section "
        "below (profile, training breakdown, per-search costs, or the phrasings that fail).",
    ]
    return "\n".join(lines)


def refresh_targets(doc: Path = DOC, bench_results: Path = BENCH_RESULTS, eval_results: Path = EVAL_RESULTS) -> None:
    """Rebuild the targets table from the latest results of both harnesses."""
    write_section("targets", targets_section(load_results(bench_results), load_results(eval_results)), doc)
