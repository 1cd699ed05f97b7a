"""One worker thread for model calls, merging the calls that queue up while it is busy."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

__all__ = ["MergingModelQueue"]

Vectors = npt.NDArray[np.float32]


def _torch_thread(threads: int) -> ThreadPoolExecutor:
    """One thread with its own torch thread count: OpenMP settings are per thread, so
    `torch.set_num_threads` in the replica's main thread would not reach it (and two spinning
    OpenMP threads on a busy 2-core box cost ~10x the CPU of one)."""
    import torch

    return ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="embedder", initializer=torch.set_num_threads, initargs=(threads,)
    )


class MergingModelQueue:
    """Runs `encode` on one thread; calls that arrive while it is busy wait and then run as one.

    Why not `@serve.batch` alone: a batch it has closed (after `batch_wait_timeout_s` or
    `max_batch_size` items) cannot grow while it waits for the model, so under load the model ran
    small batches back to back or sat idle while the next batch filled. Here whatever queued up
    during a model call becomes the next call, up to `max_texts` texts (a single larger call runs
    on its own): the model never idles while work waits, and calls grow with the backlog
    (docs/serving.md, "Performance"). `max_texts=0` runs every call on its own, in arrival order.
    """

    def __init__(self, encode: Callable[[list[str]], Vectors], *, threads: int = 1, max_texts: int = 64) -> None:
        self._encode = encode
        self.max_texts = max_texts
        self._thread = _torch_thread(threads)
        self._waiting: deque[tuple[list[str], asyncio.Future[Vectors]]] = deque()
        self._worker: asyncio.Task[None] | None = None

    def reconfigure(self, *, threads: int, max_texts: int) -> None:
        """New limits; a model call already running finishes on the old thread."""
        old, self._thread = self._thread, _torch_thread(threads)
        self.max_texts = max_texts
        old.shutdown(wait=False)

    async def encode(self, texts: list[str]) -> Vectors:
        """Vectors of `texts`, one row each, computed in a call shared with other waiting callers."""
        future: asyncio.Future[Vectors] = asyncio.get_running_loop().create_future()
        self._waiting.append((texts, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())
        return await future

    def _next_call(self) -> list[tuple[list[str], asyncio.Future[Vectors]]]:
        call: list[tuple[list[str], asyncio.Future[Vectors]]] = []
        size = 0
        while self._waiting and (not call or size + len(self._waiting[0][0]) <= self.max_texts):
            texts, future = self._waiting.popleft()
            if not future.done():  # a caller that gave up (cancelled) costs no model time
                call.append((texts, future))
                size += len(texts)
        return call

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while call := self._next_call():
                try:
                    vectors = await loop.run_in_executor(
                        self._thread, self._encode, [text for texts, _ in call for text in texts]
                    )
                except Exception as error:
                    for _, future in call:
                        if not future.done():
                            future.set_exception(error)
                    continue
                start = 0
                for texts, future in call:
                    if not future.done():
                        future.set_result(vectors[start : start + len(texts)])
                    start += len(texts)
        finally:
            self._worker = None
