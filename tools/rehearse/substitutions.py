"""The only places where a rehearsal differs from a cluster: listed once, printed at start, applied here.

Everything else the containers run comes from the plan unchanged (`tools.rehearse.spec`). Each
entry says what a cluster has, what stands in for it here, and why the real thing cannot run on
this machine; docs/rehearsal.md carries the same table.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHAT_ENGINES",
    "SUBSTITUTIONS",
    "ChatModel",
    "Substitution",
    "aws_environment",
    "chat_models",
    "format_substitutions",
    "ray_cpus",
    "substitute_serve_config",
]

# Engines that load chat weights from the config's `source` (the ones a tiny model stands in for).
CHAT_ENGINES = frozenset({"transformers"})
GPU_STAND_IN = "rehearsal_gpu"
"""The custom Ray resource a GPU worker container offers in place of its GPUs."""
# Deployment options that set how many replicas start; each is capped here (2 keeps a planned
# redundancy visible to the fault drill: one replica per node survives a node's loss).
_REPLICA_FLOORS = ("min_replicas", "initial_replicas")
REPLICA_CAP = 2


@dataclass(frozen=True)
class Substitution:
    real: str
    """What a cluster built from the plan has."""
    here: str
    """What the rehearsal runs instead."""
    why: str
    """Why the real thing cannot run on this machine."""


SUBSTITUTIONS: tuple[Substitution, ...] = (
    Substitution(
        "GPU worker pods (nvidia.com/gpu), `device: cuda`, `num_gpus` in the Serve config",
        "the gpu worker group as a CPU container offering a `rehearsal_gpu` resource per planned GPU; in the "
        "deployed Serve config `num_gpus` becomes that resource (same placement) and `device: cpu`",
        "this machine has no GPU",
    ),
    Substitution(
        "the chat models each served version loads (`source` of a transformers generator)",
        "a tiny random GPT-2 per served version, built here with its own seed (the loop's good candidate with its "
        "stable version's seed, so it is good by construction), uploaded to the same URI with `model_store "
        "upload` (or written where the on-prem path points); its own sha256 replaces the config's",
        "model weights cannot be downloaded here, and a real chat model would not answer in time on 2 CPU cores",
    ),
    Substitution(
        "AWS (S3, Secrets Manager, KMS) reached through pod identity",
        "a moto server on the rehearsal's own podman network, with the buckets, secrets and key the plan names "
        "(secret ARNs in the mounted configs are the ones moto issued for those names: ARNs are the cloud's to "
        "compute); the cloud cluster's containers get AWS_ENDPOINT_URL and static test credentials, the on-prem "
        "one none",
        "there is no AWS account here; moto speaks the same wire protocol boto3 uses",
    ),
    Substitution(
        "the state database a gateway config's `state.url` names (RDS PostgreSQL with IAM token logins; "
        "CloudNativePG on site, its password from a Secret)",
        "a PostgreSQL server per cluster (Debian's package) on the rehearsal's network, TLS on, with the role and "
        "database the URL names; the URL's host and port in the mounted gateway config become its address; it "
        "trusts connections from that network, so the IAM token or password the gateway sends is not checked",
        "there is no RDS, no AWS to issue or verify IAM tokens, and no Kubernetes to run CloudNativePG here",
    ),
    Substitution(
        "the image reference `<registry>@sha256:...`",
        "the serving image `make image` builds here, from the same Containerfile",
        "no registry is reachable from this machine",
    ),
    Substitution(
        "worker group replicas and each deployment's replica floor",
        "one container per worker group standing in for the group at its largest (Ray's logical CPUs = the pod's "
        "CPU limit × maxReplicas, as no autoscaler adds nodes here), each deployment starting with at most 2 "
        "replicas (so a planned redundancy still shows in the fault drill)",
        "two CPU cores cannot start dozens of replicas within the time budget",
    ),
    Substitution(
        "the KubeRay operator",
        "the rehearsal starts `ray start --head` / `ray start --address` as KubeRay's pods do, deploys the "
        "serveConfigV2 through the head's dashboard REST API, and deploys it again when a restarted head has none",
        "there is no Kubernetes here",
    ),
    Substitution(
        "volumes (emptyDir, PersistentVolumeClaim), ConfigMaps and Secrets",
        "a host directory per volume mounted at the planned path (Memory emptyDirs as tmpfs), ConfigMap data "
        "as planned, Secret values generated here (API keys)",
        "there is no Kubernetes here, and the plan never holds a secret's value",
    ),
    Substitution(
        "the passage index `make ingest` writes before a platform serves",
        "the same command run here once on the corpus plus one rehearsal document (a quoted abusive message the "
        "toxicity scanner must flag, so the review queue gets a real flagged answer), copied to each planned "
        "index location",
        "no real document a platform serves is abusive, and ingesting once keeps the rehearsal in its budget",
    ),
    Substitution(
        "ingress controller, TLS and the gateway Service",
        "the Serve port of the pods the gateway Service selects (the gateway group's container) published on "
        "127.0.0.1 only; the backend TLS Secret a self-signed certificate",
        "no load balancer or certificate exists here; traffic never leaves this machine",
    ),
)


def format_substitutions() -> str:
    lines = ["Substitutions (everything else is what the plan renders):"]
    for index, item in enumerate(SUBSTITUTIONS, 1):
        lines.append(f"  {index}. {item.real}\n     -> {item.here}\n     (why: {item.why})")
    return "\n".join(lines)


@dataclass(frozen=True)
class ChatModel:
    """A served chat version that needs weights: where the config loads it from."""

    application: str
    model_name: str
    uri: str


def _generators(args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every generator an application's args declare (`generator`, `generators`, `additional_generators`)."""
    found: list[dict[str, Any]] = []
    if isinstance(args.get("generator"), dict):
        found.append(args["generator"])
    for key in ("generators", "additional_generators"):
        found.extend(item for item in args.get(key) or [] if isinstance(item, dict))
    return found


