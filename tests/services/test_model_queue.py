"""MergingModelQueue: calls queued behind a busy model run as one call, each caller gets its rows.

The "model" is a plain function returning one row per text (row = the text's number), so every
assertion can say which caller got which rows; a threading.Event holds the model busy.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from services.inference.model_queue import MergingModelQueue


class CountingModel:
    """Returns row [n] for text "n"; records each call's texts; can be held busy."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self.release.set()
        self.fail_on: str | None = None

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.release.wait(timeout=10)
        if self.fail_on in texts:
            raise RuntimeError(f"model failed on {self.fail_on}")
        return np.array([[float(t)] for t in texts], dtype=np.float32)


def _texts(*numbers: int) -> list[str]:
    return [str(n) for n in numbers]


async def _busy_then(queue: MergingModelQueue, model: CountingModel, *waiting: list[str]) -> list[object]:
    """Start one call and hold the model busy; queue `waiting` behind it; release; gather all."""
    model.release.clear()
    first = asyncio.create_task(queue.encode(_texts(0)))
    while not model.calls:
        await asyncio.sleep(0.001)
    later = [asyncio.create_task(queue.encode(texts)) for texts in waiting]
    await asyncio.sleep(0.01)
    model.release.set()
    return await asyncio.gather(first, *later, return_exceptions=True)


def test_calls_queued_behind_a_busy_model_run_as_one_call_and_each_caller_gets_its_rows() -> None:
    model = CountingModel()
    queue = MergingModelQueue(model, max_texts=64)
    results = asyncio.run(_busy_then(queue, model, _texts(1, 2), _texts(3), _texts(4, 5, 6)))
    assert model.calls == [["0"], ["1", "2", "3", "4", "5", "6"]]
    assert [r.ravel().tolist() for r in results] == [[0], [1, 2], [3], [4, 5, 6]]  # type: ignore[union-attr]


def test_a_merged_call_stops_at_max_texts_and_an_oversize_request_runs_alone() -> None:
    model = CountingModel()
    queue = MergingModelQueue(model, max_texts=4)
    big = _texts(*range(10, 20))
    results = asyncio.run(_busy_then(queue, model, _texts(1, 2), _texts(3, 4), big, _texts(5)))
    assert model.calls == [["0"], ["1", "2", "3", "4"], big, ["5"]]
    assert results[3].ravel().tolist() == list(range(10, 20))  # type: ignore[union-attr]


def test_a_failing_call_fails_only_its_own_callers_and_the_queue_keeps_working() -> None:
    model = CountingModel()
    queue = MergingModelQueue(model, max_texts=2)
    model.fail_on = "2"
    results = asyncio.run(_busy_then(queue, model, _texts(1, 2), _texts(3)))
    assert isinstance(results[1], RuntimeError) and "failed on 2" in str(results[1])
    assert results[0].ravel().tolist() == [0] and results[2].ravel().tolist() == [3]  # type: ignore[union-attr]
    model.fail_on = None
    assert asyncio.run(queue.encode(_texts(7))).ravel().tolist() == [7]


def test_a_caller_that_gave_up_costs_no_model_time() -> None:
    model = CountingModel()
    queue = MergingModelQueue(model, max_texts=64)

    async def scenario() -> None:
        model.release.clear()
        first = asyncio.create_task(queue.encode(_texts(0)))
        while not model.calls:
            await asyncio.sleep(0.001)
        abandoned = asyncio.create_task(queue.encode(_texts(1)))
        kept = asyncio.create_task(queue.encode(_texts(2)))
        await asyncio.sleep(0.01)
        abandoned.cancel()
        model.release.set()
        assert (await kept).ravel().tolist() == [2]
        await first
        with pytest.raises(asyncio.CancelledError):
            await abandoned

    asyncio.run(scenario())
    assert model.calls == [["0"], ["2"]]


def test_reconfigured_to_zero_every_call_runs_on_its_own_in_arrival_order() -> None:
    model = CountingModel()
    queue = MergingModelQueue(model, max_texts=64)
    queue.reconfigure(threads=1, max_texts=0)
    results = asyncio.run(_busy_then(queue, model, _texts(1), _texts(2, 3), _texts(4)))
    assert model.calls == [["0"], ["1"], ["2", "3"], ["4"]]
    assert [r.ravel().tolist() for r in results] == [[0], [1], [2, 3], [4]]  # type: ignore[union-attr]
