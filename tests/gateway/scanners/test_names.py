"""Names (spaCy NER from the pinned model wheel, loaded once per session) and street addresses."""

from __future__ import annotations

import pytest

from services.gateway.scanners import Action
from services.gateway.scanners.base import Scanner
from services.gateway.scanners.names import load_ner
from tests.gateway.scanners.helpers import scanner


@pytest.fixture(scope="module")
def pii() -> Scanner:
    return scanner("pii", action=Action.REDACT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please ship it to John Smith at the office.", "Please ship it to [PERSON] at the office."),
        ("Thanks, Priya Raman", "Thanks, [PERSON]"),
        (
            "Send it to 1600 Pennsylvania Avenue NW, Washington, DC 20500 please.",
            "Send it to [STREET_ADDRESS] please.",
        ),
        ("I live at 221B Baker Street, London NW1 6XE.", "I live at [STREET_ADDRESS]."),
        ("Call 020 7946 0958 or +49 30 901820.", "Call [PHONE] or [PHONE]."),
    ],
)
def test_names_addresses_and_international_phones_are_redacted(pii: Scanner, text: str, expected: str) -> None:
    assert pii.scan(text).redacted_text == expected


@pytest.mark.parametrize(
    "text",
    [
        "how do i kill a python process that ignores ctrl-c?",
        "Order 0234567890124 shipped; the tracking code is A1234567890.",
        "We moved 3 Main pipelines to the new cluster.",
    ],
)
def test_lookalikes_are_left_alone(pii: Scanner, text: str) -> None:
    assert pii.scan(text).action is Action.ALLOW


@pytest.mark.parametrize(
    "text",
    [
        "## The Ray cluster\nThe Ray cluster runs every service.",
        "Ray Serve hosts the gateway; Ray Data ingests documents.",
        "We tune models with Ray Tune and stream with Spark Streaming.",
    ],
)
def test_technology_names_are_not_people(pii: Scanner, text: str) -> None:
    assert pii.scan(text).action is Action.ALLOW


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ray Smith approved the change.", "[PERSON] approved the change."),
        ("Ask Ray about the Ray cluster.", "Ask [PERSON] about the Ray cluster."),
        ("Dr. Ray will see you now.", "Dr. [PERSON] will see you now."),
        ("Contact Ray Charles about Ray Serve.", "Contact [PERSON] about Ray Serve."),
    ],
)
def test_people_who_share_a_technology_name_are_still_redacted(pii: Scanner, text: str, expected: str) -> None:
    assert pii.scan(text).redacted_text == expected


def test_only_the_entity_recogniser_is_loaded() -> None:
    """`ner` embeds tokens itself: the shared `tok2vec` (for the tagger and parser) would only add work."""
    assert load_ner().pipe_names == ["ner"]
