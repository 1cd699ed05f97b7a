"""`ContainerRegistry`: the ECR repository of the serving image, the role that publishes to it, and the
digest every RayService runs.

The image workflow (`.github/workflows/image.yml`) builds `deploy/Containerfile`, scans it with Trivy,
pushes it under the immutable tag `sha-<commit>`, and signs it keyless with cosign, assuming the
publisher role through GitHub's OIDC provider. The stack config names that tag; `pulumi up` reads the
digest behind it from ECR (`aws.ecr.get_image`), so the committed config never holds a digest and a
pod never runs a tag. On-prem pods pull the same digest from the registry mirror the config names:
they have no AWS credentials to reach ECR with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field

from components.settings import settings_dataclass
from platform_facts.project import type_token

__all__ = [
    "GITHUB_OIDC_AUDIENCE",
    "GITHUB_OIDC_HOST",
    "IMAGE_TAG_PATTERN",
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "ServingImageSettings",
    "github_publisher_trust_policy",
    "lifecycle_policy",
    "publisher_permissions",
    "pushed_tag",
]

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"
IMAGE_TAG_PATTERN = r"^sha-[0-9a-f]{40}$"
"""The tags the image workflow pushes: `sha-` and the full commit id (one image per commit, never moved)."""

# What pushing an image (and its cosign signature) and reading it back takes, on one repository.
_PUSH_AND_PULL = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)


@settings_dataclass(kw_only=True)
class ServingImageSettings:
    """`rampart:serving_image`: which image the inference platforms run and who may publish it."""

    tag: Annotated[str, Field(pattern=IMAGE_TAG_PATTERN)] | None = None
    """The image's immutable tag, `sha-<40-hex commit>` as the image workflow pushed it; the digest
    behind it is read from ECR at `pulumi up`. Unset in a new account, before the workflow has pushed
    an image: the stack then declares everything but the inference platforms (the repository the
    workflow pushes to among it) and says what to do next."""
    variant: Literal["cpu", "cuda"] = "cpu"
    """Which build the platforms run: `cpu`, or `cuda` (PyPI's CUDA torch) where a chat model runs on
    GPUs. The workflow pushes both; the `cuda` one is tagged `<tag>-cuda`."""
    github_repository: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    """`owner/name` of the GitHub repository whose image workflow may push."""
    github_branch: Annotated[str, Field(pattern=r"^[A-Za-z0-9_./-]+$")] = "main"
    """The only branch whose workflow runs may assume the publisher role."""
    github_oidc_provider_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/")] | None = None
    """The account's existing GitHub OIDC provider; unset creates it (an account holds at most one)."""
    onprem_registry: Annotated[str, Field(pattern=r"^[a-z0-9.-]+(:\d{1,5})?(/[a-z0-9._-]+)*$")] | None = None
    """Registry host (and path) the on-prem cluster pulls from: a mirror of the ECR repository, since
    on-prem pods hold no AWS credentials. Required when a platform runs on the on-prem cluster."""
    keep_images: Annotated[int, Field(ge=10)] = 100
    """Newest `sha-` images kept; older ones expire (raise it before pinning an image that old)."""
    untagged_expire_days: Annotated[int, Field(ge=1)] = 7
    """Days an untagged manifest (an interrupted push) is kept."""


def lifecycle_policy(keep_images: int, untagged_expire_days: int) -> str:
    """Expire untagged manifests after a few days and all but the newest `keep_images` commit images."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"untagged manifests after {untagged_expire_days} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": untagged_expire_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"commit images beyond the newest {keep_images}",
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPrefixList": ["sha-"],
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_images,
                    },
                    "action": {"type": "expire"},
                },
            ]
        },
        sort_keys=True,
    )


def github_publisher_trust_policy(oidc_provider_arn: str, github_repository: str, branch: str) -> str:
    """Only workflow runs of one repository's one branch may assume the publisher role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "GithubWorkflowOnBranch",
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{GITHUB_OIDC_HOST}:aud": GITHUB_OIDC_AUDIENCE,
                            f"{GITHUB_OIDC_HOST}:sub": f"repo:{github_repository}:ref:refs/heads/{branch}",
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def publisher_permissions(repository_arn: str) -> str:
    """Push and pull on one repository; `ecr:GetAuthorizationToken` has no resource but `*`."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "RegistryLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {
                    "Sid": "PushAndPullServingImage",
                    "Effect": "Allow",
                    "Action": list(_PUSH_AND_PULL),
                    "Resource": repository_arn,
                },
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class ContainerRegistryArgs:
    """Inputs of a `ContainerRegistry`: the settings, the repository's name and the platform key."""

    settings: ServingImageSettings
    repository_name: str
    """ECR repository name (`rampart-<env>/serving`)."""
    kms_key_arn: pulumi.Input[str]
    """Customer key the repository's images are encrypted with."""

    def __post_init__(self) -> None:
        if not self.repository_name or self.repository_name != self.repository_name.lower():
            raise ValueError(f"repository_name: {self.repository_name!r} must be a lower-case ECR repository name")


class ContainerRegistry(pulumi.ComponentResource):
    """ECR repository (immutable tags, scan on push, KMS, lifecycle), the GitHub publisher role, and
    the serving image's digest read from the repository by tag.

    Outputs: `repository_url`, `publisher_role_arn`, `image_digest`; `image_reference(cluster)`.
    """

    repository_url: pulumi.Output[str]
    publisher_role_arn: pulumi.Output[str]
    image_digest: pulumi.Output[str] | None
    """`None` while `serving_image.tag` is unset (no image pushed yet)."""
    """`sha256:<hex>` behind `settings.tag`, as ECR reports it at `pulumi up`."""

    def __init__(self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("ContainerRegistry"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        self._settings = settings
        self._repository_name = args.repository_name
        repository = aws.ecr.Repository(
            f"{name}-serving",
            name=args.repository_name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": args.kms_key_arn}],
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-serving-lifecycle",
            repository=repository.name,
            policy=lifecycle_policy(settings.keep_images, settings.untagged_expire_days),
            opts=child,
        )
        if settings.github_oidc_provider_arn is None:
            provider_arn: pulumi.Input[str] = aws.iam.OpenIdConnectProvider(
                f"{name}-github-oidc",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_id_lists=[GITHUB_OIDC_AUDIENCE],
                opts=child,
            ).arn
        else:
            provider_arn = settings.github_oidc_provider_arn
        publisher = aws.iam.Role(
            f"{name}-publisher",
            assume_role_policy=pulumi.Output.from_input(provider_arn).apply(
                lambda arn: github_publisher_trust_policy(arn, settings.github_repository, settings.github_branch)
            ),
            inline_policies=[{"name": f"{name}-publish", "policy": repository.arn.apply(publisher_permissions)}],
            opts=child,
        )
        self.repository_url = repository.repository_url
        self.publisher_role_arn = publisher.arn
        self.image_tag = pushed_tag(settings)
        """The tag the platforms run (`None` until the first image is pushed)."""
        self.image_digest = None
        if self.image_tag is not None:
            image = aws.ecr.get_image_output(
                repository_name=repository.name,
                image_tag=self.image_tag,
                opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[repository]),
            )
            self.image_digest = image.image_digest.apply(_checked_digest)
        self.register_outputs(
            {
                "repository_url": self.repository_url,
                "publisher_role_arn": self.publisher_role_arn,
                "image_digest": self.image_digest,
            }
        )

    def image_reference(self, cluster: Literal["eks", "onprem"]) -> pulumi.Output[str]:
        """The serving image by digest, from where `cluster` pulls it: ECR, or the on-prem mirror."""
        if self.image_digest is None:
            raise ValueError("serving_image.tag: unset, so there is no image to run yet (push one first)")
        if cluster == "eks":
            return pulumi.Output.concat(self.repository_url, "@", self.image_digest)
        mirror = self._settings.onprem_registry
        if mirror is None:
            raise ValueError("onprem_registry: required for a platform on the on-prem cluster (it cannot reach ECR)")
        return pulumi.Output.concat(mirror, "/", self._repository_name, "@", self.image_digest)


def pushed_tag(settings: ServingImageSettings) -> str | None:
    """The tag the image workflow pushed for `settings.variant` (`<tag>` or `<tag>-cuda`)."""
    if settings.tag is None:
        return None
    return settings.tag if settings.variant == "cpu" else f"{settings.tag}-cuda"


def _checked_digest(digest: str | None) -> str:
    if not digest or not digest.startswith("sha256:"):
        raise ValueError(f"image_digest: ECR answered {digest!r} for the configured tag, not a sha256 digest")
    return digest
