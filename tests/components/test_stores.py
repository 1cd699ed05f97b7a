"""`ModelStore` and `AuditStore` under mocks: every bucket hardened, the audit bucket write-once.

The AWS provider cannot run here; the stack is rendered with Pulumi mocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from components.audit_store import AuditStoreSettings
from components.model_store import ModelStoreSettings
from components.settings import SettingsError
from platform_facts import project
from stacks.plan import PlanGraph, PlannedResource

Render = Callable[[str], PlanGraph]
STORES = (project.type_token("ModelStore"), project.type_token("AuditStore"))


def _bucket_part(graph: PlanGraph, bucket: PlannedResource, type_token: str) -> PlannedResource:
    (part,) = [r for r in graph.of_type(type_token) if r.inputs.get("bucket") == bucket.id]
    return part


def _buckets(graph: PlanGraph) -> list[PlannedResource]:
    return graph.of_type("aws:s3/bucket:Bucket")


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_bucket_blocks_public_access(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    assert len(_buckets(graph)) >= 2
    for bucket in _buckets(graph):
        block = _bucket_part(graph, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
            assert block.inputs[flag] is True, f"{bucket.urn}: {flag} must be true"


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_every_bucket_is_kms_encrypted_versioned_and_tls_only(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    (key,) = graph.of_type("aws:kms/key:Key")
    for bucket in _buckets(graph):
        encryption = _bucket_part(graph, bucket, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        default = encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]}, bucket.urn
        versioning = _bucket_part(graph, bucket, "aws:s3/bucketVersioning:BucketVersioning")
        assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled", bucket.urn
        policy = json.loads(_bucket_part(graph, bucket, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
        insecure = [s for s in policy["Statement"] if s["Condition"].get("Bool", {}).get("aws:SecureTransport") == "false"]
        assert insecure and insecure[0]["Effect"] == "Deny" and insecure[0]["Action"] == "s3:*", bucket.urn
        lifecycle = _bucket_part(graph, bucket, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        assert all(rule["status"] == "Enabled" for rule in lifecycle.inputs["rules"]), bucket.urn


def test_audit_bucket_is_locked_in_compliance_mode_for_the_configured_retention(rendered: Render) -> None:
    for environment, days in (("prod", 2555), ("staging", 365), ("dev", 30)):
        graph = rendered(environment)
        (lock,) = graph.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
        assert lock.inputs["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": days}, lock.urn
        bucket = graph.by_id(lock.inputs["bucket"])
        assert bucket.inputs["objectLockEnabled"] is True and bucket.protect, bucket.urn


def test_model_bucket_protection_follows_config(rendered: Render) -> None:
    def model_bucket(environment: str) -> PlannedResource:
        graph = rendered(environment)
        (store,) = graph.of_type(project.type_token("ModelStore"))
        (bucket,) = [r for r in graph.descendants(store.urn) if r.type == "aws:s3/bucket:Bucket"]
        return bucket

    assert model_bucket("prod").protect and not model_bucket("prod").inputs.get("forceDestroy")
    assert not model_bucket("dev").protect and model_bucket("dev").inputs["forceDestroy"] is True


def test_bad_store_settings_name_the_field() -> None:
    with pytest.raises(SettingsError) as raised:
        ModelStoreSettings(noncurrent_version_days=0)
    assert str(raised.value) == "ModelStoreSettings: noncurrent_version_days: Input should be greater than 0 (got 0)"
    with pytest.raises(SettingsError) as raised:
        AuditStoreSettings(retention_days=365, archive_after_days=400)
    assert str(raised.value) == (
        "AuditStoreSettings: archive_after_days: must be shorter than retention_days (365) (got 400)"
    )
