"""The served side of the versioned document index (services/data writes it; no Ray here).

`DocumentIndex` serves one version of the LanceDB passages table: the version pinned in config,
or, unpinned, the store's serving pin, which `ingest` and `rollback` move and replicas pick up
within `index.refresh_s`. A switch replaces one reference: a query already running finishes on
the version it started with, so switching drops no request. `reindex` runs the ingestion pipeline
over the configured corpus, writes a new version and serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.data.chunking import Chunk, chunk_markdown
from services.data.index_store import IndexSnapshot, IndexStore, PassageFilter, SearchHit
from services.data.pipeline import Embed, ingest
from services.data.settings import IngestSettings
from services.data.sources import CombinedSource, DocumentSource, open_source
from services.inference.schemas import Passage, ReindexResult
from services.inference.settings import IndexSettings, RetrieverSettings

__all__ = [
    "PROGRESS_PREFIX", "PROJECT_ROOT", "Chunk", "DocumentIndex", "PassageFilter", "chunk_markdown", "corpus_source",
    "index_store", "log_progress", "passages_of",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]

logger = logging.getLogger(__name__)

PROGRESS_PREFIX = "retriever: "
"""Starts each progress line of an index build in the replica's log; `make up` shows them while it waits."""


_replica_log = logging.getLogger("ray.serve")
"""Serve writes this logger's INFO lines to the replica's log file (a module logger's are dropped there)."""


def log_progress(line: str) -> None:
    _replica_log.info("%s%s", PROGRESS_PREFIX, line.strip())


def corpus_source(corpus: list[str], root: Path = PROJECT_ROOT) -> DocumentSource:
    """The corpus entries as one source: `s3://` prefixes as they are, paths against `root`."""
    sources: list[DocumentSource] = []
    for entry in corpus:
        if entry.startswith("s3://"):
            sources.append(open_source(entry))
            continue
        path = Path(entry) if Path(entry).is_absolute() else root / entry
        if not path.is_dir():
            raise FileNotFoundError(f"retriever.corpus: {entry!r} ({path}) is not a directory")
        sources.append(open_source(str(path)))
    return sources[0] if len(sources) == 1 else CombinedSource(sources)


def index_store(settings: IndexSettings) -> IndexStore:
    """The store `settings` names; a relative `uri` lives under the local state dir."""
    uri = settings.uri
    if not uri.startswith("s3://") and not Path(uri).is_absolute():
        from services.local import STATE_DIR

        uri = str(STATE_DIR / uri)
    return IndexStore(uri, settings.table)


class DocumentIndex:
    """One served version of the index, switched atomically."""

    def __init__(self, settings: RetrieverSettings, store: IndexStore, snapshot: IndexSnapshot, embed: Embed) -> None:
        self.settings = settings
        self.store = store
        self.snapshot = snapshot
        self.embed = embed
        self._refreshed = time.monotonic()
        self._refreshing: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()

    @classmethod
    async def open(cls, settings: RetrieverSettings, embed: Embed) -> tuple[DocumentIndex, ReindexResult]:
        """The configured version; with `bootstrap`, the corpus is ingested first when the index is empty."""
        started = time.perf_counter()
        store = await asyncio.to_thread(index_store, settings.index)
        if settings.bootstrap and not await asyncio.to_thread(store.versions):
            log_progress(f"no index at {store.uri} yet, ingesting {settings.corpus}")
            dimensions = int((await embed(["the embedding's dimensions"])).shape[1])
            await ingest(corpus_source(settings.corpus), store, ingest_settings(settings), embed, dimensions,
                         progress=log_progress)
        version = settings.index.version or await asyncio.to_thread(store.serving_version)
        snapshot = await asyncio.to_thread(store.open, version)
        index = cls(settings, store, snapshot, embed)
        return index, index._result(time.perf_counter() - started)

    @property
    def version(self) -> int:
        return self.snapshot.version

    def _result(self, seconds: float) -> ReindexResult:
        run = self.store.run_for_version(self.version)
        return ReindexResult(documents=len(run.documents), passages=self.snapshot.rows, seconds=round(seconds, 3),
                             version=self.version, run_id=run.run_id)

    async def search(self, query_vector: npt.NDArray[np.float32], k: int,
                     passage_filter: PassageFilter | None = None) -> list[Passage]:
        """The `k` passages closest to `query_vector` that `passage_filter` admits, best first."""
        self._maybe_refresh()
        snapshot = self.snapshot  # this query's version, whatever a switch does meanwhile
        hits = await asyncio.to_thread(snapshot.search, query_vector, k, passage_filter)
        return passages_of(hits, snapshot.version)

    def _maybe_refresh(self) -> None:
        if self.settings.index.version is not None or self._refreshing is not None:
            return
        if time.monotonic() - self._refreshed < self.settings.index.refresh_s:
            return
        self._refreshed = time.monotonic()
        self._refreshing = asyncio.get_running_loop().create_task(self._follow_pin())

    async def _follow_pin(self) -> None:
        try:
            wanted = await asyncio.to_thread(self.store.serving_version)
            if wanted != self.version:
                await self.switch(wanted)
        except Exception:  # a store hiccup must not break queries: keep serving the current version
            logger.exception("retriever: could not read the serving pin of %s", self.store.uri)
        finally:
            self._refreshing = None

    async def switch(self, version: int) -> None:
        """Serve `version` from now on (opened before the switch, so no query waits)."""
        snapshot = await asyncio.to_thread(self.store.open, version)
        previous, self.snapshot = self.snapshot.version, snapshot
        _replica_log.info("retriever: serving %s version %d (was %d)", self.store.table_name, version, previous)

    async def reindex(self) -> ReindexResult:
        """Ingest the corpus into a new version and serve it (pinned replicas keep their version)."""
        started = time.perf_counter()
        async with self._writing:
            pinned = self.settings.index.version is not None
            result = await ingest(corpus_source(self.settings.corpus), self.store, ingest_settings(self.settings),
                                  self.embed, self.snapshot.dimensions, progress=log_progress, serve=not pinned)
            if not pinned:
                await self.switch(result.version)
        return self._result(time.perf_counter() - started)

    async def rollback(self, version: int) -> ReindexResult:
        """Serve an earlier version again, here and (through the serving pin) in every unpinned replica."""
        started = time.perf_counter()
        await asyncio.to_thread(self.store.serve, version, "rollback")
        await self.switch(version)
        return self._result(time.perf_counter() - started)

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing


def ingest_settings(settings: RetrieverSettings) -> IngestSettings:
    return IngestSettings(chunk_chars=settings.chunk_chars, secrets=settings.secrets, pii=settings.pii)


def passages_of(hits: list[SearchHit], index_version: int) -> list[Passage]:
    """Index hits as the API's passages, each naming the index version it was served from (lineage)."""
    return [Passage(source=hit.source, text=hit.text, score=hit.score, id=hit.chunk_id,
                    content_sha256=hit.content_sha256, index_version=index_version) for hit in hits]
