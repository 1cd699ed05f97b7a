"""`InferencePlatform` under mocks (no Kubernetes here): the RayService, and only the gateway exposed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from components.inference_platform import (
    GATEWAY_PORT,
    INTERNAL_RAY_PORTS,
    InferencePlatformArgs,
    InferencePlatformSettings,
    WorkerGroup,
)
from services.config import serve_config
from stacks.plan import PlanGraph, PlannedResource
from tests.stacks.helpers import under

Render = Callable[[str], PlanGraph]
RAY_SERVICE = "kubernetes:ray.io/v1:RayService"


def _platform(graph: PlanGraph, suffix: str) -> PlannedResource:
    (platform,) = [p for p in graph.of_type("rampart:index:InferencePlatform") if p.name.endswith(suffix)]
    return platform


def _ray_service(graph: PlanGraph, suffix: str) -> PlannedResource:
    (service,) = under(graph, _platform(graph, suffix), RAY_SERVICE)
    return service


def _pods(service: PlannedResource) -> Iterator[tuple[str, dict[str, Any]]]:
    cluster = service.inputs["spec"]["rayClusterConfig"]
    yield "head", cluster["headGroupSpec"]["template"]["spec"]
    for group in cluster["workerGroupSpecs"]:
        yield group["groupName"], group["template"]["spec"]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_serve_config_is_the_services_file_verbatim(rendered: Render, environment: str) -> None:
    for service in rendered(environment).of_type(RAY_SERVICE):
        embedded = yaml.safe_load(service.inputs["spec"]["serveConfigV2"])
        assert embedded == serve_config(environment), (
            f"{service.urn} drifted from services/config/serve-{environment}.yaml"
        )


def test_head_runs_no_tasks_and_token_auth_is_on(rendered: Render) -> None:
    service = _ray_service(rendered("prod"), "-public")
    cluster = service.inputs["spec"]["rayClusterConfig"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0", service.urn
    assert cluster["authOptions"] == {"mode": "token"}, service.urn
    assert cluster["headGroupSpec"]["serviceType"] == "ClusterIP", service.urn


def test_gpu_workers_request_exactly_their_gpus_on_gpu_nodes(rendered: Render) -> None:
    service = _ray_service(rendered("prod"), "-public")
    groups = {g["groupName"]: g for g in service.inputs["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "gpu"}
    gpu = groups["gpu"]["template"]["spec"]
    (container,) = gpu["containers"]
    assert (
        container["resources"]["requests"]["nvidia.com/gpu"]
        == container["resources"]["limits"]["nvidia.com/gpu"]
        == "1"
    )
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in gpu["tolerations"]
    assert gpu["nodeSelector"] == {"rampart.dev/gpu": "true"}, service.urn
    assert (groups["gpu"]["minReplicas"], groups["gpu"]["maxReplicas"]) == (3, 12), service.urn
    cpu = groups["cpu"]["template"]["spec"]
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"]["limits"] and "tolerations" not in cpu


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_ray_pod_is_locked_down_sized_and_has_shared_memory(rendered: Render, environment: str) -> None:
    for service in rendered(environment).of_type(RAY_SERVICE):
        for where, pod in _pods(service):
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert volumes["dshm"]["emptyDir"]["medium"] == "Memory", f"{service.urn} {where}"
            assert pod["automountServiceAccountToken"] is False, f"{service.urn} {where}"
            for container in pod["containers"]:
                assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"], f"{service.urn} {where}"
                security = container["securityContext"]
                assert security["runAsNonRoot"] and security["readOnlyRootFilesystem"], f"{service.urn} {where}"
                assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
                assert container["resources"]["requests"] == container["resources"]["limits"], f"{service.urn} {where}"
                env = {e["name"]: e["value"] for e in container["env"]}
                assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1", "must be set on every Ray node"


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_images_are_pinned_by_digest_outside_dev(rendered: Render, environment: str) -> None:
    for service in rendered(environment).of_type(RAY_SERVICE):
        for where, pod in _pods(service):
            for container in pod["containers"]:
                assert "@sha256:" in container["image"], f"{service.urn} {where}: {container['image']}"


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_only_the_gateway_port_is_reachable_through_services_and_ingresses(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    for service in graph.of_type("kubernetes:core/v1:Service"):
        assert service.inputs["spec"].get("type", "ClusterIP") == "ClusterIP", (
            f"{service.urn} is exposed outside the cluster"
        )
        ports = {p["port"] for p in service.inputs["spec"]["ports"]}
        assert not ports & set(INTERNAL_RAY_PORTS.values()), f"{service.urn} exposes a Ray control port"
    ingresses = graph.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    assert len(ingresses) == len(graph.of_type("rampart:index:InferencePlatform"))
    for ingress in ingresses:
        spec = ingress.inputs["spec"]
        assert spec["tls"] and spec["tls"][0]["hosts"] == [spec["rules"][0]["host"]], f"{ingress.urn} lacks TLS"
        backends = [p["backend"]["service"] for rule in spec["rules"] for p in rule["http"]["paths"]]
        assert backends == [{"name": "gateway", "port": {"number": GATEWAY_PORT}}], ingress.urn


def test_network_policies_deny_by_default_and_open_only_named_ports(rendered: Render) -> None:
    graph = rendered("prod")
    platform = _platform(graph, "-public")
    policies = {
        p.inputs["metadata"]["name"]: p for p in under(graph, platform, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    deny = policies["default-deny-ingress"].inputs["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    opened = {
        name: [port["port"] for rule in policy.inputs["spec"]["ingress"] for port in rule.get("ports", [])]
        for name, policy in policies.items()
        if name.startswith("allow-") and name != "allow-same-namespace-and-known-sources"
    }
    assert opened == {
        "allow-gateway-from-ingress": [GATEWAY_PORT],
        "allow-metrics-from-monitoring": [8080],
        "allow-dashboard-from-kuberay": [INTERNAL_RAY_PORTS["dashboard"]],
    }
    dashboard = policies["allow-dashboard-from-kuberay"].inputs["spec"]
    assert dashboard["podSelector"]["matchLabels"]["ray.io/node-type"] == "head"
    assert dashboard["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kuberay-system"}}}
    ]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_namespace_has_a_default_deny_policy(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    denied = {
        (p.provider, p.inputs["metadata"]["namespace"])
        for p in graph.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if p.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    }
    for namespace in graph.of_type("kubernetes:core/v1:Namespace"):
        assert (namespace.provider, namespace.inputs["metadata"]["name"]) in denied, (
            f"{namespace.urn} has no default deny"
        )


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_kubernetes_object_carries_the_platform_labels(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    objects = [
        r for r in graph.resources if r.type.startswith("kubernetes:") and r.type != "kubernetes:helm.sh/v3:Release"
    ]
    assert len(objects) > 20
    for resource in objects:
        labels = resource.inputs["metadata"]["labels"]
        assert labels["rampart.dev/environment"] == environment, resource.urn
        assert labels["rampart.dev/data-class"] in {"internal", "confidential", "regulated"}, resource.urn


def test_pod_disruption_budgets_and_service_monitor(rendered: Render) -> None:
    graph = rendered("prod")
    platform = _platform(graph, "-regulated")
    budgets = {
        b.inputs["metadata"]["name"]: b.inputs["spec"]
        for b in under(graph, platform, "kubernetes:policy/v1:PodDisruptionBudget")
    }
    assert (
        budgets["serving"]["minAvailable"] == 1
        and budgets["serving"]["selector"]["matchLabels"]["ray.io/serve"] == "true"
    )
    assert budgets["gpu-workers"]["maxUnavailable"] == 1
    (monitor,) = under(graph, platform, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    (metrics,) = [
        s for s in under(graph, platform, "kubernetes:core/v1:Service") if s.inputs["metadata"]["name"] == "ray-metrics"
    ]
    selected = monitor.inputs["spec"]["selector"]["matchLabels"]
    assert all(metrics.inputs["metadata"]["labels"].get(k) == v for k, v in selected.items()), monitor.urn


def test_ray_service_waits_for_the_operator_of_its_cluster(rendered: Render) -> None:
    graph = rendered("prod")
    for suffix, cluster_type in (
        ("-public", "rampart:index:GpuCluster"),
        ("-regulated", "rampart:index:OnPremCluster"),
    ):
        service = _ray_service(graph, suffix)
        (cluster,) = graph.of_type(cluster_type)
        (operator,) = [
            r for r in under(graph, cluster, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "kuberay-operator"
        ]
        assert operator.urn in service.dependencies, service.urn
        assert service.provider == operator.provider, f"{service.urn} is on another cluster than its operator"


def _settings(**changes: Any) -> InferencePlatformSettings:
    base: dict[str, Any] = {
        "data_class": "confidential",
        "image": "registry/serving:1@sha256:" + "a" * 64,
        "hostname": "api.example.com",
        "cpu_workers": WorkerGroup(1, 2, "2", "8Gi"),
        "gpu_workers": WorkerGroup(1, 2, "8", "48Gi", 1),
    }
    return InferencePlatformSettings(**{**base, **changes})


def _args(settings: InferencePlatformSettings | None = None, **changes: Any) -> InferencePlatformArgs:
    base: dict[str, Any] = {"environment": "prod", "serve_config": serve_config("prod"), "namespace": "rampart-public"}
    return InferencePlatformArgs(settings or _settings(), **{**base, **changes})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: _settings(gpu_workers=WorkerGroup(1, 2, "8", "48Gi", 0)),
            "InferencePlatformSettings: gpu_workers.gpus must be at least 1",
        ),
        (
            lambda: _settings(cpu_workers=WorkerGroup(1, 2, "2", "8Gi", 1)),
            "InferencePlatformSettings: cpu_workers.gpus must be 0",
        ),
        (lambda: WorkerGroup(3, 2, "2", "8Gi"), "WorkerGroup: min_replicas (3) must not exceed max_replicas (2)"),
        (lambda: WorkerGroup(1, 2, "two", "8Gi"), "WorkerGroup: cpu: 'two' is not a Kubernetes quantity (got 'two')"),
        (lambda: WorkerGroup(1, 2, "2", "8G"), "WorkerGroup: memory: '8G' is not a Kubernetes quantity (got '8G')"),
        (
            lambda: _args(_settings(image="registry/serving:1")),
            "image: registry/serving:1 must be pinned by digest (@sha256:<64 hex>)",
        ),
        (lambda: _args(serve_config={"applications": []}), "serve_config: has no applications"),
    ],
)
def test_bad_arguments_name_the_field(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        build()
    assert str(raised.value) == message


def test_a_tag_is_accepted_where_digests_are_not_required() -> None:
    args = _args(_settings(image="registry/serving:1"), require_image_digest=False)
    assert args.settings.image == "registry/serving:1"
