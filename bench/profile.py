"""Where the time goes: py-spy samples of a running server, grouped by pipeline component.

py-spy attaches to a process by id (no restart, no code change) and writes "raw" collapsed stacks,
one line per distinct stack with its sample count. Idle samples (the event loop waiting) are left
out by py-spy, so the counts are CPU-busy time. Each stack is charged to the component nearest to
its leaf frame (a TensorFlow call made by DIET counts as DIET).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE_HZ = 200

# (pattern in a frame's file path, component) — checked for each frame from the leaf up.
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("diet_classifier.py", "DIETClassifier (intent model)"),
    ("response_selector.py", "ResponseSelector (troubleshooting answers)"),
    ("ted_policy.py", "TEDPolicy"),
    ("rule_policy.py", "RulePolicy"),
    ("memoization.py", "MemoizationPolicy"),
    ("count_vectors_featurizer.py", "CountVectorsFeaturizer"),
    ("lexical_syntactic_featurizer.py", "LexicalSyntacticFeaturizer"),
    ("regex_featurizer.py", "RegexFeaturizer"),
    ("regex_entity_extractor.py", "RegexEntityExtractor"),
    ("fallback_classifier.py", "FallbackClassifier"),
    ("whitespace_tokenizer.py", "WhitespaceTokenizer"),
    ("entity_synonyms.py", "EntitySynonymMapper"),
    ("components/feeling.py", "FeelingAnalyzer (ours)"),
    ("rasa/core/featurizers/", "dialogue state featurization"),
    ("jsonschema/", "JSON schema validation (of action server responses, in rasa)"),
    ("json/encoder.py", "JSON encoding (trackers, replies)"),
    ("json/decoder.py", "JSON decoding"),
    ("rasa/core/actions/", "running actions (rasa side, incl. tracker dump for the action server)"),
    ("rasa/shared/core/trackers.py", "tracker bookkeeping"),
    ("rasa/shared/core/events.py", "tracker bookkeeping"),
    ("rasa/core/processor.py", "message processor"),
    ("rasa/engine/", "graph runner"),
    ("sqlite3", "database (SQLAlchemy + SQLite)"),
    ("sqlalchemy/", "database (SQLAlchemy + SQLite)"),
    ("/actions/services/", "our services (Python around the queries)"),
    ("/actions/", "our actions"),
    ("rasa_sdk/", "rasa-sdk (request parsing, tracker, responses)"),
    ("aiohttp/", "HTTP client/server (aiohttp)"),
    ("sanic/", "HTTP server (sanic)"),
    ("rasa/core/channels/", "REST channel"),
    ("rasa/server.py", "HTTP server (rasa)"),
)


def available() -> bool:
    """Whether the py-spy executable is installed (it is pinned in requirements-dev.txt)."""
    return _executable() is not None


def _executable() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recorder:
    """One py-spy recording of one process, from ``start()`` until ``stop()``."""

    def __init__(self, pid: int, output: Path) -> None:
        self.pid = pid
        self.output = output
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Attach py-spy. It pauses the target briefly per sample, which makes its idle detection exact
        (a non-blocking sampler counts the event loop's waits as busy); only the untimed profiling pass
        pays for that."""
        executable = _executable()
        if executable is None:
            raise RuntimeError("py-spy is not installed")
        self.process = subprocess.Popen(
            [executable, "record", "--pid", str(self.pid), "--rate", str(RATE_HZ), "--format", "raw",
             "--output", str(self.output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        """Stop sampling; py-spy writes its output on SIGINT."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def component_of(frames: list[str]) -> str:
    """The component a stack is charged to (frames root first, as py-spy writes them)."""
    for frame in reversed(frames):
        for pattern, component in COMPONENTS:
            if pattern in frame:
                return component
    return "other (Python runtime, asyncio, libraries)"


# Leaf frames that are waiting, not working (should py-spy's idle detection miss one).
# Sanic's ``serve`` as the leaf means the thread is inside uvloop's C event loop, i.e. waiting for I/O.
WAITING = ("selectors.py", "threading.py", "queue.py", "sanic/server/runners.py")


def summarize(raw: Path) -> dict[str, float]:
    """Seconds of CPU-busy samples per component in a py-spy raw file."""
    counts: Counter[str] = Counter()
    if not raw.exists():
        return {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in WAITING):
            continue
        counts[component_of(frames)] += int(count)
    return {component: samples / RATE_HZ for component, samples in counts.most_common()}
