"""Writes synthetic_pii.jsonl: made-up names and street addresses of ten locales, placed in sentences.

    pip install faker==40.63.0 && python tests/gateway/scanners/data/make_synthetic_pii.py

Faker (MIT licence, https://github.com/joke2k/faker) invents the values; the sentences are this
project's own. The `tune` rows (seed 1, TUNE_SENTENCES) are the ones the street-address patterns
were written against; the `report` rows (seed 2, REPORT_SENTENCES, different sentence shapes) are
what docs/safety.md reports. Faker is not a dependency: the output is committed.
"""

from __future__ import annotations

import json
from pathlib import Path

from faker import Faker

LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IE", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")
PER_LOCALE = 30
TUNE_SENTENCES = {
    "street_address": ["Please ship it to {} by Friday.", "My address is {}.", "Deliver the parcel to {}, thanks."],
    "person": ["Please ask {} about the invoice.", "{} will join the call.", "Thanks, {}"],
}
REPORT_SENTENCES = {
    "street_address": [
        "We moved last month; the new place is {}",
        "Invoice address: {}",
        "Can someone pick up the keys at {} tomorrow?",
    ],
    "person": ["I spoke with {} yesterday and she agreed.", "Forward this to {} please.", "Dear {},"],
}


def rows() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for split, seed, sentences in (("tune", 1, TUNE_SENTENCES), ("report", 2, REPORT_SENTENCES)):
        for locale in LOCALES:
            fake = Faker(locale)
            fake.seed_instance(seed)
            for number in range(PER_LOCALE):
                for kind, shapes in sentences.items():
                    if kind == "person":
                        value = fake.name()
                    else:
                        value = fake.street_address() if number % 2 else fake.address().replace("\n", ", ")
                    shape = shapes[number % len(shapes)]
                    text = shape.format(value)
                    start = text.index(value)
                    out.append(
                        {
                            "id": f"{split}-{locale}-{kind}-{number}",
                            "split": split,
                            "locale": locale,
                            "kind": kind,
                            "text": text,
                            "span": [start, start + len(value)],
                        }
                    )
    return out


if __name__ == "__main__":
    target = Path(__file__).with_name("synthetic_pii.jsonl")
    target.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows()), encoding="utf-8")
    print(f"wrote {target}")
