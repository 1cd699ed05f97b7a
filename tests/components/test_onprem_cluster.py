"""`OnPremCluster` under mocks (no cluster is reachable here), its bootstrap, and data residency."""

from __future__ import annotations

import json
from collections.abc import Callable

import pulumi
import pytest
import yaml

from components.bootstrap import BOOTSTRAP_MARKER, BootstrapSpec, render_cloud_init
from components.onprem_cluster import OnPremClusterArgs, OnPremClusterSettings, OnPremGpuNode
from components.settings import SettingsError
from platform_facts import project
from stacks.config import ConfigError, load_stack_config, read_stack_file
from stacks.plan import PlanGraph
from tests.stacks.helpers import component, under

Render = Callable[[str], PlanGraph]
SPEC = BootstrapSpec("570", "1.17.8", "1.33", ("ntp1.corp.example", "ntp2.corp.example"), True)


def test_cluster_is_reached_through_a_secret_kubeconfig(rendered: Render) -> None:
    graph = rendered("prod")
    onprem = component(graph, project.type_token("OnPremCluster"))
    (provider,) = under(graph, onprem, "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]", provider.urn
    assert "REPLACE" not in graph.to_json(), "the kubeconfig ciphertext must never appear in the plan"


def test_gpu_nodes_are_labelled_and_tainted_from_config(rendered: Render) -> None:
    graph = rendered("prod")
    onprem = component(graph, project.type_token("OnPremCluster"))
    patches = under(graph, onprem, "kubernetes:core/v1:NodePatch")
    assert sorted(p.inputs["metadata"]["name"] for p in patches) == ["gpu-node-1", "gpu-node-2"]
    for patch in patches:
        labels = patch.inputs["metadata"]["labels"]
        assert labels[project.label("gpu")] == "true" and labels[project.label("gpu-model")] == "H100-SXM5-80GB", patch.urn
        assert labels[project.label("data-class")] == "regulated", patch.urn
        assert patch.inputs["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]


def test_the_same_addons_go_onto_the_onprem_cluster(rendered: Render) -> None:
    graph = rendered("prod")
    charts_on = {
        type_token: sorted(
            r.inputs["chart"] for r in under(graph, component(graph, type_token), "kubernetes:helm.sh/v3:Release")
        )
        for type_token in (project.type_token("GpuCluster"), project.type_token("OnPremCluster"))
    }
    # The same GPU software and operator; each cluster its own ingress controller (and EKS its autoscaler).
    assert charts_on[project.type_token("OnPremCluster")] == ["gpu-operator", "ingress-nginx", "kuberay-operator"]
    assert charts_on[project.type_token("GpuCluster")] == [
        "aws-load-balancer-controller",
        "cluster-autoscaler",
        "gpu-operator",
        "kuberay-operator",
    ]
    (onprem_obs,) = [o for o in graph.of_type(project.type_token("Observability")) if "-onprem-" in o.name]
    assert any(
        r.inputs["chart"] == "kube-prometheus-stack" for r in under(graph, onprem_obs, "kubernetes:helm.sh/v3:Release")
    )


def test_no_aws_resource_depends_on_the_onprem_cluster(rendered: Render) -> None:
    graph = rendered("prod")
    onprem = component(graph, project.type_token("OnPremCluster"))
    assert not [r.urn for r in graph.descendants(onprem.urn) if r.type.startswith("aws:")]
    (onprem_obs,) = [o for o in graph.of_type(project.type_token("Observability")) if "-onprem-" in o.name]
    assert not [r.urn for r in graph.descendants(onprem_obs.urn) if r.type.startswith("aws:")], (
        "regulated logs stay on site"
    )


def test_cloud_init_installs_and_checks_what_config_says() -> None:
    document = yaml.safe_load(render_cloud_init(SPEC, environment="prod"))
    assert render_cloud_init(SPEC, environment="prod").startswith("#cloud-config\n")
    assert {"nvidia-driver-570-server", "chrony", "containerd"} <= set(document["packages"])
    files = {f["path"]: f["content"] for f in document["write_files"]}
    assert json.loads(files[BOOTSTRAP_MARKER]) == {
        "environment": "prod",
        "driver_branch": "570",
        "container_toolkit_version": "1.17.8",
        "kubernetes_version": "1.33",
        "ntp_servers": ["ntp1.corp.example", "ntp2.corp.example"],
        "require_disk_encryption": True,
    }
    assert files[f"/etc/chrony/sources.d/{project.PROJECT_NAME}.sources"].split("\n")[:2] == [
        "server ntp1.corp.example iburst",
        "server ntp2.corp.example iburst",
    ]
    commands = [" ".join(c) if isinstance(c, list) else c for c in document["runcmd"]]
    assert any("nvidia-container-toolkit=1.17.8-1" in c for c in commands)
    assert any("pkgs.k8s.io/core:/stable:/v1.33/deb" in c for c in commands)
    assert any(c.endswith(f"{project.PROJECT_NAME}-check-disk-encryption") for c in commands), "a failed check must stop the bootstrap"


def test_disk_encryption_check_is_advisory_only_when_config_says_so() -> None:
    relaxed = BootstrapSpec("570", "1.17.8", "1.33", ("pool.ntp.org",), False)
    commands = [" ".join(c) for c in yaml.safe_load(render_cloud_init(relaxed, environment="dev"))["runcmd"]]
    assert any(c.endswith(f"{project.PROJECT_NAME}-check-disk-encryption || true") for c in commands)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nvidia_driver_branch": "57"}, "nvidia_driver_branch: '57' must be a three-digit NVIDIA branch (got '57')"),
        ({"container_toolkit_version": "latest"}, "container_toolkit_version: 'latest' must be X.Y.Z (got 'latest')"),
        (
            {"kubernetes_version": "v1.33"},
            "kubernetes_version: String should match pattern '^1\\.\\d{2}$' (got 'v1.33')",
        ),
        ({"ntp_servers": ()}, "ntp_servers: name at least one time source"),
        ({"ntp_servers": ("bad host",)}, "ntp_servers[0]: 'bad host' is not a host name or address (got 'bad host')"),
    ],
)
def test_bad_bootstrap_values_name_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        BootstrapSpec(**changes)  # type: ignore[arg-type]
    assert str(raised.value) == f"BootstrapSpec: {message}"


