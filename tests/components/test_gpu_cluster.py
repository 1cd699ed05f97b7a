"""`GpuCluster` under mocks (EKS cannot run here; stacks are rendered with Pulumi mocks).

Private endpoint, envelope encryption, control-plane logs, IRSA, IMDSv2, GPU node pools with the
right AMI and taint, Karpenter bounded by config and fed EC2 interruption events, and a Kubernetes
provider from a secret kubeconfig.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from components.gpu_cluster import GpuClusterArgs, irsa_trust_policy
from components.gpu_cluster_settings import GpuClusterSettings, GpuNodePool, KarpenterPool, gpu_ami_type
from components.settings import SettingsError
from platform_facts import project
from platform_facts.eks import CONTROL_PLANE_LOG_TYPES
from stacks.config import ConfigError, load_stack_config, read_stack_file
from stacks.plan import PlanGraph, render
from tests.stacks.helpers import component, under

PROD = project.environment_prefix("prod")
STAGING = project.environment_prefix("staging")

Render = Callable[[str], PlanGraph]
EKS = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


@pytest.mark.parametrize(
    ("instance_type", "ami_type"),
    [
        ("g6e.2xlarge", "AL2023_x86_64_NVIDIA"),
        ("p5.48xlarge", "AL2023_x86_64_NVIDIA"),
        ("g4dn.xlarge", "AL2023_x86_64_NVIDIA"),
        ("g5g.2xlarge", "AL2023_ARM_64_NVIDIA"),
        ("inf2.xlarge", "AL2023_x86_64_NEURON"),
    ],
)
def test_gpu_ami_type_follows_the_instance_family(instance_type: str, ami_type: str) -> None:
    assert gpu_ami_type(instance_type) == ami_type


def test_gpu_ami_type_refuses_a_family_without_accelerators() -> None:
    with pytest.raises(ValueError, match=r"m7i.large is not an accelerated instance family"):
        gpu_ami_type("m7i.large")


def test_irsa_trust_policy_names_exactly_one_service_account() -> None:
    policy = json.loads(irsa_trust_policy("arn:aws:iam::1:oidc-provider/x", "https://oidc.example/id/A", "ns", "sa"))
    (statement,) = policy["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        "oidc.example/id/A:sub": "system:serviceaccount:ns:sa",
        "oidc.example/id/A:aud": "sts.amazonaws.com",
    }


def test_endpoint_is_private_secrets_encrypted_and_every_log_type_on(rendered: Render) -> None:
    graph = rendered("prod")
    (cluster,) = graph.of_type(EKS)
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False, cluster.urn
    assert not vpc.get("publicAccessCidrs"), cluster.urn
    (key,) = graph.of_type("aws:kms/key:Key")
    (encryption,) = (
        cluster.inputs["encryptionConfig"]
        if isinstance(cluster.inputs["encryptionConfig"], list)
        else [cluster.inputs["encryptionConfig"]]
    )
    assert encryption["resources"] == ["secrets"] and encryption["provider"]["keyArn"] == key.outputs["arn"], (
        cluster.urn
    )
    assert sorted(cluster.inputs["enabledClusterLogTypes"]) == sorted(CONTROL_PLANE_LOG_TYPES), cluster.urn
    private_subnets = {s.id for s in graph.of_type("aws:ec2/subnet:Subnet") if "private" in s.name}
    assert set(vpc["subnetIds"]) == private_subnets, cluster.urn


def test_control_plane_logs_are_kept_and_encrypted(rendered: Render) -> None:
    graph = rendered("prod")
    (cluster,) = graph.of_type(EKS)
    (group,) = [
        g
        for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.inputs.get("name") == f"/aws/eks/{cluster.inputs['name']}/cluster"
    ]
    assert group.inputs["retentionInDays"] == 365 and group.inputs["kmsKeyId"].startswith("arn:aws:kms:"), group.urn
    assert group.urn in cluster.dependencies, f"{cluster.urn} must wait for its log group"


def test_public_endpoint_only_with_an_explicit_allow_list() -> None:
    values, secret_keys = read_stack_file("dev")
    values[project.config_key("eks")] = json.dumps({**json.loads(values[project.config_key("eks")]), "public_access_cidrs": ["203.0.113.0/24"]})
    (cluster,) = render(values, secret_keys, stack="dev").of_type(EKS)
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is True, cluster.urn
    assert cluster.inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"], cluster.urn


def test_an_open_public_endpoint_is_refused_by_config() -> None:
    values, secret_keys = read_stack_file("dev")
    values[project.config_key("eks")] = json.dumps({**json.loads(values[project.config_key("eks")]), "public_access_cidrs": ["0.0.0.0/0"]})
    with pytest.raises(ConfigError, match=rf"{project.CONFIG_NAMESPACE}:eks.public_access_cidrs: 0.0.0.0/0 would open the API endpoint"):
        load_stack_config(values, secret_keys)


def test_oidc_provider_is_the_clusters_issuer(rendered: Render) -> None:
    graph = rendered("prod")
    (cluster,) = graph.of_type(EKS)
    (eks,) = graph.of_type(project.type_token("GpuCluster"))
    (oidc,) = [r for r in graph.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") if r.parent == eks.urn]
    assert oidc.inputs["url"] == cluster.outputs["identities"][0]["oidcs"][0]["issuer"], oidc.urn
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"], oidc.urn


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_launch_template_requires_imdsv2_and_encrypts_its_disk(rendered: Render, environment: str) -> None:
    templates = rendered(environment).of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert templates
    for template in templates:
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required" and metadata["httpPutResponseHopLimit"] == 1, template.urn
        assert all(m["ebs"]["encrypted"] == "true" for m in template.inputs["blockDeviceMappings"]), template.urn


def test_node_groups_run_in_private_subnets_from_their_launch_templates(rendered: Render) -> None:
    graph = rendered("prod")
    private_subnets = {s.id for s in graph.of_type("aws:ec2/subnet:Subnet") if "private" in s.name}
    templates = {t.id for t in graph.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    groups = graph.of_type(NODE_GROUP)
    assert sorted(g.name for g in groups) == [f"{PROD}-eks-inference", f"{PROD}-eks-system"]
    for group in groups:
        assert set(group.inputs["subnetIds"]) == private_subnets, group.urn
        assert group.inputs["launchTemplate"]["id"] in templates, group.urn


def test_prod_gpu_pool_is_on_demand_nvidia_and_tainted(rendered: Render) -> None:
    (gpu,) = [g for g in rendered("prod").of_type(NODE_GROUP) if g.name.endswith("-inference")]
    assert gpu.inputs["amiType"] == "AL2023_x86_64_NVIDIA", gpu.urn
    assert gpu.inputs["capacityType"] == "ON_DEMAND", gpu.urn
    assert gpu.inputs["instanceTypes"] == ["g6e.2xlarge"], gpu.urn
    assert gpu.inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}], gpu.urn
    assert gpu.inputs["labels"][project.label("gpu")] == "true", gpu.urn
    assert gpu.inputs["scalingConfig"] == {"minSize": 3, "desiredSize": 3, "maxSize": 12}, gpu.urn


def test_dev_gpu_pool_is_small_and_spot(rendered: Render) -> None:
    (gpu,) = [g for g in rendered("dev").of_type(NODE_GROUP) if g.name.endswith("-gpu-spot")]
    assert gpu.inputs["capacityType"] == "SPOT" and gpu.inputs["scalingConfig"]["maxSize"] <= 2, gpu.urn


def test_spot_where_config_does_not_allow_it_fails_naming_the_key() -> None:
    values, secret_keys = read_stack_file("dev")
    values[project.config_key("spot_allowed")] = "false"
    with pytest.raises(ConfigError, match=rf"{project.CONFIG_NAMESPACE}:eks: gpu_node_pools.0.capacity_type: spot is not allowed"):
        load_stack_config(values, secret_keys)


def test_karpenter_pool_is_bounded_tainted_and_imdsv2(rendered: Render) -> None:
    graph = rendered("staging")
    assert [g.name for g in graph.of_type(NODE_GROUP)] == [f"{STAGING}-eks-system"]
    (pool,) = graph.of_type("kubernetes:karpenter.sh/v1:NodePool")
    spec = pool.inputs["spec"]
    requirements = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
    assert requirements["karpenter.k8s.aws/instance-family"] == ["g6", "g6e"], pool.urn
    assert requirements["karpenter.sh/capacity-type"] == ["on-demand"], pool.urn
    assert spec["limits"]["nvidia.com/gpu"] == "4", pool.urn
    assert spec["template"]["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    assert spec["disruption"]["budgets"] == [{"nodes": "10%"}], pool.urn
    (node_class,) = graph.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
    assert node_class.inputs["spec"]["metadataOptions"]["httpTokens"] == "required", node_class.urn
    assert node_class.inputs["spec"]["amiSelectorTerms"][0]["alias"].startswith("al2023@v"), node_class.urn
    (controller,) = [r for r in graph.of_type("kubernetes:helm.sh/v3:Release") if r.name.endswith("-karpenter")]
    assert controller.urn in pool.dependencies or any(
        controller.urn in graph.get(d).dependencies for d in pool.dependencies
    )
    role_arn = controller.inputs["values"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.outputs["arn"] == role_arn]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert "system:serviceaccount:kube-system:karpenter" in json.dumps(trust), role.urn


def test_karpenter_drains_nodes_from_an_encrypted_interruption_queue(rendered: Render) -> None:
    graph = rendered("staging")
    (queue,) = graph.of_type("aws:sqs/queue:Queue")
    assert queue.inputs["sqsManagedSseEnabled"] is True, queue.urn
    (controller,) = [r for r in graph.of_type("kubernetes:helm.sh/v3:Release") if r.name.endswith("-karpenter")]
    assert controller.inputs["values"]["settings"]["interruptionQueue"] == queue.outputs["name"]

    rules = {rule.outputs["name"]: json.loads(rule.inputs["eventPattern"]) for rule in graph.of_type("aws:cloudwatch/eventRule:EventRule")}
    targets = graph.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert sorted(t.inputs["rule"] for t in targets) == sorted(rules)
    assert {t.inputs["arn"] for t in targets} == {queue.outputs["arn"]}
    assert sorted(p["detail-type"][0] for p in rules.values()) == [
        "AWS Health Event",
        "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification",
        "EC2 Spot Instance Interruption Warning",
    ]

    (queue_policy,) = graph.of_type("aws:sqs/queuePolicy:QueuePolicy")
    statements = {s["Sid"]: s for s in json.loads(queue_policy.inputs["policy"])["Statement"]}
    assert statements["EventBridgeSends"]["Principal"] == {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}
    assert statements["DenyWithoutTls"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {s["Resource"] for s in statements.values()} == {queue.outputs["arn"]}

    role_arn = controller.inputs["values"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.outputs["arn"] == role_arn]
    (policy,) = [p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role.id]
    (reads,) = [s for s in json.loads(policy.inputs["policy"])["Statement"] if s["Sid"] == "InterruptionQueue"]
    assert reads["Resource"] == queue.outputs["arn"], "the controller reads its own queue, no other"
    assert sorted(reads["Action"]) == ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]


def test_managed_node_groups_need_no_interruption_queue(rendered: Render) -> None:
    graph = rendered("prod")
    assert graph.of_type("aws:sqs/queue:Queue") == []
    assert graph.of_type("aws:cloudwatch/eventRule:EventRule") == []


def test_kubernetes_provider_gets_the_kubeconfig_as_a_secret(rendered: Render) -> None:
    graph = rendered("prod")
    cluster = component(graph, project.type_token("GpuCluster"))
    (provider,) = under(graph, cluster, "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]", provider.urn
    releases = under(graph, cluster, "kubernetes:helm.sh/v3:Release")
    assert releases and all(r.provider == provider.urn for r in releases)


def test_gpu_operator_and_kuberay_are_installed_pinned(rendered: Render) -> None:
    graph = rendered("prod")
    cluster = component(graph, project.type_token("GpuCluster"))
    releases = {r.inputs["chart"]: r for r in under(graph, cluster, "kubernetes:helm.sh/v3:Release")}
    assert set(releases) == {"gpu-operator", "kuberay-operator", "aws-load-balancer-controller", "cluster-autoscaler"}
    operator = releases["gpu-operator"]
    assert operator.inputs["values"]["dcgmExporter"]["enabled"] is True, operator.urn
    assert operator.inputs["values"]["driver"]["enabled"] is False, "the NVIDIA AMI ships the driver"
    assert all(r.inputs["version"] for r in releases.values())


def test_dev_uses_the_device_plugin_with_time_slicing(rendered: Render) -> None:
    graph = rendered("dev")
    charts = {r.inputs["chart"] for r in graph.of_type("kubernetes:helm.sh/v3:Release")}
    assert {"nvidia-device-plugin", "dcgm-exporter"} <= charts and "gpu-operator" not in charts
    (sharing,) = [
        c for c in graph.of_type("kubernetes:core/v1:ConfigMap") if c.inputs["metadata"]["name"] == "gpu-sharing"
    ]
    assert "replicas: 4" in sharing.inputs["data"]["any"], sharing.urn


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: GpuNodePool("a", "m7i.large", 1, 1, 1),
            (
                r"GpuNodePool: instance_type: m7i\.large is not an accelerated instance family "
                r"\(known: [a-z0-9, -]+\) \(got 'm7i\.large'\)"
            ),
        ),
        (
            lambda: GpuNodePool("a", "g6.xlarge", 2, 1, 3),
            re.escape("GpuNodePool: min_size <= desired_size <= max_size must hold (got 2, 1, 3)"),
        ),
        (lambda: KarpenterPool(()), re.escape("KarpenterPool: instance_families: name at least one GPU family")),
        (
            lambda: GpuClusterSettings(public_access_cidrs=("0.0.0.0/0",)),
            re.escape(
                "GpuClusterSettings: public_access_cidrs: 0.0.0.0/0 would open the API endpoint to the internet; "
                "list your own ranges"
            ),
        ),
        (
            lambda: GpuClusterSettings(gpu_node_pools=()),
            re.escape("GpuClusterSettings: gpu_node_pools must list at least one pool when gpu_capacity is managed"),
        ),
        (
            lambda: GpuClusterSettings(data_class="regulated"),
            re.escape(
                "GpuClusterSettings: data_class: regulated data may only be handled on the on-prem cluster "
                "(got 'regulated')"
            ),
        ),
    ],
)
def test_bad_settings_name_the_field(build: Callable[[], object], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        build()
    assert re.fullmatch(message, str(raised.value)), str(raised.value)


def test_spot_capacity_needs_spot_allowed() -> None:
    inputs: dict[str, object] = {
        "environment": "dev",
        "region": "us-east-1",
        "private_subnet_ids": ["a", "b"],
        "kms_key_arn": "arn:aws:kms:us-east-1:1:key/k",
    }
    managed = GpuClusterSettings(gpu_node_pools=(GpuNodePool("a", "g6.xlarge", 1, 1, 1, "spot"),))
    karpenter = GpuClusterSettings(gpu_capacity="karpenter", karpenter=KarpenterPool(("g6",), ("spot",), 4, 64))
    with pytest.raises(ValueError) as raised:
        GpuClusterArgs(managed, **inputs)  # type: ignore[arg-type]
    assert str(raised.value) == "gpu_node_pools.0.capacity_type: spot is not allowed (spot_allowed is false)"
    with pytest.raises(ValueError) as raised:
        GpuClusterArgs(karpenter, **inputs)  # type: ignore[arg-type]
    assert str(raised.value) == "karpenter.capacity_types: spot is not allowed (spot_allowed is false)"
    allowed = GpuClusterArgs(karpenter, spot_allowed=True, **inputs)  # type: ignore[arg-type]
    assert allowed.settings.karpenter_pool is not None
