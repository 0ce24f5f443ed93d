"""Feeling detection: a frustration signal for every user message, computed in the NLU pipeline.

Why a lexicon scorer and not a trained classifier: a support assistant sees few labelled angry
messages, and VADER (vaderSentiment) already models what matters here without training data:
intensifiers and dampeners ("really annoyed" vs "a bit annoyed"), negation, capitals and repeated
exclamation marks. It is deterministic, needs no download (the lexicon ships in the package) and
scores a message in microseconds. On top of VADER's valence this module adds what VADER does not
know about support conversations: signs of a repeated contact ("third time I'm writing", "still",
"again"), shouting in capitals, and runs of "!!!" / "???".

The result is attached to the message as ``feeling`` (and so reaches the tracker's latest message
and the action server)::

    {"label": "neutral|mild|strong|extreme", "score": 0.0..1.0, "valence": -1.0..1.0,
     "repeat_contact": bool, "signals": [...]}
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

FEELING = "feeling"

_REPEAT_CONTACT = re.compile(
    r"\b(second|third|fourth|fifth|\d+(st|nd|rd|th)|umpteenth|how many) times?\b"
    r"|\b(again|still|keep (asking|writing|calling|telling)|already (asked|told|wrote|called|contacted))\b"
    r"|\bweeks? (now|later)\b|\bno one (has )?(answered|replied|responded)\b",
    re.IGNORECASE,
)
_ANGER_WORDS = re.compile(
    r"\b(furious|livid|outraged|unacceptable|ridiculous|disgusting|pathetic|scam|fraud|lawyer|sue|"
    r"worst|useless|fed up|sick of|had enough|fuming|rip[- ]?off)\b",
    re.IGNORECASE,
)
_MILD_WORDS = re.compile(
    r"\b(annoy\w*|frustrat\w*|disappoint\w*|upset|unhappy|not happy|irritat\w*|angry|mad|worried|concerned)\b",
    re.IGNORECASE,
)
_DAMPENER = re.compile(r"\b(a (little )?bit|slightly|somewhat|kind of|a little|a tad)\b", re.IGNORECASE)
_BURST = re.compile(r"[!?]{2,}")
_WORD = re.compile(r"[A-Za-z]{3,}")


@dataclass
class Feeling:
    """How frustrated a message sounds, with the signals that made it so."""

    label: str
    score: float
    valence: float
    repeat_contact: bool
    signals: list[str] = field(default_factory=list)


def _shouting(text: str) -> bool:
    words = _WORD.findall(text)
    upper = [w for w in words if w.isupper()]
    return len(upper) >= 2 and len(upper) >= 0.5 * len(words)


def score_feeling(text: str, analyzer: SentimentIntensityAnalyzer) -> Feeling:
    """Score one message. Never raises; empty or odd text is neutral."""
    text = (text or "")[:2000]
    if not text.strip():
        return Feeling(label="neutral", score=0.0, valence=0.0, repeat_contact=False)
    valence = float(analyzer.polarity_scores(text)["compound"])
    signals: list[str] = []
    score = max(0.0, -valence)
    repeat = bool(_REPEAT_CONTACT.search(text))
    if _ANGER_WORDS.search(text):
        signals.append("anger_words")
        score = max(score, 0.6) + 0.1
    elif _MILD_WORDS.search(text):
        signals.append("frustration_words")
        score = max(score, 0.3)
    negative = score > 0.05 or bool(signals)
    if repeat and negative:
        signals.append("repeat_contact")
        score += 0.2
    shouting = _shouting(text)
    if shouting:
        # Shouting is frustration even when the words themselves are neutral.
        signals.append("capitals")
        score += 0.3
    if _BURST.search(text) and (negative or shouting):
        signals.append("punctuation")
        score += 0.1
    if _DAMPENER.search(text) and "anger_words" not in signals:
        signals.append("dampened")
        score *= 0.6
    if valence > 0.3 and not signals:
        score = 0.0
    score = round(min(score, 1.0), 3)
    if score >= 0.75:
        label = "extreme"
    elif score >= 0.45:
        label = "strong"
    elif score >= 0.2:
        label = "mild"
    else:
        label = "neutral"
    return Feeling(label=label, score=score, valence=round(valence, 3), repeat_contact=repeat, signals=signals)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class FeelingAnalyzer(GraphComponent):
    """Adds ``feeling`` to every parsed user message (see module docstring)."""

    def __init__(self) -> None:
        self._analyzer = SentimentIntensityAnalyzer()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> FeelingAnalyzer:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            feeling = score_feeling(message.get(TEXT) or "", self._analyzer)
            message.set(FEELING, asdict(feeling), add_to_output=True)
        return messages
