"""Audit: one hash-chained record per request; tampering (edit, drop, reorder) fails verification,
through the library and `make audit-verify`; sealed segments go to an Object-Lock bucket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from pydantic import TypeAdapter

from platform_facts import project
from services.gateway import GatewayMiddleware
from services.gateway.accounting import AuditRecord
from services.gateway.audit import AuditLog, verify_bucket, verify_path
from tests.gateway.harness import ModelBench, auth, chat_body

REPO = Path(__file__).resolve().parents[2]


def _log(tmp_path: Path, count: int = 5) -> Path:
    log = AuditLog(tmp_path / "audit", stream="s1")
    for index in range(count):
        log.append({"request_id": f"r{index}", "tenant": "northwind", "status": 200})
    log.close()
    return log.path


def _rewrite(path: Path, change: Callable[[list[str]], list[str]]) -> None:
    path.write_text("\n".join(change(path.read_text().splitlines())) + "\n")


def test_an_untouched_log_verifies(tmp_path: Path) -> None:
    [result] = verify_path([_log(tmp_path)])
    assert result.ok and result.records == 5


def _edit(lines: list[str]) -> list[str]:
    record = json.loads(lines[2])
    record["status"] = 500
    lines[2] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return lines


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_edit, "s1.jsonl:3: record 2 hash mismatch: the record was edited"),
        (lambda lines: lines[:2] + lines[3:], "s1.jsonl:3: seq 3 where 2 was expected: a record was dropped"),
        (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], "s1.jsonl:2: seq 2 where 1 was expected: a record was dropped"),
        (lambda lines: [lines[1], lines[0], *lines[2:]], "s1.jsonl:1: seq 1 where 0 was expected: a record was dropped"),
    ],
    ids=["edited", "dropped", "reordered", "swapped-first"],
)
def test_tampering_fails_and_names_the_first_bad_record(
    tmp_path: Path, change: Callable[[list[str]], list[str]], message: str
) -> None:
    path = _log(tmp_path)
    _rewrite(path, change)
    [result] = verify_path([path])
    assert not result.ok
    assert result.error is not None and result.error.endswith(message)


def test_a_recomputed_hash_still_breaks_the_chain(tmp_path: Path) -> None:
    """An attacker who edits a record and fixes its hash breaks the next record's link."""
    from services.gateway.audit import record_hash

    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["tenant"] = "someone-else"
    record["hash"] = record_hash(record)
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    [result] = verify_path([path])
    assert result.error is not None and "record 2 does not link to record 1" in result.error


def test_make_audit_verify_exits_nonzero_on_tampering(tmp_path: Path) -> None:
    path = _log(tmp_path)
    ok = subprocess.run(["make", "-s", "-o", ".venv/.installed-all", "audit-verify", f"AUDIT_DIR={path.parent}", f"PY={sys.executable}"],
                        cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "5 records" in ok.stdout
    _rewrite(path, lambda lines: lines[:1] + lines[2:])
    bad = subprocess.run(["make", "-s", "-o", ".venv/.installed-all", "audit-verify", f"AUDIT_DIR={path.parent}", f"PY={sys.executable}"],
                         cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode != 0
    assert "seq 2 where 1 was expected" in bad.stdout


@pytest.mark.anyio
async def test_one_record_per_request_whatever_the_outcome(gateway: GatewayMiddleware, bench: ModelBench) -> None:
    bench.answers["gen-v1"] = "answer with bob@corp.example.org"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as client:
        statuses = [
            (await client.post("/v1/chat/completions", json=chat_body("mail jane@example.com"), headers=auth("northwind"))).status_code,
            (await client.post("/v1/chat/completions", json=chat_body())).status_code,
            (await client.post("/v1/embeddings", json={"model": f"{project.PROJECT_NAME}-embed", "input": "x"}, headers=auth("northwind_chat_only"))).status_code,
            (await client.post("/v1/chat/completions", content=b"{", headers=auth("northwind"))).status_code,
            (await client.get("/v1/models", headers=auth("northwind"))).status_code,
        ]
    records = [json.loads(line) for line in gateway.audit.path.read_text().splitlines()]
    assert [r["status"] for r in records] == statuses == [200, 401, 403, 400, 200]
    first = records[0]
    assert first["tenant"] == "northwind" and first["model_version"] == "gen-v1" and first["route"] == "/v1/chat/completions"
    assert first["tokens"]["completion"] == 3 and first["cost_usd"] > 0
    assert first["redactions"] == {"email": 2} and len(first["prompt_sha256"]) == 64
    text = gateway.audit.path.read_text()
    assert "jane@example.com" not in text and "bob@corp" not in text and "rk-test" not in text
    assert all(result.ok for result in verify_path([gateway.audit.path]))
    # Every record is exactly an AuditRecord plus the chain's own fields: no key missing, none extra.
    chain = {"seq", "prev", "stream", "hash"}
    for record in records:
        _assert_typed_dict(AuditRecord, {key: value for key, value in record.items() if key not in chain})


def _assert_typed_dict(schema: Any, value: Any) -> None:
    """`value` holds exactly the keys of the TypedDict `schema` (required ones present), each of its type."""
    assert isinstance(value, dict), value
    hints = typing.get_type_hints(schema)
    assert set(value) <= set(hints), set(value) - set(hints)
    assert schema.__required_keys__ <= set(value), schema.__required_keys__ - set(value)
    for key, item in value.items():
        hint = hints[key]
        if typing.get_origin(hint) is list and typing.is_typeddict(typing.get_args(hint)[0]):
            for element in item:
                _assert_typed_dict(typing.get_args(hint)[0], element)
        elif typing.is_typeddict(hint):
            _assert_typed_dict(hint, item)
        else:
            TypeAdapter(hint).validate_python(item, strict=True)


def _object_lock_bucket(endpoint: str) -> Any:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=f"{project.PROJECT_NAME}-audit", ObjectLockEnabledForBucket=True)
    return s3


@pytest.mark.anyio
async def test_segments_upload_to_the_object_lock_bucket(
    aws_endpoint: str, make_gateway: Callable[..., GatewayMiddleware]
) -> None:
    """moto server stands in for S3 (the cloud cannot exist here); Object Lock is enforced by it."""
    s3 = _object_lock_bucket(aws_endpoint)

    def upload(config: dict[str, Any]) -> None:
        config["audit"] = {"upload": {"bucket": f"{project.PROJECT_NAME}-audit", "prefix": "audit/", "retention_days": 30,
                                      "batch_records": 3}}

    gateway = make_gateway(upload, s3_client=s3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as client:
        for _ in range(4):
            await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    await gateway.drain()
    assert gateway.flush_audit() is not None
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=f"{project.PROJECT_NAME}-audit")["Contents"]]
    assert keys == [f"audit/{gateway.audit.stream}/000000000000-000000000002.jsonl",
                    f"audit/{gateway.audit.stream}/000000000003-000000000003.jsonl"]
    head = s3.head_object(Bucket=f"{project.PROJECT_NAME}-audit", Key=keys[0])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["Metadata"]["records"] == "3"
    [result] = verify_bucket(s3, f"{project.PROJECT_NAME}-audit", "audit/")
    assert result.ok and result.records == 4
    with pytest.raises(s3.exceptions.ClientError):
        versions = s3.list_object_versions(Bucket=f"{project.PROJECT_NAME}-audit", Prefix=keys[0])["Versions"]
        s3.delete_object(Bucket=f"{project.PROJECT_NAME}-audit", Key=keys[0], VersionId=versions[0]["VersionId"])


