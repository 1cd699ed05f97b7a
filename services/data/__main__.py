"""`python -m services.data ingest|versions|rollback|lineage` — behind `make ingest` and `make lineage`.

The index location comes from the retriever block of the Serve config (`--env`, default `local`:
`.rampart/index`), `--uri` overrides it; the embedding model is that config's embedder, so
passages are embedded with exactly the model queries are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.data.errors import DataError
from services.data.index_store import IndexStore
from services.data.lineage_trace import find_audit_record, trace_lineage
from services.data.pipeline import ingest
from services.data.quality import render_report
from services.data.settings import IngestSettings
from services.data.sources import open_source

__all__ = ["main"]


def _store(env: str, uri: str | None, table: str | None) -> IndexStore:
    from services.config import serve_config
    from services.inference.retriever import index_store
    from services.inference.settings import IndexSettings, RetrieverSettings

    retriever = RetrieverSettings.model_validate(serve_config(env)["applications"][0]["args"]["retriever"])
    settings = retriever.index.model_copy(update={k: v for k, v in (("uri", uri), ("table", table)) if v})
    return index_store(IndexSettings.model_validate(settings.model_dump()))


def _ingest(args: argparse.Namespace) -> int:
    from services.config import serve_config
    from services.inference.embedder import SentenceEmbedder
    from services.inference.settings import EmbedderSettings

    store = _store(args.env, args.uri, args.index)
    embedder = SentenceEmbedder.from_settings(
        EmbedderSettings.model_validate(serve_config(args.env)["applications"][0]["args"]["embedder"])
    )

    async def embed(texts: list[str]) -> npt.NDArray[np.float32]:
        return await asyncio.to_thread(embedder.encode, texts)

    settings = IngestSettings(chunk_chars=args.chunk_chars, secrets=args.secrets, pii=args.pii)
    result = asyncio.run(ingest(open_source(args.source), store, settings, embed, embedder.dimensions,
                                progress=lambda line: print(line, flush=True), serve=not args.no_serve))
    print(render_report(result.report))
    if args.report:
        Path(args.report).write_text(result.report.model_dump_json(indent=2) + "\n")
    return 0


def _versions(args: argparse.Namespace) -> int:
    store = _store(args.env, args.uri, args.index)
    serving = store.serving_version() if store.versions() else None
    for run in store.runs():
        outcomes = run.report.get("outcomes", {})
        marker = "*" if run.table_version == serving else " "
        print(f"{marker} version {run.table_version:>4}  run {run.run_id}  {run.finished}  {run.source_uri}  "
              f"{json.dumps(outcomes)}")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    store = _store(args.env, args.uri, args.index)
    store.serve(args.version, "rollback")
    print(f"{store.uri}#{store.table_name}: replicas following the serving pin switch to version {args.version}")
    return 0


def _lineage(args: argparse.Namespace) -> int:
    from services.gateway.config import state_dir_for

    audit_dir = Path(args.audit_dir) if args.audit_dir else state_dir_for(args.env) / "audit"
    record = find_audit_record(audit_dir, args.request)
    print(trace_lineage(record, _store(args.env, args.uri, args.index)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.data", description=__doc__)
    parser.add_argument("--env", default="local", help="Serve config whose retriever and embedder to use")
    parser.add_argument("--uri", help="index location (directory or s3://bucket/prefix); default: from the config")
    parser.add_argument("--index", help="table name inside the index location; default: from the config")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("ingest", help="validate, chunk, embed and write a new index version")
    run.add_argument("source", help="a directory or s3://bucket/prefix")
    run.add_argument("--chunk-chars", type=int, default=800)
    run.add_argument("--secrets", choices=["quarantine", "redact"], default="quarantine")
    run.add_argument("--pii", choices=["quarantine", "redact", "keep"], default="redact")
    run.add_argument("--no-serve", action="store_true", help="write the version without pointing serving at it")
    run.add_argument("--report", help="also write the quality report as JSON here")
    commands.add_parser("versions", help="list versions with their runs (* = served)")
    back = commands.add_parser("rollback", help="serve an earlier version again")
    back.add_argument("version", type=int)
    lineage = commands.add_parser("lineage", help="answer -> passages -> documents -> run -> source")
    lineage.add_argument("request", help="the request id (x-request-id, audit `request_id`)")
    lineage.add_argument("--audit-dir", help="default: the gateway's state dir for --env")
    args = parser.parse_args(argv)
    handlers = {"ingest": _ingest, "versions": _versions, "rollback": _rollback, "lineage": _lineage}
    try:
        return handlers[args.command](args)
    except (DataError, LookupError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
