"""`make bench`: Golden Rule beside the stock `rasa init` bot over REST, then store scale.

What one run does, in order (everything on loopback, in a temporary folder, every wait bounded):
1. copy ``models/golden-rule.tar.gz`` to the temp folder (one run, one model; retried if the file is
   being rewritten by a training run);
2. create the peer with ``rasa init --no-prompt`` in the temp folder, then time ``rasa train`` for the
   peer and for our project, each with a cold cache;
3. start the peer's rasa server, then our action server (with its own seeded SQLite store) and our rasa
   server, each timed from process start to ready;
4. one scripted conversation each (a transcript for the doc, also the warm-up), then the load phases:
   1 sender × 50 messages, 10 × 20 and 50 × 20, the two bots interleaved chunk by chunk;
5. a profiling pass with py-spy (1 sender, our servers and the peer's);
6. stop the servers; product search and order lookup on generated catalogs of growing size;
7. write ``bench/last_run.json``, the plots and the bench part of ``docs/benchmarks.md``.

``--quick`` does a tiny version of all of it for development.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import load, profile, report, store_scale
from bench.servers import Server, action_server, cpu_seconds, port_of, quiet_env, rasa_server, timed_run

ROOT = report.PROJECT_ROOT
MODEL = ROOT / "models" / "golden-rule.tar.gz"
PHASES = (("1x50", 1, 50), ("10x20", 10, 20), ("50x20", 50, 20))
QUICK_PHASES = (("1x50", 1, 6), ("10x20", 3, 4), ("50x20", 5, 4))
CHUNK = 5
QUICK_CHUNK = 2
SIZES = (1_000, 10_000, 100_000)
RASA = str(Path(sys.executable).with_name("rasa"))


def copy_model(source: Path, target: Path, attempts: int = 6) -> str:
    """Copy the trained model and check it is a whole archive; returns its sha256 prefix.

    Another engineer may be rewriting the file; a truncated copy fails to open and is retried.
    """
    for attempt in range(attempts):
        try:
            shutil.copyfile(source, target)
            with tarfile.open(target) as archive:
                archive.getmembers()
            return hashlib.sha256(target.read_bytes()).hexdigest()[:12]
        except (OSError, tarfile.TarError, EOFError) as exc:
            print(f"model copy attempt {attempt + 1} failed ({exc}); retrying", flush=True)
            time.sleep(10)
    raise RuntimeError(f"could not copy a complete {source}; run `make train`")


def snapshot_head(workdir: Path, revision: str = "HEAD") -> Path:
    """The committed code (``git archive HEAD``, or another revision) unpacked into the temp folder.

    For a shared working tree in the middle of someone's edit: the run then measures HEAD.
    """
    target = workdir / "head"
    target.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=ROOT, check=True,
                             capture_output=True, timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True, timeout=120)
    return target


_HOOK = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) .*training\.hooks\s+- "
                   r"(Starting to train|Finished training) component '([^']+)'")


def training_breakdown(log: Path) -> dict[str, float]:
    """Seconds per trained component, from the start/finish lines of a ``rasa train`` log (1 s resolution)."""
    spent: dict[str, float] = {}
    started: dict[str, dt.datetime] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = _HOOK.search(line)
        if not match:
            continue
        when = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
        component = match.group(3)
        if match.group(2).startswith("Starting"):
            started[component] = when
        elif component in started:
            spent[component] = spent.get(component, 0.0) + (when - started.pop(component)).total_seconds()
    return spent


def nlu_examples(data: Path) -> int:
    """How many NLU training examples a project's data folder holds (what DIET trains on)."""
    from rasa.shared.nlu.training_data.loading import load_data

    return len(load_data(str(data)).intent_examples)


def train(workdir: Path, skip: bool, source: Path = ROOT) -> tuple[dict[str, Any], Path]:
    """Create the peer and time both trainings; returns the timings and the peer's model."""
    peer_dir = workdir / "peer"
    peer_dir.mkdir()
    env = quiet_env(RASA_CACHE_DIRECTORY=str(workdir / "cache-init"))
    print("peer: rasa init --no-prompt", flush=True)
    init_seconds = timed_run([RASA, "init", "--no-prompt", "--init-dir", str(peer_dir)], workdir, env,
                             workdir / "peer-init.log")
    timings: dict[str, Any] = {"peer_init_seconds": init_seconds}
    if skip:
        return timings, next((peer_dir / "models").glob("*.tar.gz"))
    print("peer: rasa train (cold cache)", flush=True)
    seconds = timed_run(
        [RASA, "train", "--out", str(workdir / "peer-models"), "--fixed-model-name", "peer", "--force"],
        peer_dir, quiet_env(RASA_CACHE_DIRECTORY=str(workdir / "cache-peer")), workdir / "peer-train.log",
    )
    timings["peer"] = {"seconds": seconds, "components": training_breakdown(workdir / "peer-train.log"),
                       "nlu_examples": nlu_examples(peer_dir / "data" / "nlu.yml")}
    print(f"peer trained in {seconds:.0f} s; ours: rasa train (cold cache)", flush=True)
    seconds = timed_run(
        [RASA, "train", "--config", "config.yml", "--domain", "domain.yml", "--data", "data",
         "--out", str(workdir / "ours-models"), "--fixed-model-name", "golden-rule-bench", "--force"],
        source, quiet_env(RASA_CACHE_DIRECTORY=str(workdir / "cache-ours")), workdir / "ours-train.log",
    )
    timings["ours"] = {"seconds": seconds, "components": training_breakdown(workdir / "ours-train.log"),
                       "nlu_examples": nlu_examples(source / "data" / "nlu")}
    print(f"ours trained in {seconds:.0f} s", flush=True)
    return timings, workdir / "peer-models" / "peer.tar.gz"


