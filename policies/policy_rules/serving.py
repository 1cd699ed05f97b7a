"""Serving and LLM policies: Ray stays internal, the internet reaches only the safety gateway.

Ray's dashboard (8265) runs arbitrary jobs, GCS (6379) and the client server (10001) control the
cluster: any of them on a load balancer or an Ingress is remote code execution for whoever finds it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from platform_facts.kubernetes import GPU_RESOURCE
from platform_facts.ports import INTERNAL_RAY_PORTS, RAY_DASHBOARD_PORT, RAY_PORT_NAMES
from policy_rules.core import Report, Setting, dig, is_mapping, items, number, resource_policy, stack_policy, strings
from policy_rules.gpu import requests_gpu
from policy_rules.workloads import containers, kind_of, pod_templates

__all__ = ["POLICIES", "gateway_auth_problems", "ingress_backends"]

SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
RAY_KINDS = ("RayService", "RayCluster", "RayJob")
# Unset `internal` is internet-facing, the API's default, for all three.
LOAD_BALANCERS = (
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:alb/loadBalancer:LoadBalancer",
    "aws:elb/loadBalancer:LoadBalancer",
)
RAY_PORTS = Setting(
    "array",
    [RAY_DASHBOARD_PORT, INTERNAL_RAY_PORTS["gcs"], INTERNAL_RAY_PORTS["client"]],
    "Ray dashboard, GCS and client-server ports.",
)
EXTERNAL_SERVICE_TYPES = ("LoadBalancer", "NodePort")


def ingress_backends(props: Mapping[str, Any]) -> Iterator[tuple[str | None, Any, Any]]:
    """(service name, port number, port name) of every backend an Ingress routes to."""
    spec = dig(props, "spec")
    backends = [dig(spec, "defaultBackend")] + [
        dig(path, "backend") for rule in items(dig(spec, "rules")) for path in items(dig(rule, "http", "paths"))
    ]
    for backend in backends:
        if is_mapping(backend):
            service = dig(backend, "service")
            yield dig(service, "name"), dig(service, "port", "number"), dig(service, "port", "name")


def _is_internal(props: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
    annotations = dig(props, "metadata", "annotations")
    annotations = annotations if is_mapping(annotations) else {}
    if any(annotations.get(key) in ("internal", "true") for key in settings["internalAnnotations"]):
        return True
    return dig(props, "spec", "ingressClassName") in settings["internalIngressClasses"]


INTERNAL_SETTINGS = {
    "internalAnnotations": Setting(
        "array",
        [
            "alb.ingress.kubernetes.io/scheme",
            "service.beta.kubernetes.io/aws-load-balancer-scheme",
            "service.beta.kubernetes.io/aws-load-balancer-internal",
        ],
        "Annotations that make a load balancer internal when set to `internal` or `true`.",
    ),
    "internalIngressClasses": Setting("array", ["internal", "nginx-internal"], "Ingress classes that are internal."),
}


def _ray_ports(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    ports = {number(port) for port in settings["ports"]}
    kind = kind_of(args.resource_type)
    if args.resource_type == SERVICE and dig(args.props, "spec", "type") in EXTERNAL_SERVICE_TYPES:
        for port in items(dig(args.props, "spec", "ports")):
            numbers = {number(dig(port, "port")), number(dig(port, "targetPort"))}
            if numbers & ports or dig(port, "name") in RAY_PORT_NAMES:
                report(
                    f"Service {args.name} must not expose Ray port {number(dig(port, 'port'))} "
                    f"on a {dig(args.props, 'spec', 'type')}."
                )
    elif args.resource_type == INGRESS:
        for service, port, name in ingress_backends(args.props):
            if number(port) in ports or name in RAY_PORT_NAMES:
                report(f"Ingress {args.name} must not route to Ray port {number(port) or name} of {service}.")
    elif kind in RAY_KINDS:
        spec = dig(args.props, "spec", "rayClusterConfig") if kind == "RayService" else dig(args.props, "spec")
        head = dig(spec, "headGroupSpec")
        service_type = dig(head, "serviceType") or dig(head, "headService", "spec", "type")
        if service_type in EXTERNAL_SERVICE_TYPES:
            report(f"{kind} {args.name} must keep its head service ClusterIP, not {service_type}.")
        if kind == "RayService" and dig(args.props, "spec", "serveService", "spec", "type") in EXTERNAL_SERVICE_TYPES:
            report(f"RayService {args.name} must keep its serve service ClusterIP; route through the gateway.")


def _public_ingress(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    gateways = set(settings["gatewayServices"])
    if args.resource_type == INGRESS and not _is_internal(args.props, settings):
        for service, _, _ in ingress_backends(args.props):
            if service not in gateways:
                report(f"Public Ingress {args.name} must route only to the safety gateway, not {service}.")
    elif args.resource_type == SERVICE and dig(args.props, "spec", "type") == "LoadBalancer":
        name = dig(args.props, "metadata", "name") or args.name
        if not _is_internal(args.props, settings) and name not in gateways:
            report(f"Service {args.name} must not be a public LoadBalancer; only the safety gateway is public.")


def _load_balancers(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    if args.resource_type not in LOAD_BALANCERS or args.props.get("internal") is True:
        return
    names = [name for name in (args.name, args.props.get("name")) if isinstance(name, str)]
    if not any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in settings["gatewayLoadBalancers"]):
        report(
            f"Load balancer {args.name} must be internal (internal = true); only the gateway's ingress load "
            "balancer may face the internet."
        )


def _worker_limits(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    kind = kind_of(args.resource_type)
    if kind not in RAY_KINDS:
        return
    for pod in pod_templates(args.resource_type, args.props):
        if pod.worker_group is None or not requests_gpu(pod):
            continue
        if number(dig(pod.worker_group, "maxReplicas")) is None:
            report(f"{kind} {args.name} {pod.where} must set maxReplicas.")
        for container in containers(pod):
            if dig(container.spec, "resources", "limits", GPU_RESOURCE) is None and any(
                str(name).startswith("nvidia.com/") for name in (dig(container.spec, "resources", "requests") or {})
            ):
                report(f"{kind} {args.name} {pod.where} container {container.name} must limit {GPU_RESOURCE}.")


def _model_images(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    kind = kind_of(args.resource_type)
    if kind not in RAY_KINDS:
        return
    for pod in pod_templates(args.resource_type, args.props):
        for container in containers(pod):
            image = container.spec.get("image")
            where = f"{kind} {args.name} {pod.where} container {container.name}"
            if not isinstance(image, str):
                report(f"{where} must name a model image pinned by digest (@sha256:...).")
            elif "@sha256:" not in image:
                report(f"{where} must pin its model image by digest (@sha256:...), not {image}.")


def gateway_auth_problems(config: Any, settings: Mapping[str, Any]) -> list[str]:
    """Why a gateway config does not enforce authentication (empty when it does)."""
    problems = []
    source = dig(config, "keys", "source")
    if source not in settings["allowedKeySources"]:
        problems.append(
            f"take API keys from one of {', '.join(settings['allowedKeySources'])} (keys.source is {source})"
        )
    public = [path for path in strings(dig(config, "public_paths")) if path not in settings["allowedPublicPaths"]]
    if public:
        problems.append(f"serve only health checks without a key (public_paths has {', '.join(public)})")
    return problems


def _gateway_configs(
    resources: list[PolicyResource], settings: Mapping[str, Any]
) -> Iterator[tuple[str, Any, str, PolicyResource | None]]:
    """(where, parsed config, urn, ConfigMap) for the gateway configs in the pack's config and in ConfigMaps."""
    if settings["gatewayConfig"]:
        yield "The gateway config", settings["gatewayConfig"], "", None
    for resource in resources:
        if resource.resource_type != "kubernetes:core/v1:ConfigMap":
            continue
        raw = resource.props.get("data")
        data: Mapping[str, Any] = raw if is_mapping(raw) else {}
        for key in data:
            if str(key).startswith("gateway") and str(key).endswith((".yaml", ".yml")):
                try:
                    yield f"ConfigMap {resource.name} ({key})", yaml.safe_load(str(data[key])), resource.urn, resource
                except yaml.YAMLError:
                    yield f"ConfigMap {resource.name} ({key})", None, resource.urn, resource


