"""Which pack rules judge what each upstream policy of the labelled fixture sets judges.

Keys are the upstream policy ids as the sets name them (Pulumi's compliance-policies, Kyverno,
Gatekeeper, Polaris, Sentinel, KICS); values are the pack rules whose violations count as that
policy's "fail", and the settings those rules need to ask what upstream's parameters ask. Upstream
policies the pack has no rule for are absent: their rows are counted as not evaluated, never guessed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["UPSTREAM_RULES", "Rules"]

Rules = tuple[str, ...]
# Capabilities the Pod Security "baseline" profile lets a container add (the runtime's default set).
BASELINE_CAPABILITIES = (
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
)
UPSTREAM_RULES: dict[str, tuple[Rules, dict[str, dict[str, Any]]]] = {
    # Pulumi compliance-policies (AWS)
    "aws-ec2-instance-disallow-public-ip": (("no-public-ip-on-instances",), {}),
    "aws-ec2-instance-disallow-unencrypted-block-device": (("block-devices-encrypted",), {}),
    "aws-ec2-instance-disallow-unencrypted-root-block-device": (("block-devices-encrypted",), {}),
    "aws-ec2-launchconfiguration-disallow-public-ip": (("no-public-ip-on-node-launch-templates",), {}),
    "aws-ec2-launchconfiguration-disallow-unencrypted-block-device": (("block-devices-encrypted",), {}),
    "aws-ec2-launchconfiguration-disallow-unencrypted-root-block-device": (("block-devices-encrypted",), {}),
    "aws-ec2-launchtemplate-disallow-public-ip": (("no-public-ip-on-node-launch-templates",), {}),
    "aws-ec2-launchtemplate-disallow-unencrypted-block-device": (("block-devices-encrypted",), {}),
    "aws-ec2-securitygroup-disallow-public-internet-ingress": (
        ("no-public-admin-ingress", "no-public-database-ingress"),
        {},
    ),
    "aws-ec2-securitygroup-missing-description": (("security-group-described",), {}),
    "aws-ebs-volume-disallow-unencrypted-volume": (("ebs-volumes-encrypted",), {}),
    "aws-eks-cluster-disallow-api-endpoint-public-access": (("eks-endpoint-private",), {}),
    "aws-eks-cluster-enable-cluster-encryption-config": (("eks-secrets-encrypted",), {}),
    "aws-kms-key-enable-key-rotation": (("kms-key-rotation",), {}),
    "aws-s3-bucket-disallow-public-read": (("s3-no-public-acl",), {}),
    "aws-s3-bucket-enable-server-side-encryption": (("s3-encrypted-with-kms",), {}),
    "aws-s3-bucket-configure-server-side-encryption-kms": (("s3-sse-algorithm-kms",), {}),
    "aws-s3-bucket-configure-server-side-encryption-customer-managed-key": (("s3-customer-managed-key",), {}),
    "aws-ebs-volume-configure-customer-managed-key": (("ebs-customer-managed-key",), {}),
    "aws-ec2-launchtemplate-configure-customer-managed-key": (("ebs-customer-managed-key",), {}),
    "aws-ecr-repository-configure-customer-managed-key": (("ecr-customer-managed-key",), {}),
    "aws-ecr-repository-disallow-unencrypted-repository": (("ecr-customer-managed-key",), {}),
    "aws-ecr-repository-configure-image-scan": (("ecr-scan-on-push",), {}),
    "aws-ecr-repository-enable-image-scan": (("ecr-scan-on-push",), {}),
    "aws-ecr-repository-disallow-mutable-image": (("ecr-immutable-tags",), {}),
    "aws-efs-filesystem-disallow-unencrypted-file-system": (("efs-encrypted",), {}),
    "aws-rds-instance-disallow-public-access": (("rds-not-public",), {}),
    "aws-rds-clusterinstance-disallow-public-access": (("rds-not-public",), {}),
    "aws-rds-instance-disallow-unencrypted-storage": (("rds-storage-encrypted",), {}),
    "aws-rds-cluster-disallow-unencrypted-storage": (("rds-storage-encrypted",), {}),
    **{
        f"aws-rds-{kind}-{verb}-backup-retention": (("rds-backups-retained",), {})
        for kind in ("instance", "cluster")
        for verb in ("enable", "configure")
    },
    # Pulumi compliance-policies (Kubernetes)
    **{
        f"kubernetes-{group}-{kind}-enable-read-only-root-filesystem": (("k8s-read-only-root-filesystem",), {})
        for group, kind in (
            ("apps-v1", "daemonset"),
            ("apps-v1", "deployment"),
            ("apps-v1", "replicaset"),
            ("apps-v1", "statefulset"),
            ("batch-v1", "cronjob"),
            ("batch-v1", "job"),
        )
    },
    "kubernetes-core-v1-service-disallow-load-balancer": (("public-ingress-gateway-only",), {}),
    # Kyverno
    # Pod Security "baseline": capabilities beyond the container runtime's defaults may not be added.
    "disallow-capabilities": (
        ("k8s-no-added-capabilities",),
        {"k8s-no-added-capabilities": {"allowedCapabilities": list(BASELINE_CAPABILITIES)}},
    ),
    "disallow-host-namespaces": (("k8s-no-host-namespaces",), {}),
    "disallow-host-path": (("k8s-no-host-path",), {}),
    "disallow-host-ports": (("k8s-no-host-ports",), {}),
    "disallow-host-process": (("k8s-no-host-process",), {}),
    "disallow-latest-tag": (("k8s-images-pinned",), {"k8s-images-pinned": {"requireDigest": False}}),
    "disallow-privilege-escalation": (("k8s-no-privilege-escalation",), {}),
    "disallow-privileged-containers": (("k8s-no-privileged",), {}),
    "require-cpu-limits": (("k8s-resources-set",), {"k8s-resources-set": {"requests": [], "limits": ["cpu"]}}),
    "require-pod-requests-limits": (
        ("k8s-resources-set",),
        {"k8s-resources-set": {"requests": ["cpu", "memory"], "limits": ["memory"]}},
    ),
    "require-labels": (
        ("k8s-required-labels",),
        {"k8s-required-labels": {"requiredLabels": ["app.kubernetes.io/name"], "exemptKinds": []}},
    ),
    "restrict-image-registries": (
        ("k8s-images-from-allowed-registries",),
        {"k8s-images-from-allowed-registries": {"allowedRegistries": ["eu.foo.io/*", "bar.io/*"]}},
    ),
    "require-ro-rootfs": (("k8s-read-only-root-filesystem",), {}),
    "require-run-as-nonroot": (("k8s-run-as-non-root",), {}),
    # Gatekeeper library
    "allow-privilege-escalation": (("k8s-no-privilege-escalation",), {}),
    "allowedrepos": (("k8s-images-from-allowed-registries",), {}),  # repos come from each case's constraint
    "capabilities": (("k8s-no-added-capabilities",), {}),  # the constraint's parameters choose (policy_cases)
    "containerlimits": (("k8s-resources-set",), {"k8s-resources-set": {"requests": [], "limits": ["cpu", "memory"]}}),
    "containerrequests": (("k8s-resources-set",), {"k8s-resources-set": {"requests": ["cpu", "memory"], "limits": []}}),
    "containerresources": (("k8s-resources-set",), {}),
    "disallowedtags": (("k8s-images-pinned",), {"k8s-images-pinned": {"requireDigest": False}}),
    "host-filesystem": (("k8s-no-host-path",), {}),
    "host-namespaces": (("k8s-no-host-namespaces",), {}),
    "host-network-ports": (("k8s-no-host-namespaces", "k8s-no-host-ports"), {}),
    "privileged-containers": (("k8s-no-privileged",), {}),
    "read-only-root-filesystem": (("k8s-read-only-root-filesystem",), {}),
    "requiredlabels": (("k8s-required-labels",), {}),  # label keys come from each case's constraint
    "users": (("k8s-run-as-non-root",), {}),
    # Polaris
    "cpuLimitsMissing": (("k8s-resources-set",), {"k8s-resources-set": {"requests": [], "limits": ["cpu"]}}),
    "cpuRequestsMissing": (("k8s-resources-set",), {"k8s-resources-set": {"requests": ["cpu"], "limits": []}}),
    "memoryLimitsMissing": (("k8s-resources-set",), {"k8s-resources-set": {"requests": [], "limits": ["memory"]}}),
    "memoryRequestsMissing": (("k8s-resources-set",), {"k8s-resources-set": {"requests": ["memory"], "limits": []}}),
    "dangerousCapabilities": (("k8s-no-added-capabilities",), {}),
    "insecureCapabilities": (("k8s-drop-all-capabilities",), {}),
    "hostIPCSet": (("k8s-no-host-namespaces",), {}),
    "hostNetworkSet": (("k8s-no-host-namespaces",), {}),
    "hostPIDSet": (("k8s-no-host-namespaces",), {}),
    "hostPathSet": (("k8s-no-host-path",), {}),
    "hostPortSet": (("k8s-no-host-ports",), {}),
    "notReadOnlyRootFilesystem": (("k8s-read-only-root-filesystem",), {}),
    "privilegeEscalationAllowed": (("k8s-no-privilege-escalation",), {}),
    "runAsPrivileged": (("k8s-no-privileged",), {}),
    "runAsRootAllowed": (("k8s-run-as-non-root",), {}),
    "tagNotSpecified": (("k8s-images-pinned",), {"k8s-images-pinned": {"requireDigest": False}}),
    # Sentinel
    "enforce-mandatory-tags": (
        ("aws-required-tags",),
        {"aws-required-tags": {"requiredTags": ["Name", "ttl", "owner", "se-region", "purpose", "terraform"]}},
    ),
    "check-ec2-environment-tag": (("aws-required-tags",), {"aws-required-tags": {"requiredTags": ["Environment"]}}),
    "enforce_s3_encryption": (("s3-encrypted-with-kms",), {}),
    "restrict_s3_acl": (("s3-no-public-acl",), {}),
    "require-private-acl-and-kms-for-s3-buckets": (("s3-no-public-acl", "s3-encrypted-with-kms"), {}),
    "restrict-ingress-sg-rule-ssh": (("no-public-admin-ingress",), {"no-public-admin-ingress": {"ports": [22]}}),
    "restrict-ingress-sg-rule-rdp": (("no-public-admin-ingress",), {"no-public-admin-ingress": {"ports": [3389]}}),
    # KICS (Pulumi YAML programs)
    "rds_db_instance_publicly_accessible": (("rds-not-public",), {}),
}
