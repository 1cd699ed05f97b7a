"""`ContainerRegistry` under mocks: ECR and IAM cannot run here, so the stacks are rendered with Pulumi
mocks; the mock answers `aws.ecr.get_image` as ECR would for a pushed tag (a digest derived from
repository and tag, so the expected reference can be computed)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from components.container_registry import (
    IMAGE_TAG_PATTERN,
    ContainerRegistryArgs,
    ServingImageSettings,
    _checked_digest,
    github_publisher_trust_policy,
    lifecycle_policy,
    publisher_permissions,
    pushed_tag,
)
from components.settings import SettingsError
from platform_facts import project
from stacks.config import STACKS_DIR, ConfigError, load_stack_config, read_stack_file
from stacks.plan import PlanGraph, PlannedResource
from tests.stacks.helpers import component, under

Render = Callable[[str], PlanGraph]
ENVIRONMENTS = ("dev", "staging", "prod")
REPOSITORY = "aws:ecr/repository:Repository"


def _ray_images(resource: PlannedResource) -> set[str]:
    cluster = resource.inputs["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return {container["image"] for pod in pods for container in pod["template"]["spec"]["containers"]}


def _expected_digest(repository: str, tag: str) -> str:
    """What the plan's mock ECR answers for a pushed tag (stacks/mocks.py)."""
    return "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_repository_is_immutable_scanned_and_under_the_platform_key(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    registry = component(graph, project.type_token("ContainerRegistry"))
    (repository,) = under(graph, registry, REPOSITORY)
    (key,) = graph.of_type("aws:kms/key:Key")
    assert repository.inputs["name"] == f"{project.environment_prefix(environment)}/serving"
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key.outputs["arn"]}]
    (lifecycle,) = under(graph, registry, "aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert lifecycle.inputs["policy"] == lifecycle_policy(100, 7)


def test_lifecycle_expires_untagged_manifests_and_old_commit_images() -> None:
    rules = json.loads(lifecycle_policy(keep_images=50, untagged_expire_days=3))["rules"]
    assert [rule["selection"] for rule in rules] == [
        {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 3},
        {"tagStatus": "tagged", "tagPrefixList": ["sha-"], "countType": "imageCountMoreThan", "countNumber": 50},
    ]
    assert {rule["action"]["type"] for rule in rules} == {"expire"}


def test_publisher_trusts_one_branch_and_may_push_only_to_its_repository(rendered: Render) -> None:
    graph = rendered("prod")
    registry = component(graph, project.type_token("ContainerRegistry"))
    (role,) = under(graph, registry, "aws:iam/role:Role")
    (provider,) = under(graph, registry, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    (repository,) = under(graph, registry, REPOSITORY)
    assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert role.inputs["assumeRolePolicy"] == github_publisher_trust_policy(
        provider.outputs["arn"], f"example-org/{project.PROJECT_NAME}", "main"
    )
    (inline,) = role.inputs["inlinePolicies"]
    assert inline["policy"] == publisher_permissions(repository.outputs["arn"])
    statements = json.loads(inline["policy"])["Statement"]
    assert [(s["Action"], s["Resource"]) for s in statements if s["Resource"] == "*"] == [
        ("ecr:GetAuthorizationToken", "*")
    ]
    (push,) = [s for s in statements if s["Resource"] != "*"]
    assert "ecr:PutImage" in push["Action"] and not any("*" in action for action in push["Action"])


def test_an_existing_github_provider_is_reused_not_created(rendered: Render) -> None:
    values, secret_keys = read_stack_file("dev")
    image = json.loads(values[project.config_key("serving_image")])
    existing = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    values[project.config_key("serving_image")] = json.dumps({**image, "github_oidc_provider_arn": existing})
    from stacks.plan import render

    graph = render(values, secret_keys, stack="dev")
    registry = component(graph, project.type_token("ContainerRegistry"))
    assert under(graph, registry, "aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    (role,) = under(graph, registry, "aws:iam/role:Role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Federated": existing}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_rayservice_runs_the_digest_ecr_holds_for_the_configured_tag(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    config = load_stack_config(*read_stack_file(environment))
    assert config.serving_image is not None
    (repository,) = graph.of_type(REPOSITORY)
    assert config.serving_image.tag is not None
    digest = _expected_digest(repository.outputs["name"], pushed_tag(config.serving_image))
    by_cluster = {platform.name: platform.cluster for platform in config.inference_platforms}
    for ray_service in graph.of_type("kubernetes:ray.io/v1:RayService"):
        platform = ray_service.name.removeprefix(f"{project.environment_prefix(environment)}-").removesuffix("-rayservice")
        if by_cluster[platform] == "eks":
            expected = f"{repository.outputs['repositoryUrl']}@{digest}"
        else:  # on-prem: the same digest, from the mirror (no AWS credentials there)
            expected = f"{config.serving_image.onprem_registry}/{project.environment_prefix(environment)}/serving@{digest}"
        assert _ray_images(ray_service) == {expected}, ray_service.urn


def test_gpu_environments_run_the_cuda_build_of_the_same_commit() -> None:
    variants = {env: load_stack_config(*read_stack_file(env)).serving_image for env in ENVIRONMENTS}
    assert {env: image.variant for env, image in variants.items() if image} == {
        "dev": "cpu", "staging": "cuda", "prod": "cuda"
    }
    prod = variants["prod"]
    assert prod is not None and pushed_tag(prod) == f"{prod.tag}-cuda"


def test_before_the_first_image_the_stack_builds_everything_but_the_platforms() -> None:
    """A new account: no tag yet, so no digest to read; the registry and publisher role still come."""
    from stacks.plan import render

    values, secret_keys = read_stack_file("prod")
    image = json.loads(values[project.config_key("serving_image")])
    del image["tag"]
    values[project.config_key("serving_image")] = json.dumps(image)
    graph = render(values, secret_keys, stack="prod")
    assert graph.of_type("kubernetes:ray.io/v1:RayService") == []
    assert graph.of_type(project.type_token("InferencePlatform")) == []
    registry = component(graph, project.type_token("ContainerRegistry"))
    assert len(under(graph, registry, REPOSITORY)) == 1
    assert len(under(graph, registry, "aws:iam/role:Role")) == 1
    assert graph.of_type(project.type_token("GpuCluster")) and graph.of_type(project.type_token("OnPremCluster"))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_committed_stack_files_name_a_tag_and_no_digest(environment: str) -> None:
    text = (STACKS_DIR / f"Pulumi.{environment}.yaml").read_text()
    assert "@sha256:" not in text and "sha256:" not in text
    config = load_stack_config(*read_stack_file(environment))
    assert config.serving_image is not None and re.fullmatch(IMAGE_TAG_PATTERN, config.serving_image.tag)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda image: {**image, "tag": "latest"},
            rf"{project.CONFIG_NAMESPACE}:serving_image.tag: String should match pattern .* \(got 'latest'\)",
        ),
        (
            lambda image: {k: v for k, v in image.items() if k != "github_repository"},
            rf"{project.CONFIG_NAMESPACE}:serving_image.github_repository: required",
        ),
        (
            lambda image: {k: v for k, v in image.items() if k != "onprem_registry"},
            r"serving_image.onprem_registry: required because regulated runs on the on-prem cluster",
        ),
        (lambda image: None, r"serving_image: required when inference_platforms are listed"),
    ],
)
def test_bad_image_config_names_the_key(change: Callable[[dict[str, object]], object], message: str) -> None:
    values, secret_keys = read_stack_file("prod")
    changed = change(json.loads(values[project.config_key("serving_image")]))
    if changed is None:
        del values[project.config_key("serving_image")]
    else:
        values[project.config_key("serving_image")] = json.dumps(changed)
    with pytest.raises(ConfigError, match=message):
        load_stack_config(values, secret_keys)


