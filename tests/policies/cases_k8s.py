"""Per-rule cases for the Kubernetes domains: workloads, secrets, GPU, serving, residency, labels, cost."""

from __future__ import annotations

from typing import Any

from platform_facts import project
from tests.policies.harness import DELETE, Mutation, Res, RuleCases, k8s_provider

PROD = project.environment_prefix("prod")

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
RAY_SERVICE = "kubernetes:ray.io/v1:RayService"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
DIGEST = "sha256:" + "a" * 64
LABELS = {
    "app.kubernetes.io/part-of": project.PROJECT_NAME,
    "app.kubernetes.io/managed-by": "pulumi",
    project.label("environment"): "prod",
    project.label("data-class"): "internal",
}


def container(name: str = "server", gpus: int = 0) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    if gpus:
        resources["requests"]["nvidia.com/gpu"] = gpus
        resources["limits"]["nvidia.com/gpu"] = gpus
    return {
        "name": name,
        "image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{project.PROJECT_NAME}/{name}@{DIGEST}",
        "ports": [{"containerPort": 8000}],
        "env": [
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "model-hub", "key": "token"}}},
            {"name": "LOG_LEVEL", "value": "info"},
        ],
        "resources": resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def pod_spec(gpus: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container(gpus=gpus)],
        "volumes": [{"name": "cache", "emptyDir": {}}],
    }
    if gpus:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        spec["nodeSelector"] = {"karpenter.k8s.aws/instance-gpu-count": "1"}
    return spec


def deployment(gpus: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": "embedder", "namespace": "serving", "labels": dict(LABELS)},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": dict(LABELS)}, "spec": pod_spec(gpus)}},
    }


def gpu_deployment() -> dict[str, Any]:
    return deployment(gpus=1)


def ray_service() -> dict[str, Any]:
    head = pod_spec()
    head["containers"][0]["name"] = "ray-head"
    return {
        "metadata": {"name": "llm", "namespace": "serving", "labels": dict(LABELS)},
        "spec": {
            "serveConfigV2": "applications: []",
            "rayClusterConfig": {
                "headGroupSpec": {"rayStartParams": {}, "template": {"spec": head}},
                "workerGroupSpecs": [
                    {
                        "groupName": "gpu",
                        "replicas": 1,
                        "minReplicas": 0,
                        "maxReplicas": 4,
                        "rayStartParams": {},
                        "template": {"spec": pod_spec(gpus=1)},
                    }
                ],
            },
        },
    }


def node_pool() -> dict[str, Any]:
    return {
        "metadata": {"name": "gpu", "labels": dict(LABELS)},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
                    "requirements": [
                        {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["g6", "g6e"]},
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                    ],
                    "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
                }
            },
            "limits": {"cpu": "512", "nvidia.com/gpu": "16"},
        },
    }


def service() -> dict[str, Any]:
    return {
        "metadata": {"name": "gateway", "namespace": "serving", "labels": dict(LABELS)},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": "gateway"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8000}],
        },
    }


def ingress() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "public",
            "namespace": "serving",
            "labels": dict(LABELS),
            "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"},
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "host": "api.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "gateway", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }


def config_map() -> dict[str, Any]:
    return {
        "metadata": {"name": "settings", "namespace": "serving", "labels": dict(LABELS)},
        "data": {"LOG_LEVEL": "info", "MODEL_NAME": "all-minilm-l6-v2"},
    }


