"""The audit trail: one record per request, in an append-only, hash-chained log.

Each gateway process writes its own stream (`audit/<stream>.jsonl`): a single writer keeps
the chain linear without cross-process locking. Every record carries its sequence number, the
hash of the previous record and its own hash (SHA-256 over the canonical JSON of everything
else), so `verify_stream` finds any edited record (hash mismatch), dropped or reordered record
(sequence gap, broken link). Records hold no raw text: prompts appear as SHA-256 digests,
scanner findings as kinds and counts.

In the cloud, sealed segments of the log are uploaded to the Object-Lock audit bucket with a
retention date, so not even the account owner can rewrite them (`AuditUploader`).

    python -m services.gateway.audit verify DIR_OR_FILE...            (exit 1 naming the first bad record)
    python -m services.gateway.audit verify s3://BUCKET/PREFIX...     (the uploaded segments, in key order)

A bucket is read with the SDK's usual settings (credentials, `AWS_REGION`, `AWS_ENDPOINT_URL`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.gateway.config import AuditUploadConfig

__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditUploader",
    "VerificationResult",
    "main",
    "record_hash",
    "verify_bucket",
    "verify_lines",
    "verify_path",
]

GENESIS_HASH = "0" * 64


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the record without its own `hash` field."""
    body = {key: value for key, value in record.items() if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class AuditLog:
    """This process's audit stream. `append` is thread-safe and flushes every record."""

    def __init__(self, directory: Path, stream: str | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.stream = stream or f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.path = directory / f"{self.stream}.jsonl"
        self._lock = threading.Lock()
        self._seq, self._head = _tail_of(self.path)
        self._file = self.path.open("a", encoding="utf-8")
        self._unsealed: list[str] = []
        self._unsealed_since = 0.0

    @property
    def count(self) -> int:
        return self._seq

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            record = {"seq": self._seq, "prev": self._head, "stream": self.stream, **fields}
            record["hash"] = record_hash(record)
            line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            self._file.write(line + "\n")
            self._file.flush()
            self._seq += 1
            self._head = record["hash"]
            if not self._unsealed:
                self._unsealed_since = time.monotonic()
            self._unsealed.append(line)
            return record

    def take_unsealed(self, at_least: int, max_age_s: float | None = None) -> list[str]:
        """Hand out the records not yet uploaded, once there are `at_least` of them or the oldest
        has waited `max_age_s`."""
        with self._lock:
            if not self._unsealed:
                return []
            old_enough = max_age_s is not None and time.monotonic() - self._unsealed_since >= max_age_s
            if len(self._unsealed) < at_least and not old_enough:
                return []
            lines, self._unsealed = self._unsealed, []
            return lines

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _tail_of(path: Path) -> tuple[int, str]:
    """Resume a stream after its last record (only when a stream name is reused)."""
    if not path.exists():
        return 0, GENESIS_HASH
    last = None
    with path.open(encoding="utf-8") as file:
        for line in file:
            if line.strip():
                last = line
    if last is None:
        return 0, GENESIS_HASH
    record = json.loads(last)
    return int(record["seq"]) + 1, str(record["hash"])


@dataclass(frozen=True)
class VerificationResult:
    source: str
    records: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def verify_lines(source: str, lines: Iterable[str]) -> VerificationResult:
    """Check one stream: sequence, links and hashes. The error names the first bad record."""
    expected_seq, previous_hash, count = 0, GENESIS_HASH, 0
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{line_number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return VerificationResult(source, count, f"{where}: not valid JSON (record damaged)")
        seq = record.get("seq")
        if seq != expected_seq:
            why = "a record was dropped" if isinstance(seq, int) and seq > expected_seq else "records are out of order"
            return VerificationResult(source, count, f"{where}: seq {seq} where {expected_seq} was expected: {why}")
        if record.get("prev") != previous_hash:
            return VerificationResult(
                source, count, f"{where}: record {seq} does not link to record {seq - 1} (prev hash differs): "
                "a record before it was dropped, reordered or edited",
            )
        if record.get("hash") != record_hash(record):
            return VerificationResult(source, count, f"{where}: record {seq} hash mismatch: the record was edited")
        expected_seq, previous_hash, count = seq + 1, record["hash"], count + 1
    return VerificationResult(source, count)


def _stream_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(path.glob("*.jsonl"))
        else:
            yield path


def verify_path(paths: Iterable[Path]) -> list[VerificationResult]:
    results = []
    for path in _stream_files(paths):
        with path.open(encoding="utf-8") as file:
            results.append(verify_lines(str(path), file))
    return results


class AuditUploader:
    """Uploads sealed segments of a stream to the Object-Lock bucket (boto3)."""

    def __init__(self, config: AuditUploadConfig, s3_client: Any = None) -> None:
        self._config = config
        self._s3 = s3_client or _s3_client(config.region)

    def upload(self, stream: str, lines: list[str]) -> str:
        """Put one segment with Object Lock retention; returns its object key."""
        first, last = json.loads(lines[0]), json.loads(lines[-1])
        key = f"{self._config.prefix}{stream}/{first['seq']:012d}-{last['seq']:012d}.jsonl"
        retain_until = dt.datetime.now(dt.UTC) + dt.timedelta(days=self._config.retention_days)
        body = ("\n".join(lines) + "\n").encode()
        self._s3.put_object(
            Bucket=self._config.bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            ObjectLockMode=self._config.mode,
            ObjectLockRetainUntilDate=retain_until,
            ChecksumAlgorithm="SHA256",
            Metadata={"chain-head": last["hash"], "records": str(len(lines))},
        )
        return key


def verify_bucket(s3_client: Any, bucket: str, prefix: str) -> list[VerificationResult]:
    """Verify every stream uploaded under `prefix`: segments in key order are one chain each."""
    streams: dict[str, list[str]] = {}
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            stream = item["Key"][len(prefix):].split("/", 1)[0]
            streams.setdefault(stream, []).append(item["Key"])
    results = []
    for stream, keys in sorted(streams.items()):
        lines: list[str] = []
        for key in sorted(keys):
            lines.extend(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines())
        results.append(verify_lines(f"s3://{bucket}/{prefix}{stream}", lines))
    return results


def _s3_client(region: str | None) -> Any:
    import boto3

    return boto3.client("s3", region_name=region)


S3_SCHEME = "s3://"


def _split_s3(target: str) -> tuple[str, str]:
    """`s3://bucket/prefix` → (bucket, prefix): the prefix may be empty and always ends a folder, because
    each stream's segments sit one folder below it (`<prefix>/<stream>/<first>-<last>.jsonl`)."""
    bucket, _, prefix = target[len(S3_SCHEME):].partition("/")
    return bucket, (prefix.rstrip("/") + "/" if prefix.strip("/") else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway.audit")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify", help="verify hash-chained audit logs (files, directories, or s3://bucket/prefix of uploaded segments)"
    )
    verify.add_argument("targets", nargs="+", metavar="DIR_FILE_OR_S3_URI")
    args = parser.parse_args(argv)
    buckets = [_split_s3(target) for target in args.targets if target.startswith(S3_SCHEME)]
    paths = [Path(target) for target in args.targets if not target.startswith(S3_SCHEME)]
    unnamed = [f"{S3_SCHEME}{bucket}/{prefix}" for bucket, prefix in buckets if not bucket]
    if unnamed:
        print(f"audit-verify: no bucket named in {', '.join(unnamed)} (s3://BUCKET/PREFIX)", file=sys.stderr)
        return 2
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        print(f"audit-verify: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    results = verify_path(paths) if paths else []
    if buckets:
        from botocore.exceptions import BotoCoreError, ClientError

        s3 = _s3_client(None)
        for bucket, prefix in buckets:
            try:
                results.extend(verify_bucket(s3, bucket, prefix))
            except (BotoCoreError, ClientError) as error:
                print(f"audit-verify: cannot read s3://{bucket}/{prefix}: {error}", file=sys.stderr)
                return 2
    if not results:
        print(f"audit-verify: no audit streams (*.jsonl) under {', '.join(args.targets)}", file=sys.stderr)
        return 2
    for result in results:
        if result.ok:
            print(f"ok    {result.source}: {result.records} records")
        else:
            print(f"FAIL  {result.error}")
    return 0 if all(result.ok for result in results) else 1

if __name__ == "__main__":
    sys.exit(main())
