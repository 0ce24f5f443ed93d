"""The feeling signal: intensity, capitals, punctuation and repeat contacts change the label."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from components.feeling import FeelingAnalyzer, score_feeling

ANALYZER = SentimentIntensityAnalyzer()
ORDER = ["neutral", "mild", "strong", "extreme"]


def label(text: str) -> str:
    return score_feeling(text, ANALYZER).label


@pytest.mark.parametrize(
    "text", ["how much is the dock?", "hello", "what is the status of order 10042", "", "   ", "thanks, great"]
)
def test_neutral_requests_are_neutral(text: str) -> None:
    assert label(text) == "neutral"


def test_intensity_is_graded() -> None:
    mild = score_feeling("I'm a bit annoyed", ANALYZER)
    angry = score_feeling("I'm furious, third time I'm writing", ANALYZER)
    assert mild.label == "mild"
    assert angry.label == "extreme"
    assert angry.score > mild.score
    assert angry.repeat_contact and "repeat_contact" in angry.signals


def test_capitals_and_punctuation_raise_the_score() -> None:
    calm = score_feeling("where is my order", ANALYZER)
    shouted = score_feeling("WHERE IS MY ORDER???", ANALYZER)
    assert calm.label == "neutral"
    assert ORDER.index(shouted.label) >= ORDER.index("mild")
    assert {"capitals", "punctuation"} <= set(shouted.signals)


def test_repeat_contact_makes_it_worse() -> None:
    once = score_feeling("my order hasn't arrived and I'm annoyed", ANALYZER)
    again = score_feeling("my order STILL hasn't arrived and I'm annoyed, this is the third time I'm asking", ANALYZER)
    assert again.score > once.score


def test_odd_input_never_raises() -> None:
    for text in ["\u200b\u200b", "😡😡😡", "مرحبا", "<script>alert(1)</script>", "x" * 50_000, "\x00\x01"]:
        assert label(text) in ORDER


def test_component_attaches_feeling_to_the_message() -> None:
    component = FeelingAnalyzer()
    [message] = component.process([Message(data={"text": "I AM FURIOUS!!!"})])
    feeling = message.get("feeling")
    assert feeling["label"] == "extreme"
    assert "feeling" in message.as_dict(only_output_properties=True)