def test_segments_are_sealed_by_count_or_by_age(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit", stream="s")
    log.append({"n": 1})
    log.append({"n": 2})
    assert log.take_unsealed(at_least=3, max_age_s=3600) == []
    assert len(log.take_unsealed(at_least=3, max_age_s=0.0)) == 2  # a quiet replica still uploads
    assert log.take_unsealed(at_least=1) == []
    log.close()


def _upload_log(s3: Any, bucket: str, log_path: Path, stream: str) -> list[str]:
    """Two segments of one stream under `audit/`, keyed the way AuditUploader keys them."""
    lines = log_path.read_text().splitlines()
    keys = [f"audit/{stream}/000000000000-000000000002.jsonl", f"audit/{stream}/000000000003-000000000004.jsonl"]
    for key, segment in zip(keys, (lines[:3], lines[3:]), strict=True):
        s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(segment) + "\n").encode())
    return keys


def test_verify_reads_uploaded_segments_from_an_s3_uri(
    aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto server stands in for S3 (the cloud cannot exist here); the command finds it through AWS_ENDPOINT_URL,
    as it would find a real bucket through the SDK's usual settings."""
    from services.gateway.audit import main

    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    bucket = f"{project.PROJECT_NAME}-audit"
    s3 = _object_lock_bucket(aws_endpoint)
    keys = _upload_log(s3, bucket, _log(tmp_path), "s1")

    assert main(["verify", f"s3://{bucket}/audit"]) == 0
    assert f"ok    s3://{bucket}/audit/s1: 5 records" in capsys.readouterr().out

    # A later version of a segment with one record dropped: the chain no longer links.
    second = s3.get_object(Bucket=bucket, Key=keys[1])["Body"].read().decode().splitlines()
    s3.put_object(Bucket=bucket, Key=keys[1], Body=(second[1] + "\n").encode())
    assert main(["verify", f"s3://{bucket}/audit/"]) == 1
    assert "seq 4 where 3 was expected" in capsys.readouterr().out

    assert main(["verify", f"s3://{bucket}/nothing-here/"]) == 2
    assert "no audit streams" in capsys.readouterr().err
    assert main(["verify", "s3://no-such-bucket/audit/"]) == 2
    assert "cannot read s3://no-such-bucket/audit/" in capsys.readouterr().err
    assert main(["verify", "s3:///audit/"]) == 2
    assert "no bucket named" in capsys.readouterr().err


def test_make_audit_verify_takes_a_bucket(aws_endpoint: str, tmp_path: Path) -> None:
    """moto server stands in for S3 (the cloud cannot exist here)."""
    bucket = f"{project.PROJECT_NAME}-audit"
    _upload_log(_object_lock_bucket(aws_endpoint), bucket, _log(tmp_path), "s1")
    done = subprocess.run(
        ["make", "-s", "-o", ".venv/.installed-all", "audit-verify", f"AUDIT_DIR=s3://{bucket}/audit/",
         f"PY={sys.executable}"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "AWS_ENDPOINT_URL": aws_endpoint},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 records" in done.stdout
