"""Model sources: s3:// downloads against moto server, checksums, and loading what was downloaded.

The cloud cannot exist here: S3 is moto in server mode (real HTTP, boto3's real wire protocol).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import boto3
import pytest

from platform_facts import project
from services.inference.errors import ModelChecksumError, ModelSourceError
from services.inference.generator import TransformersChat
from services.inference.model_store import directory_sha256, resolve_model_dir, upload_model_dir
from services.inference.schemas import ChatCompletionRequest
from services.inference.settings import GeneratorSettings, ModelSource
from tests.services.tiny_models import build_tiny_causal_lm


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def bucket(aws_endpoint: str) -> str:
    boto3.client("s3", endpoint_url=aws_endpoint).create_bucket(Bucket=f"{project.PROJECT_NAME}-models-test")
    return f"{project.PROJECT_NAME}-models-test"


def test_checksum_covers_content_and_names(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "weights.bin").write_bytes(b"\x00\x01")
    first = directory_sha256(tmp_path / "a")
    (tmp_path / "a" / "weights.bin").write_bytes(b"\x00\x02")
    assert directory_sha256(tmp_path / "a") != first
    (tmp_path / "a" / "weights.bin").rename(tmp_path / "a" / "other.bin")
    assert len({first, directory_sha256(tmp_path / "a")}) == 2


def test_s3_model_is_downloaded_verified_and_loads(tiny_model: Path, bucket: str, aws_endpoint: str, tmp_path: Path) -> None:
    sha256 = upload_model_dir(tiny_model, f"s3://{bucket}/llm/tiny", endpoint_url=aws_endpoint)
    source = ModelSource(uri=f"s3://{bucket}/llm/tiny", sha256=sha256)
    local = resolve_model_dir(source, cache_dir=tmp_path / "cache", endpoint_url=aws_endpoint)
    assert local == tmp_path / "cache" / sha256
    assert sorted(p.name for p in local.iterdir()) == sorted(p.name for p in tiny_model.iterdir())
    chat = TransformersChat(GeneratorSettings(engine="transformers", model_name="tiny", source=source, max_new_tokens=8), local)
    request = ChatCompletionRequest(model="tiny", messages=[{"role": "user", "content": "hello"}], max_tokens=4, temperature=0)  # type: ignore[list-item]
    completion = asyncio.run(chat.complete(request))
    assert completion.usage.completion_tokens == 4 and completion.choices[0].finish_reason == "length"


def test_s3_model_with_the_wrong_checksum_is_refused_and_not_cached(tiny_model: Path, bucket: str, aws_endpoint: str, tmp_path: Path) -> None:
    sha256 = upload_model_dir(tiny_model, f"s3://{bucket}/llm/tiny", endpoint_url=aws_endpoint)
    tampered = tiny_model.parent / "tampered"
    tampered.mkdir()
    for file in tiny_model.iterdir():
        (tampered / file.name).write_bytes(file.read_bytes())
    (tampered / "config.json").write_text((tiny_model / "config.json").read_text().replace("32", "33", 1))
    upload_model_dir(tampered, f"s3://{bucket}/llm/tiny", endpoint_url=aws_endpoint)  # same key, other bytes
    cache = tmp_path / "cache"
    with pytest.raises(ModelChecksumError, match=f"does not match the pinned {sha256}; refusing to load"):
        resolve_model_dir(ModelSource(uri=f"s3://{bucket}/llm/tiny", sha256=sha256), cache_dir=cache, endpoint_url=aws_endpoint)
    assert list(cache.iterdir()) == []


def test_missing_s3_prefix_is_a_clear_error(bucket: str, aws_endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match="no objects under this prefix"):
        resolve_model_dir(ModelSource(uri=f"s3://{bucket}/nothing", sha256="a" * 64), cache_dir=tmp_path, endpoint_url=aws_endpoint)


def test_bundled_default_model_matches_its_pinned_checksum() -> None:
    from services.config import serve_config
    from services.inference.settings import AppArgs

    source = AppArgs.model_validate(serve_config("local")["applications"][0]["args"]).embedder.source
    assert resolve_model_dir(source).is_dir()
    with pytest.raises(ModelChecksumError):
        resolve_model_dir(ModelSource(uri=source.uri, sha256="f" * 64))