def _settings(*nodes: OnPremGpuNode) -> OnPremClusterSettings:
    return OnPremClusterSettings(gpu_nodes=nodes, bootstrap=SPEC)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: _settings(OnPremGpuNode("a", "L4", 1), OnPremGpuNode("a", "L4", 1)),
            "OnPremClusterSettings: gpu_nodes: hostnames must be unique",
        ),
        (
            lambda: OnPremGpuNode("a", "L4", 0),
            "OnPremGpuNode: gpu_count: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            lambda: OnPremClusterArgs(_settings(), "prod", pulumi.Output.secret("apiVersion: v1")),
            "gpu_nodes must list at least one host when the on-prem cluster is enabled",
        ),
        (
            lambda: OnPremClusterArgs(_settings(OnPremGpuNode("gpu-node-1", "H100", 8)), "prod", "apiVersion: v1"),
            "kubeconfig: must be a Pulumi secret (pulumi.Output.secret), never plain text",
        ),
    ],
)
def test_bad_arguments_name_the_field(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        build()
    assert str(raised.value) == message


# Data residency -----------------------------------------------------------------------------


def _prod_with_platforms(platforms: list[dict[str, object]]) -> tuple[dict[str, str], frozenset[str]]:
    values, secret_keys = read_stack_file("prod")
    values[project.config_key("inference_platforms")] = json.dumps(platforms)
    return values, secret_keys


def _prod_platforms() -> list[dict[str, object]]:
    values, _ = read_stack_file("prod")
    return json.loads(values[project.config_key("inference_platforms")])


def test_regulated_platform_runs_only_on_premises(rendered: Render) -> None:
    graph = rendered("prod")
    onprem = component(graph, project.type_token("OnPremCluster"))
    (provider,) = under(graph, onprem, "pulumi:providers:kubernetes")
    for service in graph.of_type("kubernetes:ray.io/v1:RayService"):
        data_class = service.inputs["metadata"]["labels"][project.label("data-class")]
        if data_class == "regulated":
            assert service.provider == provider.urn, f"{service.urn} handles regulated data off-premises"


def test_a_regulated_workload_on_eks_fails_at_config_validation() -> None:
    platforms = _prod_platforms()
    platforms[1]["cluster"] = "eks"
    with pytest.raises(ConfigError) as failure:
        load_stack_config(*_prod_with_platforms(platforms))
    assert (
        f"{project.CONFIG_NAMESPACE}:inference_platforms.1: data residency: 'regulated' handles regulated data and may only run on "
        "the on-prem cluster (cluster: onprem), not eks" in str(failure.value)
    )


def test_a_platform_on_a_disabled_cluster_fails_naming_the_key() -> None:
    values, secret_keys = read_stack_file("dev")
    platforms = json.loads(values[project.config_key("inference_platforms")])
    platforms[0]["cluster"] = "onprem"
    values[project.config_key("inference_platforms")] = json.dumps(platforms)
    with pytest.raises(ConfigError, match=rf"{project.CONFIG_NAMESPACE}:inference_platforms: 0.cluster: onprem is not enabled"):
        load_stack_config(values, secret_keys)


def test_the_eks_cluster_cannot_be_declared_regulated() -> None:
    values, secret_keys = read_stack_file("prod")
    values[project.config_key("eks")] = json.dumps({**json.loads(values[project.config_key("eks")]), "data_class": "regulated"})
    with pytest.raises(ConfigError, match=rf"{project.CONFIG_NAMESPACE}:eks.data_class: regulated data may only be handled on the on-prem"):
        load_stack_config(values, secret_keys)


def test_onprem_without_a_kubeconfig_fails_naming_the_key() -> None:
    values, secret_keys = read_stack_file("prod")
    del values[project.config_key("onprem_kubeconfig")]
    with pytest.raises(ConfigError, match=rf"onprem.enabled needs {project.CONFIG_NAMESPACE}:onprem_kubeconfig"):
        load_stack_config(values, secret_keys - {project.config_key("onprem_kubeconfig")})


def test_a_plain_text_kubeconfig_is_refused() -> None:
    values, secret_keys = read_stack_file("prod")
    with pytest.raises(ConfigError, match=rf"{project.CONFIG_NAMESPACE}:onprem_kubeconfig: must be a secret"):
        load_stack_config(values, secret_keys - {project.config_key("onprem_kubeconfig")})


def test_make_bootstrap_writes_the_document_for_the_environment(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from stacks.bootstrap import main

    path = tmp_path / "prod.yaml"
    assert main(["prod", "--output", str(path)]) == 0
    document = yaml.safe_load(path.read_text())
    files = {f["path"]: f["content"] for f in document["write_files"]}
    assert json.loads(files[BOOTSTRAP_MARKER])["environment"] == "prod"
    assert "gpu-node-1, gpu-node-2" in capsys.readouterr().out
    assert main(["dev", "--output", str(tmp_path / "dev.yaml")]) == 2
    assert f"{project.CONFIG_NAMESPACE}:onprem.enabled is false in dev" in capsys.readouterr().err
