"""The promotion controller: moves a candidate model version through its traffic steps while its gates
hold against the stable version, and rolls it back at once when one breaks.

Every replica runs the loop (`PromotionController.run`): each tick it reloads the weights routing reads
(`weights_for`), so a decision takes effect on the next request. Only the replica holding the `promotion`
lease in the shared store decides; when it stops renewing the lease another replica takes over. Each
decision is recorded with the numbers it saw, in the store (`promotion_decisions`) and in the audit log.

    start ──> 5% ──> 25% ──> 50% ──> 100% (promoted)        a step advances after `window_s` of passing gates
       any gate fails ──> rolled_back (0%, the route's configured versions again)
       pause / resume / rollback: `make promote` (tools/promote.py)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from platform_facts.project import PROJECT_NAME
from services.gateway.audit import AuditLog
from services.gateway.config import GatewayConfig, RouteConfig
from services.gateway.metrics import GatewayMetrics
from services.gateway.promotion_gates import judge, measure
from services.state import PromotionRow, StateStore

__all__ = [
    "LEASE", "PromotionController", "audit_decision", "pause", "resume", "rollback", "stable_version", "start",
    "weights_of",
]

log = logging.getLogger(f"{PROJECT_NAME}.gateway")

LEASE = "promotion"


def weights_of(row: PromotionRow) -> dict[str, float] | None:
    """The routing weights a promotion puts in force, or None (the route's configured versions)."""
    if row.state in ("running", "paused"):
        return {row.stable: 100.0 - row.weight, row.candidate: row.weight}
    if row.state == "promoted":
        return {row.candidate: 100.0, row.stable: 0.0}  # stable stays in the chain as a fallback
    return None


class PromotionController:
    def __init__(self, store: StateStore, metrics: GatewayMetrics, audit: Callable[[], AuditLog], holder: str,
                 config: Callable[[], GatewayConfig]) -> None:
        """`audit` opens the stream decisions are written to (on the first decision: most replicas never lead)."""
        self._store = store
        self._metrics = metrics
        self._audit = audit
        self._holder = holder
        self._config = config
        self._weights: dict[str, dict[str, float]] = {}
        self._task: asyncio.Task[None] | None = None

    def weights_for(self, route_path: str) -> Mapping[str, float] | None:
        return self._weights.get(route_path)

    def ensure_running(self) -> None:
        """Start the loop in the running event loop (the first request does, in each replica)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run())

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("promotion controller tick failed; retrying at the next interval")
            await asyncio.sleep(self._config().promotion.check_interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def tick(self, now: float | None = None) -> None:
        """Decide (when this replica leads), then load the weights every replica routes by."""
        config = self._config()
        if self._store.promotions.hold_lease(LEASE, self._holder, config.promotion.lease_ttl_s):
            for row in self._store.promotions.all():
                if row.state == "running" and row.route in config.routes:
                    self._decide(row, config, now if now is not None else time.time())
        self.refresh(config)

    def refresh(self, config: GatewayConfig | None = None) -> None:
        config = config or self._config()
        weights: dict[str, dict[str, float]] = {}
        for row in self._store.promotions.all():
            route = config.routes.get(row.route)
            in_force = weights_of(row)
            if route is None or in_force is None or any(name not in config.model_versions for name in in_force):
                continue
            weights[route.path] = in_force
            self._metrics.promotion_weight.labels(row.route, row.candidate).set(in_force[row.candidate])
        self._weights = weights  # one assignment: requests see the old or the new weights, never half

    def _decide(self, row: PromotionRow, config: GatewayConfig, now: float) -> None:
        settings = config.promotion
        path = config.routes[row.route].path
        numbers = measure(self._store, path, row.stable, row.candidate, max(row.step_started, now - settings.window_s),
                          now)
        if numbers.candidate.requests < settings.gates.min_requests and now - row.step_started > settings.window_s:
            # A small share of little traffic: judge the whole step so far rather than wait forever.
            numbers = measure(self._store, path, row.stable, row.candidate, row.step_started, now)
        verdict = judge(numbers, settings.gates)
        if verdict.outcome == "fail":
            state, index, weight, action = "rolled_back", row.step_index, 0.0, "rollback"
        elif verdict.outcome == "pass" and now - row.step_started >= settings.window_s:
            steps = [float(step) for step in row.steps]
            index = min(row.step_index + 1, len(steps) - 1)
            weight = steps[index]
            state, action = ("promoted", "promote") if weight >= 100.0 else ("running", "advance")
        else:
            return  # wait for more requests, or for the step's window to pass
        measurements = numbers.as_record()
        self._store.promotions.move(row.route, state=state, weight=weight, step_index=index, reason=verdict.reason,
                                    new_step=action != "rollback", action=action, measurements=measurements)
        audit_decision(self._audit(), row.route, row.candidate, action, weight, verdict.reason, measurements)
        self._metrics.promotion_decisions.labels(row.route, action).inc()
        log.warning("promotion %s on route %s: %s to %.0f%% (%s)", row.candidate, row.route, action, weight,
                    verdict.reason)


def audit_decision(audit: AuditLog | None, route: str, candidate: str, action: str, weight: float, reason: str,
                   measurements: dict[str, Any]) -> None:
    """The decision in the audit log (hash-chained like every record), when there is one to write to."""
    if audit is not None:
        audit.append({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "promotion": {
            "route": route, "candidate": candidate, "action": action, "weight": weight, "reason": reason,
            "measurements": measurements}})


# ------------------------------------------------------------------ operator commands (tools/promote.py)

def stable_version(route: RouteConfig) -> str:
    """The version a rollout on `route` is judged against: the one with the largest configured weight."""
    return max(route.versions, key=lambda version: version.weight).model_version


def start(store: StateStore, config: GatewayConfig, route: str, candidate: str, eval_score: float | None,
          audit: AuditLog | None = None) -> PromotionRow:
    """Begin rolling `candidate` out on `route` at the first step; refused (ValueError naming the field) when
    the route or version is unknown, or the candidate's evaluation score is under the gate."""
    if route not in config.routes:
        raise ValueError(f"route: unknown route {route!r} (known: {', '.join(sorted(config.routes))})")
    configured = config.routes[route]
    if not configured.versions:
        raise ValueError(f"route: {route!r} has no model versions to promote between")
    if candidate not in config.model_versions:
        raise ValueError(f"candidate: unknown model version {candidate!r}")
    stable = stable_version(configured)
    if candidate == stable:
        raise ValueError(f"candidate: {candidate!r} is already the stable version of {route!r}")
    minimum = config.promotion.gates.min_eval_score
    if minimum > 0 and (eval_score is None or eval_score < minimum):
        raise ValueError(f"eval_score: the candidate's evaluation score {eval_score} is under the gate {minimum}")
    reason, measurements = f"started against {stable}", {"eval_score": eval_score,
                                                          "steps": list(config.promotion.steps)}
    row = store.promotions.start(route, stable, candidate, config.promotion.steps, reason, measurements)
    audit_decision(audit, route, candidate, "start", row.weight, reason, measurements)
    return row


def _operate(store: StateStore, route: str, action: str, allowed: tuple[str, ...], state: str,
             audit: AuditLog | None, weight: float | None = None) -> PromotionRow:
    row = store.promotions.get(route)
    if row.state not in allowed:
        raise ValueError(f"route: the promotion on {route!r} is {row.state}; {action} needs {' or '.join(allowed)}")
    reason = f"{action} by an operator"
    moved = store.promotions.move(route, state=state, weight=row.weight if weight is None else weight,
                                  step_index=row.step_index, reason=reason, new_step=action == "resume",
                                  action=action, measurements={})
    audit_decision(audit, route, row.candidate, action, moved.weight, reason, {})
    return moved


def pause(store: StateStore, route: str, audit: AuditLog | None = None) -> PromotionRow:
    """Hold the current weights; the controller neither advances nor rolls back until `resume`."""
    return _operate(store, route, "pause", ("running",), "paused", audit)


def resume(store: StateStore, route: str, audit: AuditLog | None = None) -> PromotionRow:
    """Run again; the current step's window starts over."""
    return _operate(store, route, "resume", ("paused",), "running", audit)


def rollback(store: StateStore, route: str, audit: AuditLog | None = None) -> PromotionRow:
    """Send all traffic back to the route's configured versions now."""
    return _operate(store, route, "rollback", ("running", "paused", "promoted"), "rolled_back", audit, weight=0.0)
