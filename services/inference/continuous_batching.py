"""Continuous batching for the `transformers` engine: concurrent requests share every decode step.

One background thread owns the model. Between two decode steps it drops the sequences that
finished or whose client went away, admits waiting requests (their prompts prefilled together,
left-padded, and their KV cache joined to the running batch's), then runs one decode step for
every running sequence and hands each request its new token on the request's own event loop.
Requests beyond `max_batch_size` wait in a queue of at most `max_queue`; past that, `submit`
raises `Overloaded` (503 with Retry-After at the HTTP edge) rather than letting latency grow.

transformers 5.24 ships its own continuous batching (`init_continuous_batching`), which runs on
CPU with SDPA, but `do_sample` is fixed per manager (greedy and sampled requests cannot share a
batch), its queue blocks the caller up to 10 s before failing, and on the tiny test model it
measured below the targets here (docs/performance.md, "Generation").
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from transformers import DynamicCache, DynamicLayer, GenerationConfig, PreTrainedModel

from services.inference.errors import Overloaded

__all__ = ["ContinuousBatcher", "Generation", "Sampling", "TokenPicker"]

FinishReason = Literal["stop", "length"]

# Generation-config settings that change which token comes next and that this batcher does not
# implement, with the value that means "off": a model shipping one of them is refused at load
# instead of being served differently from `model.generate`.
_UNSUPPORTED = {
    "num_beams": 1,
    "no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "sequence_bias": None,
    "begin_suppress_tokens": None,
    "min_new_tokens": None,
    "min_length": 0,
    "min_p": None,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
}


@dataclass(frozen=True)
class Sampling:
    """How one request picks its tokens."""

    max_new_tokens: int
    temperature: float = 0.0
    """0 picks the most likely token (greedy)."""
    top_p: float = 1.0


@dataclass(frozen=True)
class _Finished:
    reason: FinishReason


_Event = int | _Finished | BaseException


class Generation:
    """One request's place in the batcher; `tokens()` yields its token ids as they are generated."""

    def __init__(self, batcher: ContinuousBatcher, prompt_ids: list[int], sampling: Sampling) -> None:
        self.prompt_ids = prompt_ids
        self.sampling = sampling
        self.finish_reason: FinishReason | None = None
        """Set once `tokens()` has ended normally."""
        self.cancelled = False
        self._batcher = batcher
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[_Event] = asyncio.Queue()

    async def tokens(self) -> AsyncIterator[int]:
        """Token ids in order. Leaving early (the client went away) frees the slot within one step."""
        try:
            while True:
                event = await self._events.get()
                if isinstance(event, _Finished):
                    self.finish_reason = event.reason
                    return
                if isinstance(event, BaseException):
                    raise event
                yield event
        finally:
            if self.finish_reason is None:
                self._batcher.cancel(self)


@dataclass
class _Sequence:
    generation: Generation
    tokens: list[int]
    """Prompt and generated ids: the repetition penalty sees both, as in `model.generate`."""
    generated: int = 0
    done: bool = False

    @property
    def leaving(self) -> bool:
        return self.done or self.generation.cancelled


@dataclass
class TokenPicker:
    """Next-token choice for a batch: the model's generation-config rules, then each request's sampling."""

    suppress_tokens: list[int] = field(default_factory=list)
    repetition_penalty: float = 1.0
    top_k: int = 0
    """Applied to sampled requests only, as `model.generate` does."""

    @classmethod
    def from_generation_config(cls, config: GenerationConfig) -> TokenPicker:
        """The rules `config` sets; a rule this picker cannot apply is refused by name."""
        for name, off in _UNSUPPORTED.items():
            value = getattr(config, name, off)
            if value is not None and value != off:
                raise ValueError(f"generation_config.{name}: {value!r} is not supported by continuous batching")
        return cls(
            suppress_tokens=list(config.suppress_tokens or []),
            repetition_penalty=float(config.repetition_penalty or 1.0),
            # `model.generate` samples from the 50 most likely tokens when the model does not say.
            top_k=50 if config.top_k is None else int(config.top_k),
        )

    def __call__(self, logits: torch.Tensor, sequences: list[_Sequence]) -> torch.Tensor:
        scores = logits.float()
        if self.suppress_tokens:
            scores[:, self.suppress_tokens] = -float("inf")
        if self.repetition_penalty != 1.0:
            scores = self._penalize_repeats(scores, sequences)
        picks = scores.argmax(dim=-1)
        temperatures = torch.tensor([s.generation.sampling.temperature for s in sequences], device=scores.device)
        sampled = temperatures > 0
        if not bool(sampled.any()):
            return picks
        rows = scores[sampled] / temperatures[sampled, None]
        if self.top_k:
            kth = rows.topk(min(self.top_k, rows.shape[-1]), dim=-1).values[:, -1:]
            rows = rows.masked_fill(rows < kth, -float("inf"))
        top_p = torch.tensor([s.generation.sampling.top_p for s in sequences], device=scores.device)[sampled]
        rows = _nucleus(rows, top_p)
        picks[sampled] = torch.multinomial(rows.softmax(dim=-1), num_samples=1).squeeze(-1)
        return picks

    def _penalize_repeats(self, scores: torch.Tensor, sequences: list[_Sequence]) -> torch.Tensor:
        width = max(len(s.tokens) for s in sequences)
        # Pad each row with its own first token: a repeated id is penalized once, as in `generate`.
        rows = [s.tokens + [s.tokens[0]] * (width - len(s.tokens)) for s in sequences]
        ids = torch.tensor(rows, device=scores.device)
        seen = scores.gather(1, ids)
        seen = torch.where(seen < 0, seen * self.repetition_penalty, seen / self.repetition_penalty)
        return scores.scatter(1, ids, seen)


