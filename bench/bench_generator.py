"""Generation benchmark: the `transformers` engine's continuous batching at concurrency 1, 8 and 32.

    .venv/bin/python -m bench.bench_generator [--rounds 5] [--tokens 64] [--model DIR] [--strict]

Closed-loop clients each stream chat completions from the engine (`TransformersChat.stream`, what
the HTTP layer consumes) one after another; every reply is `--tokens` tokens long (the tiny test
model suppresses end-of-text). Reports output tokens/s and time to first token (p50, p99) per
concurrency, and, for comparison, the engine before continuous batching (one `model.generate`
at a time behind a lock) at concurrency 8. Levels are interleaved over `--rounds` and the ratios
to concurrency 1 are taken within each round, so load from other processes on the machine
shifts both sides of a ratio alike. Targets: c=8 ≥ 3×, c=32 ≥ 6× the tokens/s of c=1.
By default the model is the tiny seeded GPT-2 of the tests, on CPU with one torch thread. Exits
1 on a missed target only with `--strict` (`make bench` runs every bench and goes on).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from services.inference.generator import TransformersChat
from services.inference.schemas import ChatCompletionRequest
from services.inference.settings import GeneratorSettings, ModelSource

LEVELS = (1, 8, 32)
TARGETS = {8: 3.0, 32: 6.0}
REQUESTS_PER_CLIENT = {1: 12, 8: 6, 32: 3}
BEFORE_REQUESTS_PER_CLIENT = 1


@dataclass
class Level:
    name: str
    concurrency: int
    tokens: int
    seconds: float
    first_token_s: list[float]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.first_token_s)
        return 1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def line(self) -> str:
        return (
            f"{self.name:<34} c={self.concurrency:<3} {self.tokens_per_s:8.1f} tok/s  "
            f"TTFT p50={self.percentile_ms(0.5):7.1f} ms  p99={self.percentile_ms(0.99):7.1f} ms  "
            f"({len(self.first_token_s)} requests, {self.tokens} tokens, {self.seconds:.1f} s)"
        )


def _request(tokens: int, n: int) -> ChatCompletionRequest:
    content = f"Question {n}: how do I stop the local environment and what does it keep?"
    return ChatCompletionRequest.model_validate(
        {"model": "bench", "messages": [{"role": "user", "content": content}], "max_tokens": tokens, "stream": True}
    )


async def _batched(engine: TransformersChat, concurrency: int, tokens: int) -> Level:
    first_token_s: list[float] = []
    generated_before = engine.batcher.tokens_generated

    async def client(index: int) -> None:
        for n in range(REQUESTS_PER_CLIENT[concurrency]):
            started, first = time.perf_counter(), None
            async for chunk in engine.stream(_request(tokens, index * 100 + n)):
                if first is None and chunk.choices[0].delta.content:
                    first = time.perf_counter() - started
            assert first is not None
            first_token_s.append(first)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    seconds = time.perf_counter() - started
    return Level("continuous batching", concurrency, engine.batcher.tokens_generated - generated_before, seconds,
                 first_token_s)


async def _serialized(engine: TransformersChat, concurrency: int, tokens: int) -> Level:
    """The engine before: each request runs `model.generate` alone, behind a lock, in its own
    thread, streamed through a `TextIteratorStreamer` read from a pool with one thread per client."""
    from transformers import TextIteratorStreamer

    model: Any = engine.batcher._model
    lock, first_token_s, generated, workers = threading.Lock(), [], [], []
    readers = ThreadPoolExecutor(max_workers=concurrency)
    loop = asyncio.get_running_loop()

    async def client(index: int) -> None:
        for n in range(BEFORE_REQUESTS_PER_CLIENT):
            started = time.perf_counter()
            ids = engine.prompt_ids(_request(tokens, index * 100 + n))
            prompt = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
            streamer = TextIteratorStreamer(engine.tokenizer, skip_prompt=True)

            def run(prompt: dict[str, torch.Tensor] = prompt, streamer: TextIteratorStreamer = streamer) -> None:
                with lock:
                    output = model.generate(**prompt, max_new_tokens=tokens, do_sample=True, streamer=streamer)
                generated.append(int(output.shape[1] - prompt["input_ids"].shape[1]))

            workers.append(threading.Thread(target=run, daemon=True))
            workers[-1].start()
            first = None
            while (piece := await loop.run_in_executor(readers, next, streamer, None)) is not None:
                if first is None and piece:
                    first = time.perf_counter() - started
            first_token_s.append(first if first is not None else time.perf_counter() - started)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client(i) for i in range(concurrency)))
    finally:
        readers.shutdown()
    seconds = time.perf_counter() - started
    for worker in workers:  # the stream ends just before `generate` returns its token count
        worker.join()
    return Level("one generate at a time (before)", concurrency, sum(generated), seconds, first_token_s)


async def run(engine: TransformersChat, rounds: int, tokens: int) -> bool:
    await _batched(engine, 8, 8)  # warm-up: first calls allocate and load kernels
    ratios: dict[int, list[float]] = {level: [] for level in TARGETS}
    for round_number in range(1, rounds + 1):
        print(f"round {round_number}", flush=True)
        measured = {}
        for concurrency in LEVELS:
            measured[concurrency] = await _batched(engine, concurrency, tokens)
            print("  " + measured[concurrency].line(), flush=True)
        for level in TARGETS:
            ratios[level].append(measured[level].tokens_per_s / measured[1].tokens_per_s)
        print("  " + (await _serialized(engine, 8, tokens)).line(), flush=True)
    passed = True
    for level, target in TARGETS.items():
        median = statistics.median(ratios[level])
        ok = median >= target
        passed &= ok
        each = ", ".join(f"{r:.1f}×" for r in ratios[level])
        verdict = "ok" if ok else "MISSED"
        print(f"tokens/s c={level} / c=1: {median:.1f}× (rounds: {each}; target ≥ {target:.0f}×) {verdict}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64, help="tokens per reply")
    parser.add_argument("--model", type=Path, help="a Hugging Face causal LM directory (default: the tiny test model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    with tempfile.TemporaryDirectory() as scratch:
        if args.model is None:
            from tests.services.tiny_models import build_tiny_causal_lm

            args.model = build_tiny_causal_lm(Path(scratch) / "tiny")
        settings = GeneratorSettings(
            engine="transformers", model_name="bench", source=ModelSource(uri=str(args.model)), device=args.device,
            max_new_tokens=args.tokens, max_batch_size=max(LEVELS), max_queue=max(LEVELS),
        )
        engine = TransformersChat(settings, args.model)
        print(f"model {args.model.name} on {args.device}, torch threads {torch.get_num_threads()}, "
              f"{args.tokens} tokens per reply", flush=True)
        try:
            passed = asyncio.run(run(engine, args.rounds, args.tokens))
        finally:
            engine.batcher.close()
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    raise SystemExit(main())
