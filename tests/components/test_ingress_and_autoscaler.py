"""The ingress controller each cluster runs and the autoscaler that owns GPU capacity, under mocks
(EKS, ACM and the clusters cannot run here; the stacks are rendered with Pulumi mocks)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components._pod_identity import pod_identity_trust_policy
from components.gpu_autoscaler import autoscaler_permissions, needs_autoscaler
from components.gpu_cluster_settings import GpuNodePool
from components.ingress_controller import load_balancer_controller_permissions
from platform_facts import project
from stacks.config import read_stack_file
from stacks.plan import PlanGraph, PlannedResource, render
from tests.stacks.helpers import component, under

PROD = project.environment_prefix("prod")

Render = Callable[[str], PlanGraph]
RELEASE = "kubernetes:helm.sh/v3:Release"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def _release(graph: PlanGraph, chart: str) -> PlannedResource:
    (release,) = [r for r in graph.of_type(RELEASE) if r.inputs["chart"] == chart]
    return release


def _bound_role(graph: PlanGraph, service_account: str) -> tuple[PlannedResource, PlannedResource]:
    (association,) = [r for r in graph.of_type(ASSOCIATION) if r.inputs["serviceAccount"] == service_account]
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.outputs["arn"] == association.inputs["roleArn"]]
    return association, role


def _render_with(environment: str, key: str, change: Callable[[dict[str, object]], dict[str, object]]) -> PlanGraph:
    values, secret_keys = read_stack_file(environment)
    values[key] = json.dumps(change(json.loads(values.get(key, "{}"))))
    return render(values, secret_keys, stack=environment)


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_eks_runs_the_load_balancer_controller_internal_with_a_certificate(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    (cluster,) = graph.of_type("aws:eks/cluster:Cluster")
    controller = _release(graph, "aws-load-balancer-controller")
    values = controller.inputs["values"]
    (certificate,) = graph.of_type("aws:acm/certificate:Certificate")
    assert values["ingressClass"] == "alb" and values["createIngressClassResource"] is True
    assert values["ingressClassParams"] == {
        "create": True,
        "name": "alb",
        "spec": {
            "scheme": "internal",
            "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "certificateArn": [certificate.outputs["arn"]],
        },
    }
    assert values["vpcId"] == cluster.outputs["vpcConfig"]["vpcId"] and values["region"] == "us-east-1"
    assert values["enableServiceMutatorWebhook"] is False
    hostnames = [i.inputs["spec"]["rules"][0]["host"] for i in graph.of_type("kubernetes:networking.k8s.io/v1:Ingress")]
    assert certificate.inputs["domainName"] in hostnames and certificate.inputs["validationMethod"] == "DNS"
    association, role = _bound_role(graph, "aws-load-balancer-controller")
    assert association.inputs["namespace"] == "kube-system" and association.urn in controller.dependencies
    assert role.inputs["assumeRolePolicy"] == pod_identity_trust_policy(
        cluster.outputs["arn"], "kube-system", "aws-load-balancer-controller"
    )
    assert role.inputs["inlinePolicies"][0]["policy"] == load_balancer_controller_permissions()


def test_a_configured_certificate_is_used_and_none_is_requested() -> None:
    graph = _render_with("dev", project.config_key("eks"), lambda eks: {**eks, "ingress": {"certificate_arn": CERTIFICATE_ARN}})
    assert graph.of_type("aws:acm/certificate:Certificate") == []
    spec = _release(graph, "aws-load-balancer-controller").inputs["values"]["ingressClassParams"]["spec"]
    assert spec["certificateArn"] == [CERTIFICATE_ARN]


def test_a_certificate_that_is_not_an_acm_arn_is_refused_naming_the_key() -> None:
    from stacks.config import ConfigError, load_stack_config

    values, secret_keys = read_stack_file("dev")
    values[project.config_key("eks")] = json.dumps({**json.loads(values[project.config_key("eks")]), "ingress": {"certificate_arn": "cert-1"}})
    with pytest.raises(ConfigError, match=rf"{project.CONFIG_NAMESPACE}:eks.ingress.certificate_arn: String should match pattern"):
        load_stack_config(values, secret_keys)


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_on_prem_runs_ingress_nginx_https_only(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    onprem = component(graph, project.type_token("OnPremCluster"))
    (nginx,) = [r for r in under(graph, onprem, RELEASE) if r.inputs["chart"] == "ingress-nginx"]
    controller = nginx.inputs["values"]["controller"]
    assert controller["ingressClassResource"] == {"name": "nginx", "enabled": True, "default": False}
    assert controller["service"]["enableHttp"] is False and controller["config"]["ssl-protocols"] == "TLSv1.2 TLSv1.3"
    assert nginx.inputs["namespace"] == "ingress-nginx"
    (regulated,) = [i for i in graph.of_type("kubernetes:networking.k8s.io/v1:Ingress") if "regulated" in i.name]
    assert regulated.inputs["spec"]["ingressClassName"] == "nginx"
    assert under(graph, onprem, ASSOCIATION) == [], "no AWS identity on-prem"


def test_the_on_prem_ingress_class_comes_from_config() -> None:
    graph = _render_with("prod", project.config_key("onprem"), lambda onprem: {**onprem, "ingress": {"class_name": "corp-nginx"}})
    values = _release(graph, "ingress-nginx").inputs["values"]["controller"]
    assert values["ingressClass"] == "corp-nginx"
    (regulated,) = [i for i in graph.of_type("kubernetes:networking.k8s.io/v1:Ingress") if "regulated" in i.name]
    assert regulated.inputs["spec"]["ingressClassName"] == "corp-nginx"


@pytest.mark.parametrize(
    ("pools", "needed"),
    [
        ([GpuNodePool(name="a", instance_type="g6.xlarge", min_size=3, desired_size=3, max_size=12)], True),
        ([GpuNodePool(name="a", instance_type="g6.xlarge", min_size=2, desired_size=2, max_size=2)], False),
        ([], False),
    ],
)
def test_an_autoscaler_is_needed_where_a_managed_group_can_change_size(pools: list[GpuNodePool], needed: bool) -> None:
    assert needs_autoscaler(pools) is needed


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_managed_gpu_groups_that_can_grow_have_cluster_autoscaler(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    (cluster,) = graph.of_type("aws:eks/cluster:Cluster")
    name = cluster.outputs["name"]
    autoscaler = _release(graph, "cluster-autoscaler")
    values = autoscaler.inputs["values"]
    assert values["autoDiscovery"] == {"clusterName": name} and values["awsRegion"] == "us-east-1"
    assert values["image"] == {"tag": f"v{cluster.inputs['version']}.0"}
    gpu_groups = [g for g in graph.of_type(NODE_GROUP) if g.inputs["labels"].get(project.label("gpu")) == "true"]
    assert gpu_groups
    for group in gpu_groups:
        assert group.inputs["tags"] == {
            "k8s.io/cluster-autoscaler/enabled": "true",
            f"k8s.io/cluster-autoscaler/{name}": "owned",
        }, group.urn
    association, role = _bound_role(graph, "cluster-autoscaler")
    assert association.urn in autoscaler.dependencies
    assert role.inputs["inlinePolicies"][0]["policy"] == autoscaler_permissions(name, cluster.outputs["arn"])


def test_autoscaler_may_resize_only_this_clusters_groups() -> None:
    statements = json.loads(autoscaler_permissions("c1", "arn:aws:eks:us-east-1:1:cluster/c1"))["Statement"]
    resize, _discover, nodegroups = statements
    assert resize["Action"] == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert resize["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/c1": "owned"}}
    assert nodegroups["Resource"] == "arn:aws:eks:us-east-1:1:nodegroup/c1/*/*"


def test_karpenter_owns_staging_gpu_capacity_so_no_autoscaler(rendered: Render) -> None:
    graph = rendered("staging")
    charts = {r.inputs["chart"] for r in graph.of_type(RELEASE)}
    assert "cluster-autoscaler" not in charts
    assert any(chart.endswith("/karpenter") for chart in charts)


def test_fixed_size_gpu_groups_get_no_autoscaler() -> None:
    def fixed(eks: dict[str, object]) -> dict[str, object]:
        pool = {"name": "gpu", "instance_type": "g6.xlarge", "min_size": 1, "desired_size": 1, "max_size": 1}
        return {**eks, "gpu_node_pools": [pool]}

    graph = _render_with("dev", project.config_key("eks"), fixed)
    assert "cluster-autoscaler" not in {r.inputs["chart"] for r in graph.of_type(RELEASE)}
    (gpu,) = [g for g in graph.of_type(NODE_GROUP) if g.inputs["labels"].get(project.label("gpu")) == "true"]
    assert not gpu.inputs.get("tags")


def test_a_pulumi_up_does_not_undo_the_autoscalers_scale_out() -> None:
    """Groups cluster-autoscaler resizes (GPU and system alike: it discovers every managed group) ignore
    changes to their desired size, so the next `pulumi up` does not shrink them back.
    (`ignoreChanges` is an engine option, not an input: read it off the registrations the mock engine receives.)"""
    from stacks.config import load_stack_config
    from stacks.mocks import PlanMocks
    from stacks.plan import PROJECT
    from stacks.pulumi_internals import RecordingMonitor, engine_config, run_under_mocks

    class IgnoreChangesMonitor(RecordingMonitor):
        def __init__(self, mocks: PlanMocks) -> None:
            super().__init__(mocks)
            self.ignore_changes: dict[str, list[str]] = {}

        def RegisterResource(self, request: Any) -> Any:
            self.ignore_changes[request.name] = list(request.ignoreChanges)
            return super().RegisterResource(request)

    values, secret_keys = read_stack_file("prod")
    mocks = PlanMocks(region="us-east-1")
    monitor = IgnoreChangesMonitor(mocks)
    mocks.monitor = monitor

    def program() -> None:
        from stacks.compose import build_platform

        build_platform(load_stack_config(*engine_config()))

    run_under_mocks(program, monitor, project=PROJECT, stack="prod", config=values, secret_keys=secret_keys)
    assert monitor.ignore_changes[f"{PROD}-eks-inference"] == ["scalingConfig.desiredSize"]
    assert monitor.ignore_changes[f"{PROD}-eks-system"] == ["scalingConfig.desiredSize"]
    assert monitor.ignore_changes[f"{PROD}-eks-eks"] == []
