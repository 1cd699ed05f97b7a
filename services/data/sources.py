"""Where documents come from: a local directory or an S3 prefix, listed in a stable order.

Each document arrives as raw bytes with the identity lineage needs: its id (the key relative to
the source root), its full location, and the source's own version of it (S3 `VersionId` on a
versioned bucket, else the ETag; a file's modification time and size). A document larger than the
size limit is listed but not read, so one huge object cannot exhaust memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from services.data.errors import SourceError
from services.data.metadata import METADATA_SIDECAR_SUFFIX

__all__ = ["CombinedSource", "DirectorySource", "DocumentSource", "RawDocument", "S3Source", "open_source"]

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".rst", ".html", ".htm")


@dataclass(frozen=True)
class RawDocument:
    """One document as its source holds it."""

    document_id: str
    """Key relative to the source root (`serving.md`, `guides/quotas.md`): what passages cite."""
    location: str
    """Full location: a path or `s3://bucket/key`."""
    source_version: str
    """The source's version of this document (S3 VersionId or ETag; file mtime and size)."""
    size: int
    """Bytes, as listed."""
    data: bytes | None
    """The content; None when `size` exceeds the limit (not read)."""
    sidecar: bytes | None = None
    """The `<name>.meta.yaml` next to it, if any."""


class DocumentSource(Protocol):
    uri: str

    def documents(self, max_bytes: int) -> Iterator[RawDocument]:
        """Every document under the source, sorted by id; bodies over `max_bytes` are not read."""
        ...

    def read(self, document_id: str, max_bytes: int) -> RawDocument:
        """One listed document (a Ray worker reads its share this way)."""
        ...


def _indexable(name: str) -> bool:
    return not name.endswith(METADATA_SIDECAR_SUFFIX) and not Path(name).name.startswith(".")


class DirectorySource:
    """Every file under a directory (sidecars are read with their document, never on their own)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise SourceError(f"SOURCE: {root} is not a directory")
        self.root = root
        self.uri = str(root)

    def documents(self, max_bytes: int) -> Iterator[RawDocument]:
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            document_id = path.relative_to(self.root).as_posix()
            if _indexable(document_id):
                yield self.read(document_id, max_bytes)

    def read(self, document_id: str, max_bytes: int) -> RawDocument:
        path = (self.root / document_id).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise SourceError(f"SOURCE: {document_id!r} is not a file under {self.root}")
        stat = path.stat()
        sidecar = path.with_name(path.name + METADATA_SIDECAR_SUFFIX)
        return RawDocument(
            document_id=document_id,
            location=str(path),
            source_version=f"mtime_ns={stat.st_mtime_ns},size={stat.st_size}",
            size=stat.st_size,
            data=path.read_bytes() if stat.st_size <= max_bytes else None,
            sidecar=sidecar.read_bytes() if sidecar.is_file() else None,
        )


class S3Source:
    """Every object under `s3://bucket/prefix`; works against any S3 API (moto in the tests)."""

    def __init__(self, uri: str, client: Any = None) -> None:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise SourceError(f"SOURCE: {uri!r} is not an s3://bucket/prefix URI")
        self.uri = uri
        self.bucket = parsed.netloc
        self.prefix = parsed.path.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client

    def _objects(self) -> dict[str, dict[str, Any]]:
        objects: dict[str, dict[str, Any]] = {}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    objects[item["Key"]] = item
        except Exception as error:  # botocore's errors are generated classes; name what failed
            raise SourceError(f"SOURCE: cannot list {self.uri}: {error}") from None
        return objects

    def _read(self, key: str) -> tuple[bytes, str]:
        response = self.client.get_object(Bucket=self.bucket, Key=key)
        version = response.get("VersionId")
        etag = str(response.get("ETag", "")).strip('"')
        body: bytes = response["Body"].read()
        return body, f"version_id={version}" if version and version != "null" else f"etag={etag}"

    def documents(self, max_bytes: int) -> Iterator[RawDocument]:
        objects = self._objects()
        for key in sorted(objects):
            document_id = key[len(self.prefix) :]
            if document_id and _indexable(document_id):
                yield self._document(key, objects, max_bytes)

    def read(self, document_id: str, max_bytes: int) -> RawDocument:
        key = self.prefix + document_id
        objects: dict[str, dict[str, Any]] = {}
        for name in (key, key + METADATA_SIDECAR_SUFFIX):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=name)
            except Exception:  # botocore's ClientError: absent (a sidecar usually is)
                continue
            objects[name] = {"Size": head["ContentLength"], "ETag": head.get("ETag", "")}
        if key not in objects:
            raise SourceError(f"SOURCE: s3://{self.bucket}/{key} no longer exists")
        return self._document(key, objects, max_bytes)

    def _document(self, key: str, objects: dict[str, dict[str, Any]], max_bytes: int) -> RawDocument:
        document_id = key[len(self.prefix) :]
        size = int(objects[key]["Size"])
        sidecar_key = key + METADATA_SIDECAR_SUFFIX
        sidecar = self._read(sidecar_key)[0] if sidecar_key in objects else None
        if size > max_bytes:
            data, version = None, f"etag={str(objects[key].get('ETag', '')).strip(chr(34))}"
        else:
            data, version = self._read(key)
        return RawDocument(
            document_id=document_id,
            location=f"s3://{self.bucket}/{key}",
            source_version=version,
            size=size,
            data=data,
            sidecar=sidecar,
        )


def open_source(uri: str, *, s3_client: Any = None) -> DocumentSource:
    """The source for `SOURCE=`: `s3://bucket/prefix` or a directory."""
    if uri.startswith("s3://"):
        return S3Source(uri, s3_client)
    return DirectorySource(Path(uri).expanduser().resolve())


class CombinedSource:
    """Several sources read as one (a retriever's `corpus` list); document ids stay as each source gives them."""

    def __init__(self, sources: list[DocumentSource]) -> None:
        if not sources:
            raise SourceError("SOURCE: no source given")
        self.sources = sources
        self.uri = " + ".join(source.uri for source in sources)

    def documents(self, max_bytes: int) -> Iterator[RawDocument]:
        for source in self.sources:
            yield from source.documents(max_bytes)

    def read(self, document_id: str, max_bytes: int) -> RawDocument:
        for source in self.sources:
            try:
                return source.read(document_id, max_bytes)
            except SourceError:
                continue
        raise SourceError(f"SOURCE: no source in {self.uri} holds {document_id!r}")