def _on_prem(resource: PolicyResource | None, settings: Mapping[str, Any]) -> bool:
    provider = resource.provider if resource is not None else None
    name = f"{provider.name} {provider.urn}" if provider is not None else ""
    return any(marker in name for marker in settings["onPremProviderMarkers"])


def _gateway_auth(args: StackValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    for where, config, urn, resource in _gateway_configs(args.resources, settings):
        allowed = list(settings["allowedKeySources"])
        # On-prem has no Secrets Manager (and no AWS credentials): keys come from a mounted Kubernetes Secret.
        if _on_prem(resource, settings):
            allowed += [source for source in settings["onPremKeySources"] if source not in allowed]
        for problem in gateway_auth_problems(config, {**settings, "allowedKeySources": allowed}):
            report(f"{where} must {problem}.", urn or None)


POLICIES = [
    resource_policy(
        "ray-ports-not-exposed",
        "Ray dashboard, GCS and client ports must never be on a load balancer, NodePort or Ingress.",
        _ray_ports,
        {"ports": RAY_PORTS},
    ),
    resource_policy(
        "public-ingress-gateway-only",
        "Public Ingresses and load balancers must route only to the safety gateway.",
        _public_ingress,
        {
            "gatewayServices": Setting("array", ["gateway"], "Service names of the safety gateway."),
            **INTERNAL_SETTINGS,
        },
    ),
    resource_policy(
        "lb-internal-unless-gateway",
        "AWS load balancers must be internal, except the one in front of the gateway's ingress.",
        _load_balancers,
        {
            "gatewayLoadBalancers": Setting(
                "array",
                ["*gateway-ingress*"],
                "Name patterns (fnmatch) of the load balancers that may face the internet.",
            )
        },
    ),
    resource_policy(
        "rayservice-gpu-worker-limits",
        "Ray GPU worker groups must cap their replicas and GPUs.",
        _worker_limits,
    ),
    resource_policy(
        "model-images-pinned-by-digest",
        "Ray serving images must be pinned by digest.",
        _model_images,
    ),
    stack_policy(
        "gateway-auth-enabled",
        "The safety gateway's config must enforce API-key authentication.",
        _gateway_auth,
        {
            "gatewayConfig": Setting(
                "object", {}, "The environment's gateway config (services/config/gateway-<env>.yaml)."
            ),
            "allowedKeySources": Setting("array", ["secrets_manager"], "Where the gateway may load API keys from."),
            "onPremKeySources": Setting(
                "array",
                ["file"],
                "Further key sources for gateways on the on-prem cluster (a file mounted from a Kubernetes Secret).",
            ),
            "onPremProviderMarkers": Setting(
                "array", ["onprem", "on-prem"], "Substrings of the on-prem cluster provider's name or URN."
            ),
            "allowedPublicPaths": Setting("array", ["/healthz", "/readyz", "/livez"], "Paths served without a key."),
        },
    ),
]
