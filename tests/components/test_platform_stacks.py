"""Each environment's clusters, monitoring and inference platforms, rendered end to end under mocks.

The cloud and the clusters cannot run here; `stacks.plan.render_environment` renders the committed
stack files with Pulumi mocks, exactly as `make plan` does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from platform_facts import project
from stacks.plan import PlanGraph, PlannedResource

DEV = project.environment_prefix("dev")
PROD = project.environment_prefix("prod")

Render = Callable[[str], PlanGraph]


def _counts(graph: PlanGraph, parent: PlannedResource) -> dict[str, int]:
    return dict(Counter(r.type for r in graph.descendants(parent.urn)))


def _names(graph: PlanGraph, type_token: str) -> list[str]:
    return sorted(r.name for r in graph.of_type(type_token))


def test_prod_is_hybrid_with_both_inference_platforms(rendered: Render) -> None:
    graph = rendered("prod")
    assert _names(graph, project.type_token("GpuCluster")) == [f"{PROD}-eks"]
    assert _names(graph, project.type_token("OnPremCluster")) == [f"{PROD}-onprem"]
    assert _names(graph, project.type_token("Observability")) == [f"{PROD}-eks-obs", f"{PROD}-onprem-obs"]
    assert _names(graph, project.type_token("InferencePlatform")) == [f"{PROD}-public", f"{PROD}-regulated"]
    (eks,) = graph.of_type(project.type_token("GpuCluster"))
    assert _counts(graph, eks) == {
        "aws:acm/certificate:Certificate": 1,  # for the EKS platforms' hostnames: config names no certificate
        "aws:cloudwatch/logGroup:LogGroup": 1,
        "aws:ec2/launchTemplate:LaunchTemplate": 2,
        "aws:eks/addon:Addon": 1,  # eks-pod-identity-agent
        "aws:eks/cluster:Cluster": 1,
        "aws:eks/nodeGroup:NodeGroup": 2,
        "aws:eks/podIdentityAssociation:PodIdentityAssociation": 2,  # load balancer controller, autoscaler
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider": 1,
        "aws:iam/role:Role": 4,
        "aws:iam/rolePolicy:RolePolicy": 1,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 5,
        "kubernetes:core/v1:Namespace": 2,
        "kubernetes:helm.sh/v3:Release": 4,  # GPU operator, KubeRay, load balancer controller, cluster-autoscaler
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 4,
        "pulumi:providers:kubernetes": 1,
    }
    (onprem,) = graph.of_type(project.type_token("OnPremCluster"))
    assert _counts(graph, onprem) == {
        "kubernetes:core/v1:Namespace": 3,
        "kubernetes:core/v1:NodePatch": 2,
        "kubernetes:helm.sh/v3:Release": 3,  # GPU operator, KubeRay, ingress-nginx
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 8,
        "pulumi:providers:kubernetes": 1,
    }
    common = {
        "kubernetes:core/v1:ConfigMap": 1,
        "kubernetes:core/v1:Namespace": 1,
        "kubernetes:core/v1:Service": 2,
        "kubernetes:core/v1:ServiceAccount": 1,
        "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": 1,
        "kubernetes:networking.k8s.io/v1:Ingress": 1,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 5,
        "kubernetes:policy/v1:PodDisruptionBudget": 2,
        "kubernetes:ray.io/v1:RayService": 1,
    }
    on_prem_volumes = {"kubernetes:core/v1:PersistentVolumeClaim": 2, "kubernetes:core/v1:Secret": 1}
    for platform in graph.of_type(project.type_token("InferencePlatform")):
        expected = {**common, **(on_prem_volumes if platform.name.endswith("-regulated") else {})}
        assert _counts(graph, platform) == expected, platform.urn
    (identity,) = graph.of_type(project.type_token("ServingIdentity"))  # the cloud platform only
    assert _counts(graph, identity) == {
        "aws:eks/podIdentityAssociation:PodIdentityAssociation": 1,
        "aws:iam/role:Role": 1,
    }
    (registry,) = graph.of_type(project.type_token("ContainerRegistry"))
    assert _counts(graph, registry) == {
        "aws:ecr/lifecyclePolicy:LifecyclePolicy": 1,
        "aws:ecr/repository:Repository": 1,
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider": 1,
        "aws:iam/role:Role": 1,
    }
    # 16 of them the state databases: RDS (5), its role-bootstrap Job (8), CloudNativePG on site (3).
    assert len(graph.resources) == 221


def test_staging_has_prods_shape_but_smaller(rendered: Render) -> None:
    staging, prod = rendered("staging"), rendered("prod")
    for type_token in (project.type_token("GpuCluster"), project.type_token("OnPremCluster"), project.type_token("InferencePlatform")):
        assert len(staging.of_type(type_token)) == len(prod.of_type(type_token)), type_token
    assert len(staging.of_type("kubernetes:core/v1:NodePatch")) < len(prod.of_type("kubernetes:core/v1:NodePatch"))
    (karpenter,) = staging.of_type("kubernetes:karpenter.sh/v1:NodePool")
    assert int(karpenter.inputs["spec"]["limits"]["nvidia.com/gpu"]) <= 4


def test_dev_is_eks_only_with_one_platform(rendered: Render) -> None:
    graph = rendered("dev")
    assert graph.of_type(project.type_token("OnPremCluster")) == []
    assert _names(graph, project.type_token("InferencePlatform")) == [f"{DEV}-public"]
    assert _names(graph, project.type_token("Observability")) == [f"{DEV}-eks-obs"]


def test_kubernetes_resources_use_the_provider_of_their_cluster(rendered: Render) -> None:
    graph = rendered("prod")
    providers = {p.urn for p in graph.of_type("pulumi:providers:kubernetes")}
    assert len(providers) == 2
    for resource in graph.resources:
        if resource.type.startswith("kubernetes:"):
            assert resource.provider in providers, f"{resource.urn} would use the ambient kubeconfig"
