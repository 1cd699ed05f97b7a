"""`InferencePlatform` under mocks (no Kubernetes and no AWS here: the plan's names come from the
mocks' outputs): the RayService, its configs rendered from the stack's outputs, only the gateway exposed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.inference_platform import (
    GATEWAY_CONFIG_MOUNT,
    GATEWAY_GROUP,
    GATEWAY_PORT,
    GATEWAY_RESOURCE,
    INTERNAL_RAY_PORTS,
    WRITABLE_PATHS,
    InferencePlatformArgs,
    InferencePlatformSettings,
    WorkerGroup,
)
from platform_facts import project
from services.config import config_document, serve_config
from services.config.render import render
from stacks.plan import PlanGraph, PlannedResource
from tests.stacks.helpers import under

Render = Callable[[str], PlanGraph]
RAY_SERVICE = "kubernetes:ray.io/v1:RayService"


def _platform(graph: PlanGraph, suffix: str) -> PlannedResource:
    (platform,) = [p for p in graph.of_type(project.type_token("InferencePlatform")) if p.name.endswith(suffix)]
    return platform


def _ray_service(graph: PlanGraph, suffix: str) -> PlannedResource:
    (service,) = under(graph, _platform(graph, suffix), RAY_SERVICE)
    return service


def _pods(service: PlannedResource) -> Iterator[tuple[str, dict[str, Any]]]:
    cluster = service.inputs["spec"]["rayClusterConfig"]
    yield "head", cluster["headGroupSpec"]["template"]["spec"]
    for group in cluster["workerGroupSpecs"]:
        yield group["groupName"], group["template"]["spec"]


PLATFORM_FILES = {"dev": {"public": "dev"}, "staging": {"public": "staging", "regulated": "staging-onprem"},
                  "prod": {"public": "prod", "regulated": "prod-onprem"}}


def _platform_name(service: PlannedResource) -> str:
    return service.name.split("-")[2]  # rampart-<env>-<platform>-rayservice


def _embedded(service: PlannedResource) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(service.inputs["spec"]["serveConfigV2"])
    return document


def _gateway_config(graph: PlanGraph, service: PlannedResource) -> dict[str, Any]:
    (config_map,) = [
        c for c in graph.of_type("kubernetes:core/v1:ConfigMap") if c.name == service.name.replace("-rayservice", "-gateway-config")
    ]
    document: dict[str, Any] = yaml.safe_load(config_map.inputs["data"]["gateway.yaml"])
    return document


def _plan_values(graph: PlanGraph) -> dict[str, str]:
    """The names this plan created, as the stack hands them to the configs."""
    buckets = {r.name: r.outputs["bucket"] for r in graph.of_type("aws:s3/bucket:Bucket")}
    (keys_secret,) = [r for r in graph.of_type("aws:secretsmanager/secret:Secret") if r.name.endswith("gateway-api-keys")]
    return {
        "model_bucket": next(v for k, v in buckets.items() if k.endswith("-models-bucket")),
        "audit_bucket": next(v for k, v in buckets.items() if k.endswith("-audit-bucket")),
        "gateway_keys_secret_arn": keys_secret.outputs["arn"],
        "region": "us-east-1",
        "state_url": _state_url(graph),
    }


def _state_url(graph: PlanGraph, service: PlannedResource | None = None) -> str:
    """The state database a platform's gateways share: the RDS instance, or (on-prem) its CloudNativePG cluster."""
    if service is None:
        (instance,) = graph.of_type("aws:rds/instance:Instance")
        host = f"{instance.outputs['address']}:5432"
    else:
        (cluster,) = graph.of_type("kubernetes:postgresql.cnpg.io/v1:Cluster")
        host = f"{cluster.inputs['metadata']['name']}-rw.{cluster.inputs['metadata']['namespace']}.svc:5432"
    return f"postgresql+psycopg://{project.METRIC_PREFIX}_gateway@{host}/{project.METRIC_PREFIX}?sslmode=require"


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_each_platform_runs_its_files_rendered_with_this_plans_names(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    services = graph.of_type(RAY_SERVICE)
    assert {_platform_name(s) for s in services} == set(PLATFORM_FILES[environment])
    for service in services:
        name = PLATFORM_FILES[environment][_platform_name(service)]
        # On-prem configs get no AWS names: only their own state database's URL.
        values = _plan_values(graph) if name == environment else {"state_url": _state_url(graph, service)}
        embedded = _embedded(service)
        expected = render(serve_config(name), values, source=name)
        for key in ("ssl_certfile", "ssl_keyfile"):  # TLS from the load balancer to the pod
            assert embedded["http_options"].pop(key).startswith(f"/etc/{project.PROJECT_NAME}/tls/"), service.urn
        assert embedded["applications"][0]["args"]["gateway"].pop("config_path") == f"{GATEWAY_CONFIG_MOUNT}/gateway.yaml"
        assert embedded == expected, f"{service.urn} drifted from services/config/serve-{name}.yaml"
        assert _gateway_config(graph, service) == render(config_document("gateway", name), values, source=name)


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_bucket_and_secret_a_config_names_is_a_resource_of_the_plan(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    buckets = {r.outputs["bucket"] for r in graph.of_type("aws:s3/bucket:Bucket")}
    secrets = {r.outputs["arn"] for r in graph.of_type("aws:secretsmanager/secret:Secret")}
    for service in graph.of_type(RAY_SERVICE):
        text = service.inputs["spec"]["serveConfigV2"]
        named_buckets = {uri.split("/")[2] for uri in re.findall(r"s3://[^\s'\"]+", text)}
        gateway = _gateway_config(graph, service)
        if gateway["keys"]["source"] == "secrets_manager":
            assert gateway["keys"]["secret_id"] in secrets, service.urn
        if (upload := gateway.get("audit", {}).get("upload")) is not None:
            named_buckets.add(upload["bucket"])
        assert named_buckets <= buckets, f"{service.urn} names buckets the plan does not create: {named_buckets - buckets}"
        assert "${" not in text and "${" not in yaml.safe_dump(gateway), service.urn


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_model_a_route_targets_is_served_on_the_routes_cluster(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    for service in graph.of_type(RAY_SERVICE):
        args = _embedded(service)["applications"][0]["args"]
        chats = [args["generator"], *args.get("additional_generators", [])]
        served = {args["embedder"]["model_name"], "retriever", *(chat["model_name"] for chat in chats)}
        gateway = _gateway_config(graph, service)
        versions = gateway["model_versions"]
        for route_name, route in gateway["routes"].items():
            targeted = [v["model_version"] for v in route.get("versions", [])]
            targeted += [step for step in route.get("fallback", []) if step != "review"]
            targeted += [route["shadow"]["model_version"]] if route.get("shadow") else []
            for version in targeted:
                assert versions[version]["model"] in served, (
                    f"{service.urn}: route {route_name} targets {versions[version]['model']}, which this cluster does not serve"
                )


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_the_pods_identity_covers_every_s3_path_and_the_secret_their_configs_name(
    rendered: Render, environment: str
) -> None:
    graph = rendered(environment)
    service = _ray_service(graph, "-public")
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.name.endswith("-public-identity-serving-role")]
    statements = json.loads(role.inputs["inlinePolicies"][0]["policy"])["Statement"]
    allowed = {statement["Action"]: statement["Resource"] for statement in statements if isinstance(statement["Action"], str)}
    readable = [arn.removeprefix("arn:aws:s3:::").removesuffix("*") for arn in allowed["s3:GetObject"]]
    for uri in re.findall(r"s3://[^\s'\"]+", service.inputs["spec"]["serveConfigV2"]):
        path = uri.removeprefix("s3://").rstrip("/") + "/"
        assert any(path.startswith(prefix) for prefix in readable), f"{service.urn}: {uri} is not readable by the pods"
    gateway = _gateway_config(graph, service)
    assert allowed["secretsmanager:GetSecretValue"] == gateway["keys"]["secret_id"]
    upload = gateway["audit"]["upload"]
    (audit_write,) = [s for s in statements if s["Action"] == ["s3:PutObject", "s3:PutObjectRetention"]]
    assert audit_write["Resource"] == f"arn:aws:s3:::{upload['bucket']}/{upload.get('prefix', 'audit/')}*"


def test_on_prem_platforms_reach_no_aws_at_all(rendered: Render) -> None:
    for environment in ("staging", "prod"):
        graph = rendered(environment)
        service = _ray_service(graph, "-regulated")
        text = service.inputs["spec"]["serveConfigV2"] + yaml.safe_dump(_gateway_config(graph, service))
        assert "s3://" not in text and "secrets_manager" not in text and "amazonaws" not in text, service.urn
        assert _gateway_config(graph, service)["audit"]["upload"] is None
        for where, pod in _pods(service):
            for container in pod["containers"]:
                assert not [e for e in container["env"] if e["name"].startswith("AWS_")], f"{service.urn} {where}"
                assert "amazonaws.com" not in container["image"], f"{service.urn} {where} pulls from ECR"
            mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
            assert mounts[f"/var/lib/{project.PROJECT_NAME}-models"]["readOnly"] and mounts[f"/etc/{project.PROJECT_NAME}/keys"]["readOnly"]
        claims = {c.inputs["metadata"]["name"] for c in under(graph, _platform(graph, "-regulated"), "kubernetes:core/v1:PersistentVolumeClaim")}
        assert claims == {f"{project.PROJECT_NAME}-models", f"{project.PROJECT_NAME}-state"}


def test_every_path_the_services_write_is_a_volume_the_image_declares(rendered: Render) -> None:
    containerfile = (Path(__file__).parents[2] / "deploy" / "Containerfile").read_text()
    declared = json.loads(re.search(r"^VOLUME (\[.*\])$", containerfile, re.M).group(1))  # type: ignore[union-attr]
    assert sorted(declared) == sorted(WRITABLE_PATHS.values())
    for environment in ("dev", "staging", "prod"):
        for service in rendered(environment).of_type(RAY_SERVICE):
            for where, pod in _pods(service):
                (container,) = pod["containers"]
                mounted = {m["mountPath"] for m in container["volumeMounts"]}
                assert set(WRITABLE_PATHS.values()) <= mounted, f"{service.urn} {where}"
                assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_head_runs_no_tasks_and_token_auth_is_on(rendered: Render) -> None:
    service = _ray_service(rendered("prod"), "-public")
    cluster = service.inputs["spec"]["rayClusterConfig"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0", service.urn
    assert cluster["authOptions"] == {"mode": "token"}, service.urn
    assert cluster["headGroupSpec"]["serviceType"] == "ClusterIP", service.urn


def test_gpu_workers_request_exactly_their_gpus_on_gpu_nodes(rendered: Render) -> None:
    service = _ray_service(rendered("prod"), "-public")
    groups = {g["groupName"]: g for g in service.inputs["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
    assert set(groups) == {GATEWAY_GROUP, "cpu", "gpu"}
    gpu = groups["gpu"]["template"]["spec"]
    (container,) = gpu["containers"]
    assert (
        container["resources"]["requests"]["nvidia.com/gpu"]
        == container["resources"]["limits"]["nvidia.com/gpu"]
        == "1"
    )
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in gpu["tolerations"]
    assert gpu["nodeSelector"] == {project.label("gpu"): "true"}, service.urn
    assert (groups["gpu"]["minReplicas"], groups["gpu"]["maxReplicas"]) == (3, 12), service.urn
    cpu = groups["cpu"]["template"]["spec"]
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"]["limits"] and "tolerations" not in cpu


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_gateway_replicas_and_client_connections_stay_off_the_nodes_that_serve_models(
    rendered: Render, environment: str
) -> None:
    graph = rendered(environment)
    for service in graph.of_type(RAY_SERVICE):
        groups = {g["groupName"]: g for g in service.inputs["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
        offered = {name: group.get("resources", {}) for name, group in groups.items()}
        # The gateway group offers no CPU (nothing else lands there) and the gateway resource, per CPU of its pods.
        assert offered[GATEWAY_GROUP]["CPU"] == "0", service.urn
        assert int(offered[GATEWAY_GROUP][GATEWAY_RESOURCE]) >= 1, service.urn
        assert groups[GATEWAY_GROUP]["minReplicas"] >= 2, f"{service.urn}: one gateway node's loss must leave one"
        assert all(GATEWAY_RESOURCE not in resources for name, resources in offered.items() if name != GATEWAY_GROUP)
        for deployment in _embedded(service)["applications"][0]["deployments"]:
            options = deployment["ray_actor_options"]
            wanted = options.get("resources") or {}
            if deployment["name"] == "Ingress":
                assert wanted.get(GATEWAY_RESOURCE, 0) > 0 and options["num_cpus"] == 0, service.urn
            else:
                assert GATEWAY_RESOURCE not in wanted, f"{service.urn}: {deployment['name']} on a gateway node"
            for resource in wanted:  # a resource no group offers leaves the replica pending forever
                assert any(resource in resources for resources in offered.values()), f"{service.urn}: {resource}"
    # Clients enter at Serve's proxy: with direct ingress (RAY_SERVE_THROUGHPUT_OPTIMIZED) the head's only, no group's.
    for platform in graph.of_type(project.type_token("InferencePlatform")):
        (gateway,) = [s for s in under(graph, platform, "kubernetes:core/v1:Service")
                      if s.inputs["metadata"]["name"] == "gateway"]
        assert gateway.inputs["spec"]["selector"]["ray.io/serve"] == "true", gateway.urn
        assert "ray.io/group" not in gateway.inputs["spec"]["selector"], gateway.urn


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_ray_pod_is_locked_down_sized_and_has_shared_memory(rendered: Render, environment: str) -> None:
    for service in rendered(environment).of_type(RAY_SERVICE):
        for where, pod in _pods(service):
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert volumes["dshm"]["emptyDir"]["medium"] == "Memory", f"{service.urn} {where}"
            assert pod["automountServiceAccountToken"] is False, f"{service.urn} {where}"
            for container in pod["containers"]:
                assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"], f"{service.urn} {where}"
                assert pod["serviceAccountName"] == "ray-serving", f"{service.urn} {where}"
                security = container["securityContext"]
                assert security["runAsNonRoot"] and security["readOnlyRootFilesystem"], f"{service.urn} {where}"
                assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
                assert container["resources"]["requests"] == container["resources"]["limits"], f"{service.urn} {where}"
                env = {e["name"]: e.get("value") for e in container["env"]}  # on-prem PGPASSWORD comes from a Secret
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
    assert len(ingresses) == len(graph.of_type(project.type_token("InferencePlatform")))
    for ingress in ingresses:
        spec = ingress.inputs["spec"]
        assert spec["tls"] and spec["tls"][0]["hosts"] == [spec["rules"][0]["host"]], f"{ingress.urn} lacks TLS"
        backends = [p["backend"]["service"] for rule in spec["rules"] for p in rule["http"]["paths"]]
        assert backends == [{"name": "gateway", "port": {"number": GATEWAY_PORT}}], ingress.urn
        annotations = ingress.inputs["metadata"]["annotations"]
        if spec["ingressClassName"] == "alb":  # EKS: internal load balancer, ACM certificate, HTTPS to the pod
            assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal", ingress.urn
            assert annotations["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:"), ingress.urn
            assert annotations["alb.ingress.kubernetes.io/backend-protocol"] == "HTTPS", ingress.urn
        else:
            assert annotations["nginx.ingress.kubernetes.io/backend-protocol"] == "HTTPS", ingress.urn


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
        assert labels[project.label("environment")] == environment, resource.urn
        assert labels[project.label("data-class")] in {"internal", "confidential", "regulated"}, resource.urn


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
        ("-public", project.type_token("GpuCluster")),
        ("-regulated", project.type_token("OnPremCluster")),
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
        "hostname": "api.example.com",
        "cpu_workers": WorkerGroup(1, 2, "2", "8Gi"),
        "gpu_workers": WorkerGroup(1, 2, "8", "48Gi", 1),
    }
    return InferencePlatformSettings(**{**base, **changes})


def _args(settings: InferencePlatformSettings | None = None, **changes: Any) -> InferencePlatformArgs:
    base: dict[str, Any] = {
        "environment": "prod",
        "image": "registry/serving:1@sha256:" + "a" * 64,
        "serve_config": serve_config("prod"),
        "gateway_config": config_document("gateway", "prod"),
        "namespace": project.platform_namespace("public"),
    }
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
            lambda: _args(image="registry/serving:1"),
            "image: registry/serving:1 must be pinned by digest (@sha256:<64 hex>)",
        ),
        (lambda: _args(serve_config={"applications": []}), "serve_config: has no applications"),
        (lambda: _args(gateway_config=None), "gateway_config: required, the serve config runs the gateway"),
    ],
)
def test_bad_arguments_name_the_field(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        build()
    assert str(raised.value) == message


def test_a_tag_is_accepted_where_digests_are_not_required() -> None:
    args = _args(image="registry/serving:1", require_image_digest=False)
    assert args.image == "registry/serving:1"
