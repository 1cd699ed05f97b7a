"""Street addresses: made-up ones of ten locales are redacted whole; numbers beside ordinary words are not.

The made-up addresses are `data/synthetic_pii.jsonl` (Faker, seeded; how it was made is in the README
beside it): the patterns were written against its `tune` rows, and the `report` rows (another seed,
other sentence shapes) are the figures docs/safety.md gives.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.gateway.scanners.addresses import street_addresses
from services.gateway.scanners.base import Scanner
from tools.made_up_pii_eval import Split, made_up_rows, score

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(("split", "bound"), [("tune", 0.95), ("report", 0.90)])
def test_made_up_addresses_of_ten_locales_are_found_whole(pii: Scanner, split: Split, bound: float) -> None:
    result = score(pii, made_up_rows("synthetic_pii.jsonl", split, "street_address"))
    assert result.rows == 300
    assert result.whole / result.rows >= bound, result.misses  # measured 0.973 (tune) and 0.917 (report) on 2026-12-05


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ship to 3608 Kathryn Park, West Jerry, IN 60742 by Friday.", "Ship to [STREET_ADDRESS] by Friday."),
        ("My flat: Studio 8, Leigh Fort, Port Kelly, BA6 2NE", "My flat: [STREET_ADDRESS]"),
        ("Neue Adresse: Hauptstraße 5, 10115 Berlin.", "Neue Adresse: [STREET_ADDRESS]."),
        ("Bezorgen op Gerritsingel 7, 1317 YB Almere", "Bezorgen op [STREET_ADDRESS]"),
        ("Envoyez-le au 5, avenue Samson, 57583 Metz.", "Envoyez-le au [STREET_ADDRESS]."),
        ("La oficina está en Calle Mayor 12, 28013 Madrid.", "La oficina está en [STREET_ADDRESS]."),
        ("Unit 0837 Box 7835, DPO AE 89216", "[STREET_ADDRESS]"),
        ("We met at 45 Elm Road.", "We met at [STREET_ADDRESS]."),
    ],
)
def test_addresses_are_redacted_whole(pii: Scanner, text: str, expected: str) -> None:
    assert pii.scan(text).redacted_text == expected


@pytest.mark.parametrize(
    "text",
    [
        "During 2021 we moved the cluster to the new region.",
        "The 2011 Arab Spring changed the region.",
        "I bought an iPad 2 last year.",
        "Avenue Elementary School, 600 students, opens at 8.",
        "Monitoring 2 clusters is harder than one.",
        "We send reports via Slack 2 times a day.",
        "Route 66 is long; Python 3 Way of doing it.",
    ],
)
def test_numbers_beside_ordinary_words_are_not_addresses(text: str) -> None:
    assert list(street_addresses(text)) == []


def test_everyday_prompts_have_no_address() -> None:
    rows = [json.loads(line) for line in (DATA / "everyday_prompts.jsonl").read_text().splitlines()]
    assert [row["text"] for row in rows if list(street_addresses(row["text"]))] == []
