"""See and steer the promotion of a candidate model version (the controller in services/gateway/promotion.py).

    python -m tools.promote --env local status [--route chat]
    python -m tools.promote --env local start --route chat --candidate gen-v2 --eval-report .rampart/eval/all.json
    python -m tools.promote --env local start --route chat --candidate gen-v2 --eval-score 0.93
    python -m tools.promote --env local pause|resume|rollback --route chat

Works on the store the environment's gateway config names (`state.url`; the SQLite file in the state
directory by default), so the running gateways see a change at their next controller tick. A rollout
starts with the candidate's evaluation score: read from the report `make eval SUITE=all CANDIDATE=<version>`
wrote (`--eval-report`; it must name the same candidate), or given by hand (`--eval-score`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from services.gateway.audit import AuditLog
from services.gateway.config import load_gateway_config, state_dir_for
from services.gateway.promotion import pause, resume, rollback, start
from services.state import ItemNotFound, PromotionRow, StateStore
from tools.eval_suites import EvalReport

__all__ = ["main"]


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _describe(store: StateStore, row: PromotionRow, decisions: int) -> str:
    lines = [f"route {row.route}: {row.candidate} vs stable {row.stable} — {row.state} at {row.weight:g}% "
             f"(step {row.step_index + 1} of {len(row.steps)}: {', '.join(f'{s:g}' for s in row.steps)}; "
             f"since {_when(row.step_started)}; {row.reason})"]
    for decision in store.promotions.decisions(row.route, decisions):
        numbers = json.dumps(decision.measurements, sort_keys=True) if decision.measurements else ""
        lines.append(f"  {_when(decision.created)}  {decision.action:<8} {decision.weight:>5g}%  {decision.reason}"
                     + (f"\n      {numbers}" if numbers else ""))
    return "\n".join(lines)


def eval_score_from(report_path: Path, candidate: str) -> float:
    """The score of the evaluation report written for `candidate`; ValueError naming the field otherwise."""
    try:
        report = EvalReport.model_validate_json(report_path.read_text())
    except FileNotFoundError:
        raise ValueError(f"eval_report: no such file {report_path} (run make eval SUITE=all "
                         f"CANDIDATE={candidate} first)") from None
    except ValueError as error:
        raise ValueError(f"eval_report: {report_path} is not a report of make eval ({error.__class__.__name__})"
                         ) from None
    if report.candidate != candidate:
        raise ValueError(f"eval_report: {report_path} evaluated {report.candidate or 'no named candidate'}, "
                         f"not {candidate} (run make eval SUITE=all CANDIDATE={candidate})")
    return report.score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make promote", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("status", "start", "pause", "resume", "rollback"))
    parser.add_argument("--env", default="local", help="gateway config services/config/gateway-<env>.yaml")
    parser.add_argument("--config", type=Path, help="an explicit gateway config file instead of --env's")
    parser.add_argument("--state-dir", type=Path, help="the gateway's state directory (default: as the gateway)")
    parser.add_argument("--route", help="the route's name in the gateway config (e.g. chat)")
    parser.add_argument("--candidate", help="start: the model version to roll out")
    score = parser.add_mutually_exclusive_group()
    score.add_argument("--eval-report", type=Path, help="start: the JSON report make eval wrote for the candidate")
    score.add_argument("--eval-score", type=float, help="start: the candidate's evaluation-suite score (0-1)")
    parser.add_argument("--decisions", type=int, default=10, help="status: how many recent decisions to show")
    options = parser.parse_args(argv)
    try:
        config = load_gateway_config(options.config or options.env)
    except ValueError as error:  # ConfigError: the message names the file and the field
        print(f"error: {error}", file=sys.stderr)
        return 2
    state_dir = options.state_dir or state_dir_for(options.env)
    store = config.state.open_store(state_dir)
    audit = AuditLog(state_dir / "audit", stream="promotion-operator")
    try:
        if options.action == "status":
            rows = [store.promotions.get(options.route)] if options.route else store.promotions.all()
            print("\n".join(_describe(store, row, options.decisions) for row in rows) or "no promotions")
            return 0
        if not options.route:
            parser.error(f"{options.action} needs --route")
        if options.action == "start":
            if not options.candidate:
                parser.error("start needs --candidate")
            eval_score = (eval_score_from(options.eval_report, options.candidate) if options.eval_report
                          else options.eval_score)
            row = start(store, config, options.route, options.candidate, eval_score, audit)
        else:
            row = {"pause": pause, "resume": resume, "rollback": rollback}[options.action](store, options.route, audit)
        print(_describe(store, row, 1))
        return 0
    except (ValueError, ItemNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