def _nucleus(scores: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Keep, per row, the most likely tokens whose probabilities add up to that row's `top_p`."""
    ordered, order = scores.sort(dim=-1)
    cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
    drop = cumulative <= (1 - top_p)[:, None]
    drop[:, -1] = False
    return scores.masked_fill(drop.scatter(1, order, drop), -float("inf"))


def _keys_and_values(cache: DynamicCache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each layer's keys and values, `[batch, heads, positions, head_dim]` (full-attention layers only)."""
    pairs = []
    for layer in cache.layers:
        assert isinstance(layer, DynamicLayer) and layer.keys is not None and layer.values is not None
        pairs.append((layer.keys, layer.values))
    return pairs


def _left_pad(tensor: torch.Tensor, columns: int, dim: int) -> torch.Tensor:
    """`columns` zeros before the sequence axis `dim` (-1 for masks, -2 for keys and values)."""
    if columns == 0:
        return tensor
    padding = [0, 0] * (-dim - 1) + [columns, 0]
    return F.pad(tensor, padding)


class ContinuousBatcher:
    """The scheduler: a bounded queue in front of one running batch the model decodes step by step."""

    def __init__(
        self,
        model: PreTrainedModel,
        *,
        picker: TokenPicker,
        eos_token_ids: Iterable[int],
        max_batch_size: int,
        max_queue: int,
        retry_after_s: float,
    ) -> None:
        if any(type(layer) is not DynamicLayer for layer in DynamicCache(config=model.config).layers):
            raise ValueError(
                f"source: {model.config.model_type} has sliding-window or linear-attention layers; continuous "
                "batching joins full-attention caches only"
            )
        self._model = model
        self._device = model.device
        self._picker = picker
        self._eos = frozenset(eos_token_ids)
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self._changed = threading.Condition()
        self._waiting: deque[Generation] = deque()
        self.tokens_generated = 0
        """Tokens generated since start, for every request (including ones whose client left)."""
        self._reset()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="continuous-batching", daemon=True)
        self._thread.start()

    def _reset(self) -> None:
        """An empty running batch."""
        self._running: list[_Sequence] = []
        self._joining: list[_Sequence] = []
        """Admitted, their prompts being prefilled: they hold slots too."""
        self._cache: DynamicCache | None = None
        self._mask = torch.zeros((0, 0), dtype=torch.long, device=self._device)
        self._next_input = torch.zeros((0,), dtype=torch.long, device=self._device)

    @property
    def active(self) -> int:
        """Sequences in the running batch (those joining it included)."""
        return len(self._running) + len(self._joining)

    @property
    def waiting(self) -> int:
        """Requests queued for a slot."""
        return len(self._waiting)

    def submit(self, prompt_ids: list[int], sampling: Sampling) -> Generation:
        """Queue a request; `Overloaded` when every slot and queue place is taken."""
        generation = Generation(self, prompt_ids, sampling)
        with self._changed:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self.active + len(self._waiting) >= self.max_batch_size + self.max_queue:
                raise Overloaded(
                    f"generation queue full ({self.max_batch_size} running, {self.max_queue} waiting)",
                    retry_after_s=self.retry_after_s,
                )
            self._waiting.append(generation)
            self._changed.notify()
        return generation

    def cancel(self, generation: Generation) -> None:
        """Stop generating for `generation`: it leaves the queue now, or the batch before the next step."""
        with self._changed:
            generation.cancelled = True
            if generation in self._waiting:
                self._waiting.remove(generation)

    def close(self) -> None:
        """Stop the scheduler thread once its current step ends."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def _run(self) -> None:
        with torch.inference_mode():
            while self._admit():
                try:
                    if self._joining:
                        self._prefill()
                        self._drop_leaving()
                    if self._running:
                        self._decode()
                except Exception as error:  # fail the requests in flight, keep serving later ones
                    failed = {id(s): s for s in [*self._running, *self._joining]}.values()
                    self._deliver([(s.generation, error) for s in failed])
                    self._reset()

    def _admit(self) -> bool:
        """Move waiting requests into `_joining`, up to the free slots; False once closed."""
        self._drop_leaving()
        with self._changed:
            while not self._closed and not self._waiting and not self._running:
                self._changed.wait()
            if self._closed:
                return False
            while self._waiting and self.active < self.max_batch_size:
                generation = self._waiting.popleft()
                self._joining.append(_Sequence(generation, list(generation.prompt_ids)))
            return True

    def _drop_leaving(self) -> None:
        keep = [i for i, sequence in enumerate(self._running) if not sequence.leaving]
        if len(keep) == len(self._running):
            return
        if not keep:
            self._reset()
            return
        index = torch.tensor(keep, device=self._device)
        mask = self._mask[index]
        # Columns that are padding in every remaining row are dropped, so the cache does not grow
        # with sequences that have left.
        start = int(mask.any(dim=0).nonzero()[0])
        assert self._cache is not None
        layers = [(keys[index, :, start:], values[index, :, start:]) for keys, values in _keys_and_values(self._cache)]
        self._cache = DynamicCache(ddp_cache_data=layers)
        self._mask, self._next_input = mask[:, start:], self._next_input[index]
        self._running = [self._running[i] for i in keep]

    def _prefill(self) -> None:
        admitted = self._joining
        width = max(len(s.tokens) for s in admitted)
        ids = torch.zeros((len(admitted), width), dtype=torch.long)
        mask = torch.zeros((len(admitted), width), dtype=torch.long)
        for row, sequence in enumerate(admitted):
            ids[row, width - len(sequence.tokens) :] = torch.tensor(sequence.tokens)
            mask[row, width - len(sequence.tokens) :] = 1
        ids, mask = ids.to(self._device), mask.to(self._device)
        cache = DynamicCache()
        positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
        output = self._model(
            input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, logits_to_keep=1
        )
        picks = self._picker(output.logits[:, -1, :], admitted)
        self._join(cache, mask)
        self._running = self._running + admitted
        self._joining = []
        self._next_input = torch.cat([self._next_input, picks])
        self._emit(admitted, picks)

    def _join(self, cache: DynamicCache, mask: torch.Tensor) -> None:
        """Append the newly prefilled rows to the running batch, left-padding whichever is shorter."""
        if self._cache is None:
            self._cache, self._mask = cache, mask
            return
        width = max(self._mask.shape[1], mask.shape[1])
        grow_old, grow_new = width - self._mask.shape[1], width - mask.shape[1]
        layers = [
            (
                torch.cat([_left_pad(old_keys, grow_old, -2), _left_pad(new_keys, grow_new, -2)]),
                torch.cat([_left_pad(old_values, grow_old, -2), _left_pad(new_values, grow_new, -2)]),
            )
            for (old_keys, old_values), (new_keys, new_values) in zip(
                _keys_and_values(self._cache), _keys_and_values(cache), strict=True
            )
        ]
        self._cache = DynamicCache(ddp_cache_data=layers)
        self._mask = torch.cat([_left_pad(self._mask, grow_old, -1), _left_pad(mask, grow_new, -1)])

    def _decode(self) -> None:
        mask = F.pad(self._mask, (0, 1), value=1)
        positions = mask.sum(dim=-1, keepdim=True) - 1
        output = self._model(
            input_ids=self._next_input[:, None], attention_mask=mask, position_ids=positions, cache=self._cache
        )
        picks = self._picker(output.logits[:, -1, :], self._running)
        self._mask, self._next_input = mask, picks
        self._emit(self._running, picks)

    def _emit(self, sequences: list[_Sequence], picks: torch.Tensor) -> None:
        events: list[tuple[Generation, _Event]] = []
        for sequence, token in zip(sequences, picks.tolist(), strict=True):
            sequence.tokens.append(token)
            sequence.generated += 1
            self.tokens_generated += 1
            if token in self._eos:
                sequence.done = True
                events.append((sequence.generation, _Finished("stop")))
                continue
            events.append((sequence.generation, token))
            if sequence.generated >= sequence.generation.sampling.max_new_tokens:
                sequence.done = True
                events.append((sequence.generation, _Finished("length")))
        self._deliver(events)

    @staticmethod
    def _deliver(events: list[tuple[Generation, _Event]]) -> None:
        """One wake-up per event loop per step, not one per token."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Generation, _Event]]] = defaultdict(list)
        for generation, event in events:
            if not generation.cancelled:
                by_loop[generation._loop].append((generation, event))
        for loop, batch in by_loop.items():
            try:
                loop.call_soon_threadsafe(_put_all, batch)
            except RuntimeError:  # the loop has closed: nobody is listening any more
                for generation, _ in batch:
                    generation.cancelled = True


def _put_all(batch: list[tuple[Generation, _Event]]) -> None:
    for generation, event in batch:
        generation._events.put_nowait(event)
