"""Generate the secrets scanner's provider rules from a pinned copy of whispers' rule files.

    python -m tools.secrets_rules        (or: make secrets-rules)

Reads tools/secret_rules/whispers-2.4.0-*.yml (BSD 3-Clause, see tools/secret_rules/README.md),
keeps the rules that recognise a value on its own (whispers' key-name rules need a parsed
config file, which a prompt is not), turns each anchored value pattern into one that finds the
value inside running text, checks that it compiles, and writes
services/gateway/scanners/rules/provider_rules.json with the source files' sha256. Deterministic.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import yaml

__all__ = ["OUTPUT", "SOURCES", "generate", "main", "to_text_pattern"]

ROOT = Path(__file__).parent.parent
SOURCES = (
    ROOT / "tools" / "secret_rules" / "whispers-2.4.0-keys.yml",
    ROOT / "tools" / "secret_rules" / "whispers-2.4.0-misc.yml",
)
OUTPUT = ROOT / "services" / "gateway" / "scanners" / "rules" / "provider_rules.json"
WHEEL = "whispers-2.4.0-py3-none-any.whl sha256 40964d8c8dcd8adf5b88cca69b4ca080d102123b9a033e5a9e25acc532f4e247"
# Covered better elsewhere: card numbers by the PII scanner (with Luhn), private keys by the hand rule.
SKIPPED = frozenset({"creditcard", "privatekey"})
_NO_SPACE_GUARD = "(?!.*\\s)"


def to_text_pattern(value_regex: str) -> str:
    """An anchored whole-value pattern as one that finds the value between token boundaries."""
    body = value_regex.strip()
    body = body.removeprefix("^").replace(_NO_SPACE_GUARD, "").removeprefix("^").removesuffix("$")
    return rf"(?<![\w.+/-])({body})(?![\w.+/=-])"


def generate() -> dict[str, object]:
    rules = []
    for source in SOURCES:
        for rule in yaml.safe_load(source.read_text()):
            value = rule.get("value") or {}
            if rule.get("key") or "regex" not in value or rule["id"] in SKIPPED:
                continue
            pattern = to_text_pattern(str(value["regex"]))
            flags = "i" if value.get("ignorecase") else ""
            re.compile(pattern, re.IGNORECASE if flags else 0)
            rules.append({"kind": "whispers_" + rule["id"].replace("-", "_"), "pattern": pattern, "flags": flags})
    return {
        "generated_by": "python -m tools.secrets_rules",
        "source": WHEEL,
        "licence": "BSD-3-Clause (whispers); see tools/secret_rules/LICENSE-whispers",
        "inputs": {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in SOURCES},
        "rules": rules,
    }


def main() -> int:
    document = generate()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(document['rules'])} rules to {OUTPUT.relative_to(ROOT)}", file=sys.stderr)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