def seed_store(url: str) -> None:
    """A fresh store of our own, seeded with the Brightdesk demo as of today."""
    from actions.store import db
    from actions.store.seed import seed_demo

    db.create_schema(url)
    with db.session_scope(url) as session:
        seed_demo(session, dt.date.today())
    db.dispose_engines()


def count_tickets(url: str) -> int:
    """Tickets the handoffs wrote to the bench store (proof that real writes happened)."""
    from sqlalchemy import func, select

    from actions.store import db
    from actions.store.models import Ticket

    with db.session_scope(url) as session:
        count = session.scalar(select(func.count(Ticket.id)))
    db.dispose_engines()
    return int(count or 0)


def summarize_phase(result: load.PhaseResult) -> dict[str, Any]:
    """Latency percentiles, throughput, errors and CPU per message of one bot in one phase."""
    ok = [s.seconds * 1000 for s in result.samples if s.error is None]
    count = len(result.samples)
    errors = [s.error for s in result.samples if s.error]
    return {
        "count": count,
        "p50_ms": report.percentile(ok, 50),
        "p95_ms": report.percentile(ok, 95),
        "p99_ms": report.percentile(ok, 99),
        "max_ms": max(ok) if ok else None,
        "throughput": count / result.wall_seconds if result.wall_seconds else 0.0,
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "unexpected": sum(1 for s in result.samples if s.error is None and not s.expected),
        "cpu_ms_per_msg": result.cpu_seconds * 1000 / count if count else None,
        "latencies_ms": ok,
        "by_kind": {
            kind: report.percentile([s.seconds * 1000 for s in result.samples if s.kind == kind and not s.error], 50)
            for kind in sorted({s.kind for s in result.samples})
        },
    }


async def profile_pass(ours: load.BotTarget, peer: load.BotTarget, servers: dict[str, Server], workdir: Path,
                       messages: int) -> dict[str, Any]:
    """py-spy on each server while its bot answers ``messages`` messages from one sender."""
    if not profile.available():
        return {"skipped": "py-spy is not installed"}
    out: dict[str, Any] = {"messages": messages}
    for bot, names in ((ours, ("ours-rasa", "ours-actions")), (peer, ("peer-rasa",))):
        recorders = {name: profile.Recorder(servers[name].pid, workdir / f"{name}.pyspy.txt") for name in names}
        for recorder in recorders.values():
            recorder.start()
        await asyncio.sleep(1.0)  # let py-spy attach
        await load.run_phase([bot], 1, messages, messages, cpu_seconds, f"profile-{bot.name}")
        for name, recorder in recorders.items():
            recorder.stop()
            out[name] = profile.summarize(recorder.output)
    return out


async def drive(ours: load.BotTarget, peer: load.BotTarget, phases: tuple, chunk: int) -> dict[str, Any]:
    """Warm-up transcripts, then every load phase with both bots interleaved."""
    transcripts = {"ours": await load.transcript(ours), "peer": await load.transcript(peer)}
    results = []
    for name, senders, messages in phases:
        print(f"load: {senders} sender(s) × {messages} messages", flush=True)
        phase = await load.run_phase([ours, peer], senders, messages, chunk, cpu_seconds, name)
        results.append({"name": name, "senders": senders, "messages": messages,
                        "ours": summarize_phase(phase["ours"]), "peer": summarize_phase(phase["peer"])})
    return {"transcripts": transcripts, "phases": results}