def chat_models(serve_config: Mapping[str, Any]) -> list[ChatModel]:
    """The served chat versions whose weights a tiny model stands in for."""
    models = []
    for application in serve_config.get("applications") or []:
        for generator in _generators(application.get("args") or {}):
            if generator.get("engine") in CHAT_ENGINES and isinstance(generator.get("source"), dict):
                models.append(ChatModel(application["name"], generator["model_name"], generator["source"]["uri"]))
    return models


def substitute_serve_config(serve_config: Mapping[str, Any], checksums: Mapping[str, str]) -> dict[str, Any]:
    """The planned Serve config with the substitutions applied; nothing else changes.

    `checksums` maps each chat model name (`chat_models`) to its tiny stand-in's sha256.
    """
    config = copy.deepcopy(dict(serve_config))
    for application in config.get("applications") or []:
        for generator in _generators(application.get("args") or {}):
            if generator.get("engine") not in CHAT_ENGINES or not isinstance(generator.get("source"), dict):
                continue
            name = generator["model_name"]
            if name not in checksums:
                raise KeyError(f"applications.{application['name']}: no tiny model built for chat model {name!r}")
            generator["source"] = {**generator["source"], "sha256": checksums[name]}
            if "device" in generator:
                generator["device"] = "cpu"
        for deployment in application.get("deployments") or []:
            actor = deployment.get("ray_actor_options")
            if isinstance(actor, dict) and actor.get("num_gpus"):
                # Placement kept: only the gpu group's container offers this resource.
                actor["resources"] = {**(actor.get("resources") or {}), GPU_STAND_IN: actor["num_gpus"]}
                actor["num_gpus"] = 0
            autoscaling = deployment.get("autoscaling_config")
            if isinstance(autoscaling, dict):
                for key in _REPLICA_FLOORS:
                    if isinstance(autoscaling.get(key), int):
                        autoscaling[key] = min(autoscaling[key], REPLICA_CAP)
            if isinstance(deployment.get("num_replicas"), int):
                deployment["num_replicas"] = min(deployment["num_replicas"], REPLICA_CAP)
    return config


def ray_cpus(quantity: str, pods: int = 1) -> int:
    """Ray's logical CPUs for `pods` pods of this CPU limit, as KubeRay derives them (`500m` → 1, `4` → 4)."""
    if quantity.endswith("m"):
        return max(1, -(-int(quantity[:-1]) // 1000)) * pods
    return max(1, int(float(quantity))) * pods


def aws_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """The cloud cluster's stand-in for pod identity: moto's endpoint and static test credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        # The index store (LanceDB's object_store) reads its own names, and moto answers plain HTTP.
        "AWS_ENDPOINT": endpoint_url,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "rehearsal",
        "AWS_SECRET_ACCESS_KEY": "rehearsal",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
