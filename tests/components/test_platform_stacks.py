"""Each environment's clusters, monitoring and inference platforms, rendered end to end under mocks.

The cloud and the clusters cannot run here; `stacks.plan.render_environment` renders the committed
stack files with Pulumi mocks, exactly as `make plan` does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from stacks.plan import PlanGraph, PlannedResource

Render = Callable[[str], PlanGraph]


def _counts(graph: PlanGraph, parent: PlannedResource) -> dict[str, int]:
    return dict(Counter(r.type for r in graph.descendants(parent.urn)))


def _names(graph: PlanGraph, type_token: str) -> list[str]:
    return sorted(r.name for r in graph.of_type(type_token))


def test_prod_is_hybrid_with_both_inference_platforms(rendered: Render) -> None:
    graph = rendered("prod")
    assert _names(graph, "rampart:index:GpuCluster") == ["rampart-prod-eks"]
    assert _names(graph, "rampart:index:OnPremCluster") == ["rampart-prod-onprem"]
    assert _names(graph, "rampart:index:Observability") == ["rampart-prod-eks-obs", "rampart-prod-onprem-obs"]
    assert _names(graph, "rampart:index:InferencePlatform") == ["rampart-prod-public", "rampart-prod-regulated"]
    (eks,) = graph.of_type("rampart:index:GpuCluster")
    assert _counts(graph, eks) == {
        "aws:cloudwatch/logGroup:LogGroup": 1,
        "aws:ec2/launchTemplate:LaunchTemplate": 2,
        "aws:eks/cluster:Cluster": 1,
        "aws:eks/nodeGroup:NodeGroup": 2,
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider": 1,
        "aws:iam/role:Role": 2,
        "aws:iam/rolePolicy:RolePolicy": 1,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 5,
        "kubernetes:core/v1:Namespace": 2,
        "kubernetes:helm.sh/v3:Release": 2,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 4,
        "pulumi:providers:kubernetes": 1,
    }
    (onprem,) = graph.of_type("rampart:index:OnPremCluster")
    assert _counts(graph, onprem) == {
        "kubernetes:core/v1:Namespace": 2,
        "kubernetes:core/v1:NodePatch": 2,
        "kubernetes:helm.sh/v3:Release": 2,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 4,
        "pulumi:providers:kubernetes": 1,
    }
    for platform in graph.of_type("rampart:index:InferencePlatform"):
        assert _counts(graph, platform) == {
            "kubernetes:core/v1:Namespace": 1,
            "kubernetes:core/v1:Service": 2,
            "kubernetes:core/v1:ServiceAccount": 1,
            "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": 1,
            "kubernetes:networking.k8s.io/v1:Ingress": 1,
            "kubernetes:networking.k8s.io/v1:NetworkPolicy": 5,
            "kubernetes:policy/v1:PodDisruptionBudget": 2,
            "kubernetes:ray.io/v1:RayService": 1,
        }, platform.urn
    assert len(graph.resources) == 178


def test_staging_has_prods_shape_but_smaller(rendered: Render) -> None:
    staging, prod = rendered("staging"), rendered("prod")
    for type_token in ("rampart:index:GpuCluster", "rampart:index:OnPremCluster", "rampart:index:InferencePlatform"):
        assert len(staging.of_type(type_token)) == len(prod.of_type(type_token)), type_token
    assert len(staging.of_type("kubernetes:core/v1:NodePatch")) < len(prod.of_type("kubernetes:core/v1:NodePatch"))
    (karpenter,) = staging.of_type("kubernetes:karpenter.sh/v1:NodePool")
    assert int(karpenter.inputs["spec"]["limits"]["nvidia.com/gpu"]) <= 4


def test_dev_is_eks_only_with_one_platform(rendered: Render) -> None:
    graph = rendered("dev")
    assert graph.of_type("rampart:index:OnPremCluster") == []
    assert _names(graph, "rampart:index:InferencePlatform") == ["rampart-dev-public"]
    assert _names(graph, "rampart:index:Observability") == ["rampart-dev-eks-obs"]


def test_kubernetes_resources_use_the_provider_of_their_cluster(rendered: Render) -> None:
    graph = rendered("prod")
    providers = {p.urn for p in graph.of_type("pulumi:providers:kubernetes")}
    assert len(providers) == 2
    for resource in graph.resources:
        if resource.type.startswith("kubernetes:"):
            assert resource.provider in providers, f"{resource.urn} would use the ambient kubeconfig"
