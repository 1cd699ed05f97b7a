"""Export answered requests as an evaluation set: JSON Lines of what was asked, what was answered, from which
passages and model, and how people judged it (feedback, review decisions).

    python -m tools.export_eval --env local [--hours 24 | --since 2026-12-01T00:00:00Z [--until ...]]
                                [--labelled-only] [--out .rampart/eval/exports/local-<time>.jsonl]

Texts in the store were redacted by the gateway's scanners when they were answered; they meet the
environment's secrets and PII scanners again here (as redactors), so a scanner improved since then, or a
correction typed by a person, still leaves no secret or personal data in the file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from platform_facts.project import STATE_DIR_NAME
from services.gateway.config import GatewayConfig, load_gateway_config, state_dir_for
from services.gateway.scanners import Action, ScannersConfig
from services.gateway.scanners.config import ScannerSettings
from services.gateway.scanners.pipeline import ScannerPipeline
from services.state import FeedbackRow, ResponseRow, StateStore

__all__ = ["export_rows", "label_of", "main", "redactor"]

REDACTORS = ("secrets", "pii")

EXPORTS_DIR = Path(STATE_DIR_NAME) / "eval" / "exports"
"""Git-ignored: exported answers are production data, never committed by accident."""


def redactor(config: GatewayConfig) -> ScannerPipeline:
    """The environment's secrets and PII scanners, each set to redact."""
    output = {name: ScannerSettings(**{**settings.model_dump(), "action": Action.REDACT, "shadow": False})
              for name, settings in config.scanners.output.items() if name in REDACTORS}
    for name in REDACTORS:
        output.setdefault(name, ScannerSettings(action=Action.REDACT))
    return ScannerPipeline.from_config(ScannersConfig(input={}, third_party={}, output=output,
                                                      on_error="fail_closed"))


def label_of(feedback: list[FeedbackRow]) -> dict[str, Any] | None:
    """The judgement of a response: a reviewer's decision outranks client feedback; the latest of each wins."""
    if not feedback:
        return None
    ranked = sorted(feedback, key=lambda row: (row.source == "review", row.created))
    final = ranked[-1]
    rating = {1: "good", 0: "neutral", -1: "bad"}[final.rating]
    return {"rating": rating, "source": final.source, "tags": final.tags, "correction": final.correction,
            "ratings": len(feedback)}


def export_rows(store: StateStore, redact: ScannerPipeline, since: float, until: float,
                labelled_only: bool) -> Iterator[dict[str, Any]]:
    responses: list[ResponseRow] = store.responses.window(since, until)
    feedback = store.responses.feedback_for([row.request_id for row in responses])

    def clean(texts: list[Any]) -> list[str]:
        return [redact.scan_output(str(text)).text for text in texts]

    for row in responses:
        label = label_of(feedback.get(row.request_id, []))
        if labelled_only and label is None:
            continue
        if label is not None and label["correction"] is not None:
            label["correction"] = clean([label["correction"]])[0]
        yield {
            "request_id": row.request_id, "time": dt.datetime.fromtimestamp(row.created, dt.UTC).isoformat(),
            "route": row.route, "prompt": clean(row.prompt), "answer": clean(row.answer),
            "passage_ids": row.passage_ids, "model_version": row.model_version, "index_version": row.index_version,
            "status": row.status, "flagged": row.flagged, "label": label,
        }


def _timestamp(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise SystemExit(f"error: not an ISO 8601 time: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make export-eval", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    parser.add_argument("--config", type=Path, help="an explicit gateway config instead of --env's")
    parser.add_argument("--state-dir", type=Path, help="the gateway's state directory (default: as the gateway)")
    parser.add_argument("--hours", type=float, default=24.0, help="the window: the last N hours (default 24)")
    parser.add_argument("--since", help="the window's start, ISO 8601 (instead of --hours)")
    parser.add_argument("--until", help="the window's end, ISO 8601 (default: now)")
    parser.add_argument("--labelled-only", action="store_true", help="only responses with feedback or a review")
    parser.add_argument("--out", type=Path, help=f"the JSONL file (default: {EXPORTS_DIR}/<env>-<time>.jsonl)")
    options = parser.parse_args(argv)
    until = _timestamp(options.until) if options.until else time.time()
    since = _timestamp(options.since) if options.since else until - options.hours * 3600
    if since >= until:
        print("error: --since must be before --until", file=sys.stderr)
        return 2
    try:
        config = load_gateway_config(options.config or options.env)
    except ValueError as error:  # ConfigError: the message names the file and the field
        print(f"error: {error}", file=sys.stderr)
        return 2
    store = config.state.open_store(options.state_dir or state_dir_for(options.env))
    # Under .rampart/ (git-ignored): exported answers are production data, never committed by accident.
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = options.out or EXPORTS_DIR / f"{options.env}-{stamp}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    count = labelled = 0
    with out.open("w", encoding="utf-8") as file:
        for row in export_rows(store, redactor(config), since, until, options.labelled_only):
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
            labelled += row["label"] is not None
    store.close()
    print(f"{out}: {count} responses ({labelled} labelled)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