def namespace_stack() -> list[Res]:
    return [
        Res("kubernetes:core/v1:Namespace", "serving-ns", {"metadata": {"name": "serving"}}),
        Res(DEPLOYMENT, "embedder", deployment()),
        Res(
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "default-deny",
            {
                "metadata": {"name": "default-deny", "namespace": "serving"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            },
        ),
    ]


def gpu_stack() -> list[Res]:
    return [
        Res(NODE_POOL, "gpu-pool", node_pool()),
        Res(
            "kubernetes:helm.sh/v3:Release", "dcgm", {"chart": "dcgm-exporter", "namespace": "monitoring", "values": {}}
        ),
    ]


def gateway_stack() -> list[Res]:
    config = (
        "environment: prod\nkeys: {source: secrets_manager, secret_id: gateway-keys}\n"
        "public_paths: [/healthz, /readyz]\n"
    )
    return [
        Res(
            "kubernetes:core/v1:ConfigMap",
            "gateway-config",
            {"metadata": {"name": "gateway", "namespace": "serving"}, "data": {"gateway.yaml": config}},
        )
    ]


def budget_stack() -> list[Res]:
    return [
        Res("aws:eks/cluster:Cluster", "eks", {}),
        Res(
            "aws:eks/nodeGroup:NodeGroup",
            "gpu-nodes",
            {"instanceTypes": ["g6.xlarge"], "scalingConfig": {"desiredSize": 2, "minSize": 0, "maxSize": 4}},
        ),
        Res("aws:ec2/natGateway:NatGateway", "nat", {}),
    ]


SECURITY = "spec.template.spec.containers.0.securityContext"
CONTAINER = "spec.template.spec.containers.0"
POD = "spec.template.spec"
D = "Deployment subject"


def _with_capabilities(capabilities: dict[str, Any]) -> dict[str, Any]:
    workload = deployment()
    workload["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"] = capabilities
    return workload


CASES = [
    RuleCases(
        "k8s-no-privileged",
        DEPLOYMENT,
        deployment,
        (Mutation.one(f"{SECURITY}.privileged", True, f"{D} container server must not run privileged."),),
        Mutation(SECURITY, DELETE, ()),
        f"{SECURITY}.privileged",
    ),
    RuleCases(
        "k8s-no-privilege-escalation",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{SECURITY}.allowPrivilegeEscalation",
                True,
                f"{D} container server must set securityContext.allowPrivilegeEscalation to false.",
            ),
        ),
        Mutation(
            f"{SECURITY}.allowPrivilegeEscalation",
            DELETE,
            (f"{D} container server must set securityContext.allowPrivilegeEscalation to false.",),
        ),
        f"{SECURITY}.allowPrivilegeEscalation",
    ),
    RuleCases(
        "k8s-no-host-namespaces",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(f"{POD}.hostNetwork", True, f"{D} must not use hostNetwork."),
            Mutation.one(f"{POD}.hostPID", True, f"{D} must not use hostPID."),
        ),
        Mutation(f"{POD}.securityContext", DELETE, ()),
        f"{POD}.hostNetwork",
    ),
    RuleCases(
        "k8s-no-host-path",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{POD}.volumes.0",
                {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}},
                f"{D} must not mount hostPath volume docker.",
            ),
        ),
        Mutation(f"{POD}.volumes", DELETE, ()),
        f"{POD}.volumes.0.hostPath",
    ),
    RuleCases(
        "k8s-no-host-ports",
        DEPLOYMENT,
        deployment,
        (Mutation.one(f"{CONTAINER}.ports.0.hostPort", 8000, f"{D} container server must not bind host port 8000."),),
        Mutation(f"{CONTAINER}.ports", DELETE, ()),
        f"{CONTAINER}.ports.0.hostPort",
    ),
    RuleCases(
        "k8s-no-host-process",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{SECURITY}.windowsOptions",
                {"hostProcess": True},
                f"{D} container server must not run as a Windows host process.",
            ),
        ),
        Mutation(SECURITY, DELETE, ()),
        f"{SECURITY}.windowsOptions",
    ),
    RuleCases(
        "k8s-run-as-non-root",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(f"{SECURITY}.runAsNonRoot", False, f"{D} container server must set runAsNonRoot to true."),
            Mutation.one(f"{SECURITY}.runAsUser", 0, f"{D} container server must not run as user 0 (root)."),
        ),
        # The pod-level setting still applies when the container's is removed.
        Mutation(f"{SECURITY}.runAsNonRoot", DELETE, ()),
        f"{SECURITY}.runAsUser",
    ),
    RuleCases(
        "k8s-read-only-root-filesystem",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{SECURITY}.readOnlyRootFilesystem",
                False,
                f"{D} container server must set securityContext.readOnlyRootFilesystem to true.",
            ),
        ),
        Mutation(
            f"{SECURITY}.readOnlyRootFilesystem",
            DELETE,
            (f"{D} container server must set securityContext.readOnlyRootFilesystem to true.",),
        ),
        f"{SECURITY}.readOnlyRootFilesystem",
    ),
    RuleCases(
        "k8s-drop-all-capabilities",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{SECURITY}.capabilities.drop", ["NET_RAW"], f"{D} container server must drop ALL capabilities."
            ),
            Mutation(f"{SECURITY}.capabilities.drop", ["All"], ()),  # names are case-insensitive
        ),
        Mutation(f"{SECURITY}.capabilities", DELETE, (f"{D} container server must drop ALL capabilities.",)),
        f"{SECURITY}.capabilities.drop",
    ),
    RuleCases(
        "k8s-no-added-capabilities",
        DEPLOYMENT,
        lambda: _with_capabilities({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
        (
            Mutation.one(
                f"{SECURITY}.capabilities.add",
                ["SYS_ADMIN"],
                f"{D} container server must not add capabilities SYS_ADMIN.",
            ),
            Mutation.one(
                f"{SECURITY}.capabilities.add",
                ["net_bind_service", "nEt_RaW"],
                f"{D} container server must not add capabilities nEt_RaW.",
            ),
        ),
        Mutation(f"{SECURITY}.capabilities.add", DELETE, ()),
        f"{SECURITY}.capabilities.add",
    ),
    RuleCases(
        "k8s-resources-set",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{CONTAINER}.resources.limits",
                {"cpu": "1"},
                f"{D} container server must set resources.limits for memory.",
            ),
        ),
        Mutation(
            f"{CONTAINER}.resources",
            DELETE,
            (
                f"{D} container server must set resources.requests for cpu, memory.",
                f"{D} container server must set resources.limits for cpu, memory.",
            ),
        ),
        f"{CONTAINER}.resources.requests",
    ),
    RuleCases(
        "k8s-images-pinned",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{CONTAINER}.image",
                "nginx:latest",
                f"{D} container server must pin image nginx:latest to a version, never latest or untagged.",
            ),
            Mutation.one(
                f"{CONTAINER}.image",
                "registry:5000/team/app:1.2.3",
                f"{D} container server must pin image registry:5000/team/app:1.2.3 by digest (@sha256:...).",
            ),
        ),
        Mutation(f"{CONTAINER}.image", DELETE, (f"{D} container server must name an image.",)),
        f"{CONTAINER}.image",
    ),
    RuleCases(
        "k8s-images-from-allowed-registries",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{CONTAINER}.image",
                "docker.io/library/nginx:1.27",
                f"{D} container server must pull from an allowed registry, not docker.io/library/nginx:1.27.",
            ),
        ),
        Mutation(f"{CONTAINER}.image", DELETE, ()),
        f"{CONTAINER}.image",
    ),
    RuleCases(
        "k8s-default-deny-network-policy",
        "",
        namespace_stack,
        (
            Mutation.one(
                "default-deny/spec.podSelector",
                {"matchLabels": {"app": "embedder"}},
                "Namespace serving must have a default-deny ingress NetworkPolicy.",
            ),
            Mutation.one(
                "default-deny/metadata.namespace",
                "other",
                "Namespace serving must have a default-deny ingress NetworkPolicy.",
            ),
        ),
        Mutation(
            "default-deny/spec.policyTypes",
            DELETE,
            ("Namespace serving must have a default-deny ingress NetworkPolicy.",),
        ),
        "default-deny/spec.podSelector",
    ),
    # --- secrets ---
    RuleCases(
        "k8s-secrets-no-literal-data",
        "kubernetes:core/v1:Secret",
        lambda: {"metadata": {"name": "hub", "namespace": "serving"}, "type": "Opaque"},
        (
            Mutation.one(
                "data",
                {"token": "aGZfeHl6"},
                "Secret subject must not carry literal data (token); sync it "
                "from Secrets Manager with an ExternalSecret.",
            ),
            Mutation.one(
                "stringData",
                {"password": "x"},
                "Secret subject must not carry literal data (password); sync "
                "it from Secrets Manager with an ExternalSecret.",
            ),
        ),
        Mutation("type", DELETE, ()),
        "type",
    ),
    RuleCases(
        "configmap-no-secrets",
        "kubernetes:core/v1:ConfigMap",
        config_map,
        (
            Mutation.one(
                "data.HF_TOKEN",
                "hf_" + "a" * 34,
                "ConfigMap subject must not hold the secret HF_TOKEN; use a Secret synced by External Secrets.",
            ),
            Mutation.one(
                "data.extra",
                "key=AKIAIOSFODNN7EXAMPLE",
                "ConfigMap subject must not hold the secret extra; use a Secret synced by External Secrets.",
            ),
        ),
        Mutation("data", DELETE, ()),
        "data",
    ),
    RuleCases(
        "env-no-literal-secrets",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{CONTAINER}.env.1",
                {"name": "DB_PASSWORD", "value": "hunter2"},
                f"{D} container server must read DB_PASSWORD from a secretKeyRef, not a literal value.",
            ),
        ),
        Mutation(f"{CONTAINER}.env", DELETE, ()),
        f"{CONTAINER}.env.1.value",
    ),
    RuleCases(
        "model-hub-tokens-from-secret-refs",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{CONTAINER}.env.0.valueFrom",
                {"configMapKeyRef": {"name": "hub", "key": "token"}},
                f"{D} container server must read HF_TOKEN from a secretKeyRef.",
            ),
        ),
        Mutation(
            f"{CONTAINER}.env.0.valueFrom", DELETE, (f"{D} container server must read HF_TOKEN from a secretKeyRef.",)
        ),
        f"{CONTAINER}.env.0.name",
    ),
    RuleCases(
        "secretsmanager-customer-key",
        "aws:secretsmanager/secret:Secret",
        lambda: {"name": "gateway-keys", "kmsKeyId": "arn:aws:kms:us-east-1:1:key/k"},
        (Mutation.one("kmsKeyId", "", "Secret subject must be encrypted with a customer-managed KMS key (kmsKeyId)."),),
        Mutation("kmsKeyId", DELETE, ("Secret subject must be encrypted with a customer-managed KMS key (kmsKeyId).",)),
        "kmsKeyId",
    ),
    # --- GPU ---
    RuleCases(
        "gpu-requests-equal-limits",
        DEPLOYMENT,
        gpu_deployment,
        (
            Mutation.one(
                f"{CONTAINER}.resources.limits",
                {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": 2},
                f"{D} container server must set nvidia.com/gpu requests equal to limits.",
            ),
        ),
        Mutation(
            f"{CONTAINER}.resources.limits",
            DELETE,
            (f"{D} container server must set nvidia.com/gpu requests equal to limits.",),
        ),
        f"{CONTAINER}.resources.limits",
    ),
    RuleCases(
        "gpu-pods-tolerate-gpu-taint",
        DEPLOYMENT,
        gpu_deployment,
        (Mutation.one(f"{POD}.tolerations.0.key", "dedicated", f"{D} must tolerate the nvidia.com/gpu taint."),),
        Mutation(f"{POD}.tolerations", DELETE, (f"{D} must tolerate the nvidia.com/gpu taint.",)),
        f"{POD}.tolerations",
    ),
    RuleCases(
        "gpu-pods-select-gpu-nodes",
        DEPLOYMENT,
        gpu_deployment,
        (
            Mutation.one(
                f"{POD}.nodeSelector",
                {"kubernetes.io/os": "linux"},
                f"{D} must select GPU nodes by nodeSelector or node affinity.",
            ),
        ),
        Mutation(f"{POD}.nodeSelector", DELETE, (f"{D} must select GPU nodes by nodeSelector or node affinity.",)),
        f"{POD}.nodeSelector",
    ),
    RuleCases(
        "gpu-instance-families-allowed",
        NODE_POOL,
        node_pool,
        (
            Mutation.one(
                "spec.template.spec.requirements.0.values",
                ["g4dn"],
                "subject must use GPU instance families from g5, g6, g6e, p4d, p5, not g4dn.",
            ),
        ),
        Mutation(
            "spec.template.spec.requirements.0",
            {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["g"]},
            ("NodePool subject must restrict GPU nodes to allowed instance families.",),
        ),
        "spec.template.spec.requirements.0.values",
    ),
    RuleCases(
        "gpu-spot-only-outside-prod",
        NODE_POOL,
        node_pool,
        (
            Mutation.one(
                "spec.template.spec.requirements.1.values",
                ["spot", "on-demand"],
                "GPU NodePool subject must use on-demand capacity in this environment, not spot.",
            ),
        ),
        Mutation("spec.template.spec.requirements.1", DELETE, ()),
        "spec.template.spec.requirements.1.values",
    ),
    RuleCases(
        "karpenter-nodepool-limits",
        NODE_POOL,
        node_pool,
        (Mutation.one("spec.limits", {"cpu": "512"}, "NodePool subject must set spec.limits for nvidia.com/gpu."),),
        Mutation("spec.limits", DELETE, ("NodePool subject must set spec.limits for cpu, nvidia.com/gpu.",)),
        "spec.limits",
    ),
    RuleCases(
        "dcgm-exporter-present",
        "",
        gpu_stack,
        (
            Mutation.one(
                "dcgm/chart",
                "kube-prometheus-stack",
                "gpu-pool provides GPU nodes, so the stack must run the NVIDIA DCGM exporter.",
            ),
        ),
        Mutation(
            "dcgm/chart", DELETE, ("gpu-pool provides GPU nodes, so the stack must run the NVIDIA DCGM exporter.",)
        ),
        "dcgm/chart",
    ),
    RuleCases(
        "gpu-sharing-profiles-allowed",
        "kubernetes:core/v1:ConfigMap",
        lambda: {
            "metadata": {"name": "time-slicing"},
            "data": {
                "any": "version: v1\nsharing:\n  timeSlicing:\n    resources:\n"
                "    - name: nvidia.com/gpu\n      replicas: 4\n"
            },
        },
        (
            Mutation.one(
                "data.any",
                "sharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: 16\n",
                "ConfigMap subject must not time-slice a GPU into more than 4 replicas (got 16).",
            ),
        ),
        Mutation("data", DELETE, ()),
        "data.any",
    ),
    # --- serving ---
    RuleCases(
        "ray-ports-not-exposed",
        "kubernetes:core/v1:Service",
        service,
        (
            Mutation.one(
                "spec",
                {"type": "LoadBalancer", "ports": [{"name": "dashboard", "port": 8265}]},
                "Service subject must not expose Ray port 8265 on a LoadBalancer.",
            ),
        ),
        Mutation("spec.type", DELETE, ()),
        "spec.type",
    ),
    RuleCases(
        "public-ingress-gateway-only",
        "kubernetes:networking.k8s.io/v1:Ingress",
        ingress,
        (
            Mutation.one(
                "spec.rules.0.http.paths.0.backend.service.name",
                "llm-serve-svc",
                "Public Ingress subject must route only to the safety gateway, not llm-serve-svc.",
            ),
        ),
        Mutation("metadata.annotations", DELETE, ()),
        "spec.rules.0.http.paths.0.backend.service.name",
    ),
    RuleCases(
        "rayservice-gpu-worker-limits",
        RAY_SERVICE,
        ray_service,
        (
            Mutation.one(
                "spec.rayClusterConfig.workerGroupSpecs.0.maxReplicas",
                "many",
                "RayService subject worker group gpu must set maxReplicas.",
            ),
        ),
        Mutation(
            "spec.rayClusterConfig.workerGroupSpecs.0.maxReplicas",
            DELETE,
            ("RayService subject worker group gpu must set maxReplicas.",),
        ),
        "spec.rayClusterConfig.workerGroupSpecs.0.maxReplicas",
    ),
    RuleCases(
        "model-images-pinned-by-digest",
        RAY_SERVICE,
        ray_service,
        (
            Mutation.one(
                "spec.rayClusterConfig.workerGroupSpecs.0.template.spec.containers.0.image",
                "rayproject/ray:2.60.0",
                "RayService subject worker group gpu container server must pin its model image by digest "
                "(@sha256:...), not rayproject/ray:2.60.0.",
            ),
        ),
        Mutation(
            "spec.rayClusterConfig.workerGroupSpecs.0.template.spec.containers.0.image",
            DELETE,
            (
                "RayService subject worker group gpu container server must name a model image pinned by digest "
                "(@sha256:...).",
            ),
        ),
        "spec.rayClusterConfig.workerGroupSpecs.0.template.spec.containers.0.image",
    ),
    RuleCases(
        "gateway-auth-enabled",
        "",
        gateway_stack,
        (
            Mutation.one(
                "gateway-config/data",
                {"gateway.yaml": "keys: {source: file, path: keys.yaml}\n"},
                "ConfigMap gateway-config (gateway.yaml) must take API keys from one of secrets_manager "
                "(keys.source is file).",
            ),
        ),
        Mutation("gateway-config/data", DELETE, ()),
        "gateway-config/data",
    ),
    # --- residency, labels, cost ---
    RuleCases(
        "regulated-workloads-on-prem",
        DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                "metadata.labels",
                {**LABELS, project.label("data-class"): "regulated"},
                "Deployment subject is labelled data-class regulated, so it must be deployed with the on-prem "
                f"cluster's provider, not {PROD}-eks-k8s.",
            ),
        ),
        Mutation("metadata.labels", DELETE, ()),
        "metadata.labels",
        provider=lambda: k8s_provider(f"{PROD}-eks-k8s"),
    ),
    RuleCases(
        "k8s-required-labels",
        "kubernetes:core/v1:ConfigMap",
        config_map,
        (
            Mutation.one(
                "metadata.labels",
                {**LABELS, project.label("environment"): ""},
                f"ConfigMap subject must carry the labels {project.LABEL_DOMAIN}/environment.",
            ),
        ),
        Mutation(
            "metadata.labels",
            DELETE,
            (
                "ConfigMap subject must carry the labels app.kubernetes.io/part-of, app.kubernetes.io/managed-by, "
                f"{project.LABEL_DOMAIN}/environment, {project.LABEL_DOMAIN}/data-class.",
            ),
        ),
        "metadata.labels",
    ),
    RuleCases(
        "monthly-cost-within-budget",
        "",
        budget_stack,
        (
            Mutation.one(
                "gpu-nodes/scalingConfig.desiredSize",
                100,
                "The stack's estimated monthly cost must stay within the budget of $50,000 (estimate $58,856).",
            ),
            Mutation.one(
                "gpu-nodes/instanceTypes",
                ["x9.huge"],
                "The stack's cost must be estimable: instance type x9.huge is not in the price table "
                "aws-us-east-1-2026-11.yaml.",
            ),
        ),
        Mutation("gpu-nodes/scalingConfig", DELETE, ()),
        "gpu-nodes/scalingConfig",
    ),
]