def rest_benchmark(workdir: Path, model: Path, peer_model: Path, phases: tuple, chunk: int,
                   profile_messages: int, source: Path = ROOT) -> dict[str, Any]:
    """Start both bots, measure their start-up, drive the load; servers are always stopped."""
    db_url = f"sqlite:///{workdir / 'store.db'}"
    seed_store(db_url)
    env = quiet_env(GOLDEN_RULE_DB_URL=db_url)
    peer_dir = workdir / "peer"
    servers: dict[str, Server] = {}
    try:
        servers["peer-rasa"] = rasa_server("peer-rasa", peer_model, peer_dir, workdir, None, env)
        servers["peer-rasa"].start()
        peer_ready = servers["peer-rasa"].wait_ready()
        servers["ours-actions"] = action_server("ours-actions", source, workdir, env)
        servers["ours-actions"].start()
        actions_ready = servers["ours-actions"].wait_ready()
        servers["ours-rasa"] = rasa_server("ours-rasa", model, source, workdir, port_of(servers["ours-actions"]), env)
        servers["ours-rasa"].start()
        ours_ready = servers["ours-rasa"].wait_ready()
        print(f"ready: peer {peer_ready:.1f} s, ours {ours_ready:.1f} s (actions {actions_ready:.1f} s)", flush=True)
        webhook = "http://127.0.0.1:{}/webhooks/rest/webhook"
        ours = load.BotTarget("ours", webhook.format(port_of(servers["ours-rasa"])), load.OURS_SCRIPT,
                              [servers["ours-rasa"].pid, servers["ours-actions"].pid])
        peer = load.BotTarget("peer", webhook.format(port_of(servers["peer-rasa"])), load.PEER_SCRIPT,
                              [servers["peer-rasa"].pid])
        results = asyncio.run(drive(ours, peer, phases, chunk))
        results["profile"] = asyncio.run(profile_pass(ours, peer, servers, workdir, profile_messages))
        results["startup"] = {"peer_s": peer_ready, "ours_s": ours_ready, "ours_actions_s": actions_ready}
    finally:
        for server in reversed(list(servers.values())):
            server.stop()
    results["tickets_written"] = count_tickets(db_url)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the whole benchmark and rewrite the bench section of the doc."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for development")
    parser.add_argument("--skip-train", action="store_true", help="do not time training (development)")
    parser.add_argument("--no-rest", action="store_true", help="skip the REST comparison")
    parser.add_argument("--no-store", action="store_true", help="skip the store scale part")
    parser.add_argument("--sizes", type=int, nargs="+", help="catalog sizes (default 1k 10k 100k)")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per search query")
    parser.add_argument("--head", action="store_true",
                        help="measure the committed code (git archive HEAD) and serve the model trained from it")
    parser.add_argument("--save-model", type=Path, help="also copy the model our bot served to this path")
    parser.add_argument("--render-only", action="store_true", help="rewrite the doc from the saved results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, profiles)")
    parser.add_argument("--doc", type=Path, default=report.DOC, help="markdown file to update")
    parser.add_argument("--results", type=Path, default=report.BENCH_RESULTS, help="raw results JSON")
    args = parser.parse_args(argv)

    if args.render_only:
        from bench import render

        results = report.load_results(args.results) or {}
        report.write_section("bench", render.bench_section(results, args.doc.parent), args.doc)
        report.refresh_targets(args.doc, args.results)
        return 0
    phases, chunk = (QUICK_PHASES, QUICK_CHUNK) if args.quick else (PHASES, CHUNK)
    sizes = args.sizes or ([1_000] if args.quick else list(SIZES))
    repeats = 5 if args.quick else args.repeats
    started = time.monotonic()
    results: dict[str, Any] = {"machine": report.machine(), "quick": args.quick,
                               "command": " ".join(["python -m bench.run", *(sys.argv[1:] if argv is None else argv)])}
    workdir = Path(tempfile.mkdtemp(prefix="golden-rule-bench-"))
    try:
        if not args.no_rest:
            model = workdir / "golden-rule.tar.gz"
            if args.head:  # the revision as it is now, when the snapshot is taken
                results["code"] = "HEAD " + subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                           capture_output=True, text=True).stdout.strip()
            source = snapshot_head(workdir) if args.head else ROOT
            if args.head and not args.skip_train:
                results["training"], peer_model = train(workdir, False, source)
                shutil.copyfile(workdir / "ours-models" / "golden-rule-bench.tar.gz", model)
                results["model_sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()[:12]
                results["model_source"] = "trained from HEAD in this run"
            else:
                results["model_sha256"] = copy_model(MODEL, model)
                results["training"], peer_model = train(workdir, args.skip_train, source)
                results["model_source"] = "models/golden-rule.tar.gz"
            results["rest"] = rest_benchmark(workdir, model, peer_model, phases, chunk, 12 if args.quick else 40,
                                             source)
            if args.save_model:
                shutil.copyfile(model, args.save_model)
        if not args.no_store:
            results["store"] = store_scale.run(sizes, repeats)
    except Exception:
        print(f"bench failed; logs are kept in {workdir}", file=sys.stderr)
        raise
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    results["duration_s"] = time.monotonic() - started

    previous = report.load_results(args.results) or {}
    # A partial run keeps the other part's figures.
    for part in ("rest", "training", "model_sha256", "model_source", "code", "store"):
        if part not in results and part in previous:
            results[part] = previous[part]
    from bench import render

    args.doc.parent.mkdir(parents=True, exist_ok=True)
    report.write_section("bench", render.bench_section(results, args.doc.parent), args.doc)
    report.save_results(args.results, results)
    report.refresh_targets(args.doc, args.results)
    print(f"wrote {args.doc} ({results['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