def test_settings_and_args_built_in_code_name_the_field() -> None:
    with pytest.raises(SettingsError, match=r"ServingImageSettings: tag: String should match pattern"):
        ServingImageSettings(tag="v1", github_repository="o/r")
    settings = ServingImageSettings(tag="sha-" + "a" * 40, github_repository="o/r")
    with pytest.raises(ValueError, match=rf"repository_name: '{project.DISPLAY_NAME}/Serving' must be a lower-case"):
        ContainerRegistryArgs(settings, repository_name=f"{project.DISPLAY_NAME}/Serving", kms_key_arn="arn:aws:kms:x")


def test_a_tag_ecr_does_not_hold_as_an_image_fails_naming_the_digest() -> None:
    assert _checked_digest("sha256:" + "0" * 64) == "sha256:" + "0" * 64
    with pytest.raises(ValueError, match=r"image_digest: ECR answered None for the configured tag"):
        _checked_digest(None)


def test_workflow_pushes_the_tag_the_config_names() -> None:
    """The image workflow's tag (`sha-$GITHUB_SHA`) is exactly what `serving_image.tag` accepts."""
    workflow = (Path(__file__).resolve().parents[2] / ".github" / "workflows" / "image.yml").read_text()
    pushed = re.findall(r"docker://\$REPOSITORY:(\S+?)\"", workflow)
    assert pushed == ["sha-$GITHUB_SHA$TAG_SUFFIX"]
    # The suffix per variant is the one the stack asks ECR for (pushed_tag).
    assert "TAG_SUFFIX: ${{ matrix.variant == 'cuda' && '-cuda' || '' }}" in workflow
    assert "variant: [cpu, cuda]" in workflow
    commit = "0123456789abcdef" * 2 + "01234567"
    assert re.fullmatch(IMAGE_TAG_PATTERN, pushed[0].replace("$GITHUB_SHA", commit).replace("$TAG_SUFFIX", ""))
    for variant, suffix in (("cpu", ""), ("cuda", "-cuda")):
        settings = ServingImageSettings(tag=f"sha-{commit}", github_repository="o/r", variant=variant)
        assert pushed_tag(settings) == f"sha-{commit}{suffix}"
