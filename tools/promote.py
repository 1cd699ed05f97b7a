"""See and steer the promotion of a candidate model version (the controller in services/gateway/promotion.py).

    python -m tools.promote --env local status [--route chat]
    python -m tools.promote --env local start --route chat --candidate gen-v2 --eval-score 0.93
    python -m tools.promote --env local pause|resume|rollback --route chat

Works on the store the environment's gateway config names (`state.url`; the SQLite file in the state
directory by default), so the running gateways see a change at their next controller tick.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make promote", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("status", "start", "pause", "resume", "rollback"))
    parser.add_argument("--env", default="local", help="gateway config services/config/gateway-<env>.yaml")
    parser.add_argument("--config", type=Path, help="an explicit gateway config file instead of --env's")
    parser.add_argument("--state-dir", type=Path, help="the gateway's state directory (default: as the gateway)")
    parser.add_argument("--route", help="the route's name in the gateway config (e.g. chat)")
    parser.add_argument("--candidate", help="start: the model version to roll out")
    parser.add_argument("--eval-score", type=float, help="start: the candidate's evaluation-suite score (0-1)")
    parser.add_argument("--decisions", type=int, default=10, help="status: how many recent decisions to show")
    options = parser.parse_args(argv)
    config = load_gateway_config(options.config or options.env)
    state_dir = options.state_dir or state_dir_for(options.env)
    store = StateStore.open(config.state.url_for(state_dir))
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
            row = start(store, config, options.route, options.candidate, options.eval_score, audit)
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
