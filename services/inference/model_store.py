"""Resolve a `ModelSource` to a verified local model directory.

A model directory's checksum is the sha256 of its manifest: one line `<sha256 of file>  <relative
path>` per regular file, sorted by path. The same function pins the bundled default model and
verifies `s3://` downloads, so a fork's own model takes the same path as the default one.

    python -m services.inference.model_store checksum DIR
    python -m services.inference.model_store upload DIR s3://bucket/prefix
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from platform_facts.project import PROJECT_NAME, env_var
from services.inference.errors import ModelChecksumError, ModelSourceError
from services.inference.settings import ModelSource

__all__ = ["DEFAULT_CACHE_DIR", "directory_sha256", "resolve_model_dir", "upload_model_dir"]

DEFAULT_CACHE_DIR = Path(os.environ.get(env_var("MODEL_CACHE"), Path.home() / ".cache" / PROJECT_NAME / "models"))
_CHUNK = 1 << 20


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def directory_sha256(directory: Path) -> str:
    """sha256 of the manifest of every regular file under `directory` (symlinks followed)."""
    if not directory.is_dir():
        raise ModelSourceError(f"{directory}: not a directory")
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    if not files:
        raise ModelSourceError(f"{directory}: no files")
    manifest = "".join(f"{_file_sha256(p)}  {p.relative_to(directory).as_posix()}\n" for p in files)
    return hashlib.sha256(manifest.encode()).hexdigest()


def _verify(directory: Path, expected: str | None, uri: str) -> None:
    if expected is None:
        return
    actual = directory_sha256(directory)
    if actual != expected:
        raise ModelChecksumError(f"{uri}: sha256 {actual} does not match the pinned {expected}; refusing to load")


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ModelSourceError(f"{uri}: no bucket in s3 URI")
    return bucket, prefix.strip("/")


def _s3_client(endpoint_url: str | None) -> Any:
    import boto3

    # boto3 also honours AWS_ENDPOINT_URL on its own; an explicit argument wins.
    return boto3.client("s3", endpoint_url=endpoint_url) if endpoint_url else boto3.client("s3")


def _download_s3(uri: str, sha256: str, cache_dir: Path, endpoint_url: str | None) -> Path:
    target = cache_dir / sha256
    if target.is_dir():
        _verify(target, sha256, str(target))
        return target
    bucket, prefix = _split_s3(uri)
    client = _s3_client(endpoint_url)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_dir))
    try:
        count = 0
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""
        ):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) :].lstrip("/") if prefix else item["Key"]
                if not relative or relative.endswith("/"):
                    continue
                destination = (staging / relative).resolve()
                if staging.resolve() not in destination.parents:
                    raise ModelSourceError(f"{uri}: object key {item['Key']!r} escapes the model directory")
                destination.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, item["Key"], str(destination))
                count += 1
        if count == 0:
            raise ModelSourceError(f"{uri}: no objects under this prefix")
        _verify(staging, sha256, uri)
        staging.rename(target)
        return target
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def resolve_model_dir(source: ModelSource, *, cache_dir: Path | None = None, endpoint_url: str | None = None) -> Path:
    """A local directory holding the model files of `source`, verified against its sha256."""
    uri = source.uri
    if uri.startswith("s3://"):
        assert source.sha256 is not None  # ModelSource requires it for s3://
        return _download_s3(uri, source.sha256, cache_dir or DEFAULT_CACHE_DIR, endpoint_url)
    if uri.startswith("pkg:"):
        package = uri.removeprefix("pkg:")
        try:
            directory = Path(importlib.import_module(package).get_model_path())
        except (ImportError, AttributeError) as error:
            raise ModelSourceError(f"{uri}: cannot import {package}.get_model_path(): {error}") from error
    else:
        directory = Path(uri).expanduser()
    if not directory.is_dir():
        raise ModelSourceError(f"{uri}: model directory {directory} does not exist")
    _verify(directory, source.sha256, uri)
    return directory


def upload_model_dir(directory: Path, uri: str, *, endpoint_url: str | None = None) -> str:
    """Upload every file under `directory` to `uri` (s3://bucket/prefix); returns the sha256 to pin."""
    bucket, prefix = _split_s3(uri)
    client = _s3_client(endpoint_url)
    checksum = directory_sha256(directory)
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        key = "/".join(part for part in (prefix, path.relative_to(directory).as_posix()) if part)
        client.upload_file(str(path), bucket, key)
    return checksum


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.inference.model_store", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    checksum = commands.add_parser("checksum", help="print the sha256 to pin for a model directory")
    checksum.add_argument("directory", type=Path)
    upload = commands.add_parser("upload", help="upload a model directory to s3 and print its sha256")
    upload.add_argument("directory", type=Path)
    upload.add_argument("uri")
    args = parser.parse_args(argv)
    try:
        if args.command == "checksum":
            print(directory_sha256(args.directory))
        else:
            print(upload_model_dir(args.directory, args.uri))
    except ModelSourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
