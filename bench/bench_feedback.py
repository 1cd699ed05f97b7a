"""What recording answers for feedback costs a request, and how long a promotion decision takes.

    .venv/bin/python -m bench.bench_feedback [--seconds 10] [--rate 200]     (or: make bench)

1. Requests paced at `--rate` per second (open loop) through the gateway over a minimal model app, in
   interleaved rounds: `recorded` (every answer queued for the state store, written by the background
   writer: the default) and `unrecorded` (the recorder detached), in the same run. Reported: p50/p99 latency
   of each and the p50 added by recording, absolute and as a ratio of the unrecorded p50.
2. A promotion decision (one controller tick: lease, gate measurements over the window, decision) with a
   window holding `rate * 60` answered requests, against that window's length.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_gateway import call, gateway_config, model_app
from platform_facts import project
from services.gateway import GatewayMiddleware, GatewaySettings
from services.gateway.promotion import PromotionController, start
from services.gateway.quotas import ProcessLedger
from services.state import ResponseRow

BODY = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "How do I rotate my API key?"}]}).encode()


async def paced_round(gateway: GatewayMiddleware, rate: float, seconds: float) -> list[float]:
    latencies: list[float] = []

    async def one() -> None:
        started = time.perf_counter()
        assert await call(gateway, "/v1/chat/completions", BODY) == 200
        latencies.append((time.perf_counter() - started) * 1000)

    tasks = []
    begin = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = begin + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)]


async def recording_cost(gateway: GatewayMiddleware, rate: float, seconds: float, rounds: int) -> None:
    recorder = gateway.responses
    results: dict[str, list[float]] = {"recorded": [], "unrecorded": []}
    await paced_round(gateway, rate, 1.0)  # warm-up
    for _ in range(rounds):
        for mode in ("recorded", "unrecorded"):
            gateway.accounting.responses = recorder if mode == "recorded" else None
            results[mode] += await paced_round(gateway, rate, seconds / rounds / 2)
    gateway.accounting.responses = recorder
    recorder.flush()
    base = statistics.median(results["unrecorded"])
    print(f"requests paced at {rate:g}/s, {rounds} interleaved rounds per mode")
    for mode, latencies in results.items():
        p50 = statistics.median(latencies)
        print(f"  {mode:10}  n {len(latencies):5}  p50 {p50:6.3f} ms  p99 {percentile(latencies, 0.99):7.3f} ms"
              f"  p50 added {p50 - base:+6.3f} ms ({p50 / base:4.2f}x unrecorded)")
    print(f"  responses written by the background writer: {len(gateway.store.responses.window(0, time.time() + 1))}"
          f", dropped: {recorder.dropped}")


def decision_time(gateway: GatewayMiddleware, rate: float) -> None:
    window = 60.0
    now = time.time()
    rows = [ResponseRow(request_id=f"bench-{n}", created=now - window + n / rate, tenant="bench",
                        route="/v1/chat/completions", model_version="chat" if n % 10 else "chat-v2",
                        routed_version="chat" if n % 10 else "chat-v2", status=200, latency_ms=3.0, flagged=False,
                        blocked=False, prompt=["q"], answer=["a"], passage_ids=[])
            for n in range(int(rate * window))]
    for offset in range(0, len(rows), 2000):
        gateway.store.responses.add_many(rows[offset:offset + 2000])
    start(gateway.store, gateway.config, "chat", "chat-v2", None)
    controller = PromotionController(gateway.store, gateway.metrics, lambda: gateway.audit, "bench",
                                     lambda: gateway.config)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        controller.tick(now + window + 1)
        timings.append((time.perf_counter() - started) * 1000)
        gateway.store.promotions.start("chat", "chat", "chat-v2", [5, 25, 50, 100], "bench", {})
    tick = statistics.median(timings)
    print(f"promotion decision over a {window:g} s window of {len(rows)} responses: {tick:.1f} ms median of 5 "
          f"({tick / 1000 / window:.5f} of the window)")


async def main(seconds: float, rate: float, rounds: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix=f"{project.PROJECT_NAME}-bench-feedback-"))
    config = gateway_config(directory, False)
    text = config.read_text().replace("  embed:\n", "  chat-v2:\n    location: on_prem\n    model: chat\n  embed:\n")
    config.write_text(text)
    gateway = GatewayMiddleware(model_app(), GatewaySettings(env="bench", config_path=str(config),
                                                             state_dir=str(directory / "state")),
                                ledger=ProcessLedger())
    await recording_cost(gateway, rate, seconds, rounds)
    decision_time(gateway, rate)
    gateway.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="paced seconds per mode, all rounds together")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rounds", type=int, default=4)
    options = parser.parse_args()
    asyncio.run(main(options.seconds, options.rate, options.rounds))
