"""Kubernetes workload policies: the Pod Security "restricted" profile, resources, images, network isolation.

Every check covers each pod template of a workload (Deployments, StatefulSets, Jobs, CronJobs,
bare Pods, and KubeRay head and worker groups) and each of its containers, init containers included.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from policy_rules.core import Report, Setting, dig, is_mapping, items, resource_policy, stack_policy, strings
from policy_rules.workloads import Container, containers, is_kubernetes, kind_of, namespace_of, pod_templates

__all__ = ["DEFAULT_ALLOWED_REGISTRIES", "POLICIES", "image_reference_problem", "subject"]

DEFAULT_ALLOWED_REGISTRIES = (
    "*.dkr.ecr.*.amazonaws.com/*",
    "public.ecr.aws/*",
    "nvcr.io/nvidia/*",
    "registry.k8s.io/*",
)
"""Registries images may come from anywhere: private ECR, ECR Public, NGC, Kubernetes' own. A stack adds
its on-prem mirror (`tools/policy_config.py`)."""

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"


def subject(args: ResourceValidationArgs, container: Container | None = None) -> str:
    """How a message names what it is about: `Deployment api container server`."""
    kind = kind_of(args.resource_type)
    where = "" if container is None or container.pod.where == "pod" else f" {container.pod.where}"
    return f"{kind} {args.name}{where}" + (f" container {container.name}" if container else "")


def _containers(args: ResourceValidationArgs) -> Iterator[Container]:
    for pod in pod_templates(args.resource_type, args.props):
        yield from containers(pod)


ContainerCheck = Callable[[Container], str | None]


def _per_container(check: ContainerCheck) -> Any:
    """A resource check that runs `check` on every container; it returns the tail of the message or None."""

    def run(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
        for container in _containers(args):
            problem = check(container)
            if problem:
                report(f"{subject(args, container)} must {problem}.")

    return run


def _security_context(container: Container, key: str) -> Any:
    """A container's setting, falling back to the pod's (for the fields the pod can set)."""
    value = dig(container.spec, "securityContext", key)
    return value if value is not None else dig(container.pod.spec, "securityContext", key)


def _privileged(container: Container) -> str | None:
    return "not run privileged" if dig(container.spec, "securityContext", "privileged") is True else None


def _escalation(container: Container) -> str | None:
    allowed = dig(container.spec, "securityContext", "allowPrivilegeEscalation")
    return None if allowed is False else "set securityContext.allowPrivilegeEscalation to false"


def _non_root(container: Container) -> str | None:
    if _security_context(container, "runAsUser") == 0:
        return "not run as user 0 (root)"
    return None if _security_context(container, "runAsNonRoot") is True else "set runAsNonRoot to true"


def _read_only_root(container: Container) -> str | None:
    read_only = dig(container.spec, "securityContext", "readOnlyRootFilesystem")
    return None if read_only is True else "set securityContext.readOnlyRootFilesystem to true"


def _host_process(container: Container) -> str | None:
    if _security_context(container, "windowsOptions") and dig(
        _security_context(container, "windowsOptions"), "hostProcess"
    ):
        return "not run as a Windows host process"
    return None


def _host_ports(container: Container) -> str | None:
    ports = [dig(port, "hostPort") for port in items(container.spec.get("ports"))]
    used = [port for port in ports if port not in (None, 0)]
    return f"not bind host port {used[0]}" if used else None


def _seccomp(container: Container) -> str | None:
    profile = dig(container.spec, "securityContext", "seccompProfile", "type")
    if profile is None:
        profile = dig(container.pod.spec, "securityContext", "seccompProfile", "type")
    if profile in ("RuntimeDefault", "Localhost"):
        return None
    return "set securityContext.seccompProfile.type to RuntimeDefault"


def _service_account_token(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    # Unset means mounted: a pod that never calls the API should not carry a token that can.
    for pod in pod_templates(args.resource_type, args.props):
        automount = pod.spec.get("automountServiceAccountToken")
        needs_api = automount is True and pod.spec.get("serviceAccountName") in settings["apiServiceAccounts"]
        if automount is not False and not needs_api:
            where = "" if pod.where == "pod" else f" {pod.where}"
            report(
                f"{kind_of(args.resource_type)} {args.name}{where} must set automountServiceAccountToken to false "
                "unless its service account is one that needs the API."
            )


def _drop_all(container: Container) -> str | None:
    # Capability names are matched case-insensitively, as the container runtimes read them.
    dropped = [cap.upper() for cap in strings(dig(container.spec, "securityContext", "capabilities", "drop"))]
    return None if "ALL" in dropped else "drop ALL capabilities"


def _added_capabilities(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    allowed = {str(cap).upper().removeprefix("CAP_") for cap in settings["allowedCapabilities"]}
    for container in _containers(args):
        added = strings(dig(container.spec, "securityContext", "capabilities", "add"))
        extra = [cap for cap in added if cap.upper().removeprefix("CAP_") not in allowed]
        if extra:
            report(f"{subject(args, container)} must not add capabilities {', '.join(extra)}.")


def _resources(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    for container in _containers(args):
        for kind, required in (("requests", settings["requests"]), ("limits", settings["limits"])):
            declared = dig(container.spec, "resources", kind)
            missing = [name for name in required if dig(declared, name) in (None, "", 0, "0")]
            if missing:
                report(f"{subject(args, container)} must set resources.{kind} for {', '.join(missing)}.")


def _host_namespaces(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    for pod in pod_templates(args.resource_type, args.props):
        shared = [key for key in ("hostNetwork", "hostPID", "hostIPC") if pod.spec.get(key) is True]
        if shared:
            where = "" if pod.where == "pod" else f" {pod.where}"
            report(f"{kind_of(args.resource_type)} {args.name}{where} must not use {', '.join(shared)}.")


def _host_path(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    for pod in pod_templates(args.resource_type, args.props):
        for volume in items(pod.spec.get("volumes")):
            if dig(volume, "hostPath") is not None:
                where = "" if pod.where == "pod" else f" {pod.where}"
                report(
                    f"{kind_of(args.resource_type)} {args.name}{where} must not mount hostPath volume "
                    f"{dig(volume, 'name') or '(unnamed)'}."
                )


def image_reference_problem(image: Any, require_digest: bool) -> str | None:
    """Why an image reference is not acceptable, or None: untagged and `latest` never, tags only without digests."""
    if not isinstance(image, str) or not image:
        return "name an image"
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag is None or tag == "latest":
        return f"pin image {image} to a version, never latest or untagged"
    if require_digest:
        return f"pin image {image} by digest (@sha256:...)"
    return None


def _images(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    for container in _containers(args):
        problem = image_reference_problem(container.spec.get("image"), settings["requireDigest"])
        if problem:
            report(f"{subject(args, container)} must {problem}.")


def _registries(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    allowed = [str(pattern) for pattern in settings["allowedRegistries"]]
    for container in _containers(args):
        image = container.spec.get("image")
        if isinstance(image, str) and not any(fnmatch.fnmatchcase(image, pattern) for pattern in allowed):
            report(f"{subject(args, container)} must pull from an allowed registry, not {image.split('@')[0]}.")


def is_default_deny(props: Mapping[str, Any]) -> bool:
    """A NetworkPolicy selecting every pod of its namespace that admits no ingress."""
    spec = dig(props, "spec")
    selector = dig(spec, "podSelector")
    selects_all = is_mapping(selector) and not dig(selector, "matchLabels") and not dig(selector, "matchExpressions")
    return selects_all and "Ingress" in strings(dig(spec, "policyTypes")) and not list(items(dig(spec, "ingress")))


def _default_deny(args: StackValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    cluster_of = {resource.urn: (resource.provider.urn if resource.provider else "") for resource in args.resources}
    namespaces: dict[tuple[str, str], Any] = {}
    denied: set[tuple[str, str]] = set()
    for resource in args.resources:
        if not is_kubernetes(resource.resource_type):
            continue
        cluster = cluster_of[resource.urn]
        if resource.resource_type == NAMESPACE:
            name = dig(resource.props, "metadata", "name") or resource.name
            namespaces.setdefault((cluster, name), resource)
        elif any(True for _ in pod_templates(resource.resource_type, resource.props)):
            namespaces.setdefault((cluster, namespace_of(resource.props)), resource)
        elif resource.resource_type == NETWORK_POLICY and is_default_deny(resource.props):
            denied.add((cluster, namespace_of(resource.props)))
    for (cluster, name), resource in sorted(namespaces.items(), key=lambda entry: entry[0]):
        if name not in settings["exemptNamespaces"] and (cluster, name) not in denied:
            report(f"Namespace {name} must have a default-deny ingress NetworkPolicy.", resource.urn)


POLICIES = [
    resource_policy("k8s-no-privileged", "Containers must not run privileged.", _per_container(_privileged)),
    resource_policy(
        "k8s-no-privilege-escalation",
        "Containers must forbid privilege escalation.",
        _per_container(_escalation),
    ),
    resource_policy(
        "k8s-no-host-namespaces",
        "Pods must not share the host's network, PID or IPC namespace.",
        _host_namespaces,
    ),
    resource_policy("k8s-no-host-path", "Pods must not mount hostPath volumes.", _host_path),
    resource_policy("k8s-no-host-ports", "Containers must not bind host ports.", _per_container(_host_ports)),
    resource_policy(
        "k8s-no-host-process",
        "Windows containers must not run as host processes.",
        _per_container(_host_process),
    ),
    resource_policy("k8s-run-as-non-root", "Containers must run as a non-root user.", _per_container(_non_root)),
    resource_policy(
        "k8s-read-only-root-filesystem",
        "Containers must have a read-only root filesystem.",
        _per_container(_read_only_root),
    ),
    resource_policy(
        "k8s-seccomp-runtime-default",
        "Containers must run under the RuntimeDefault (or a Localhost) seccomp profile.",
        _per_container(_seccomp),
    ),
    resource_policy(
        "k8s-no-service-account-token-automount",
        "Pods must not mount a service-account token unless they need the Kubernetes API.",
        _service_account_token,
        {
            "apiServiceAccounts": Setting(
                "array", [], "Service accounts of workloads that call the Kubernetes API and may mount a token."
            )
        },
    ),
    resource_policy(
        "k8s-drop-all-capabilities",
        "Containers must drop all Linux capabilities.",
        _per_container(_drop_all),
    ),
    resource_policy(
        "k8s-no-added-capabilities",
        "Containers must add back only the allowed Linux capabilities.",
        _added_capabilities,
        {"allowedCapabilities": Setting("array", ["NET_BIND_SERVICE"], "Capabilities a container may add back.")},
    ),
    resource_policy(
        "k8s-resources-set",
        "Containers must declare resource requests and limits.",
        _resources,
        {
            "requests": Setting("array", ["cpu", "memory"], "Resources every container must request."),
            "limits": Setting("array", ["cpu", "memory"], "Resources every container must limit."),
        },
    ),
    resource_policy(
        "k8s-images-pinned",
        "Container images must be pinned: never latest, by digest where required.",
        _images,
        {"requireDigest": Setting("boolean", True, "Require every image to be pinned by @sha256 digest.")},
    ),
    resource_policy(
        "k8s-images-from-allowed-registries",
        "Container images must come from the platform's registries.",
        _registries,
        {
            "allowedRegistries": Setting(
                "array",
                list(DEFAULT_ALLOWED_REGISTRIES),
                "Image patterns (fnmatch) that may be pulled: private ECR, ECR Public, NGC, Kubernetes.",
            )
        },
    ),
    stack_policy(
        "k8s-default-deny-network-policy",
        "Every namespace with workloads must have a default-deny ingress NetworkPolicy.",
        _default_deny,
        {"exemptNamespaces": Setting("array", ["kube-system"], "Namespaces managed by the cluster itself.")},
    ),
]
