"""Settings of a `GpuCluster` (stack config `rampart:eks`): node pools, Karpenter's bounds, GPU software.

Each type carries its secure defaults and its rules, so a bad value is refused the same way whether it
comes from `stacks/Pulumi.<env>.yaml` or from code.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from components._kubernetes import GpuSharing, GpuSoftware
from components.ingress_controller import AlbIngressSettings
from components.settings import DataClass, KubernetesVersion, ResourceName, settings_dataclass

__all__ = ["GpuClusterSettings", "GpuNodePool", "KarpenterPool", "SystemNodePool", "gpu_ami_type"]

# EKS AL2023 accelerated AMI types by GPU instance family.
_X86_NVIDIA_FAMILIES = frozenset({"g4dn", "g5", "g6", "g6e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200"})
_ARM_NVIDIA_FAMILIES = frozenset({"g5g", "p6e-gb200"})
_NEURON_FAMILIES = frozenset({"inf2", "trn1", "trn1n", "trn2"})


def gpu_ami_type(instance_type: str) -> str:
    """The EKS AMI type for an accelerated instance type (`g6e.2xlarge` → `AL2023_x86_64_NVIDIA`).

    Raises `ValueError` for a family without accelerators, naming the instance type.
    """
    family = instance_type.split(".", 1)[0]
    if family in _X86_NVIDIA_FAMILIES:
        return "AL2023_x86_64_NVIDIA"
    if family in _ARM_NVIDIA_FAMILIES:
        return "AL2023_ARM_64_NVIDIA"
    if family in _NEURON_FAMILIES:
        return "AL2023_x86_64_NEURON"
    known = sorted(_X86_NVIDIA_FAMILIES | _ARM_NVIDIA_FAMILIES | _NEURON_FAMILIES)
    raise ValueError(f"{instance_type} is not an accelerated instance family (known: {', '.join(known)})")


@settings_dataclass
class SystemNodePool:
    """The managed node group that runs cluster add-ons (CPU only)."""

    instance_type: str = "m7i.xlarge"
    """EC2 instance type of the system nodes."""
    min_size: Annotated[int, Field(ge=1)] = 3
    desired_size: Annotated[int, Field(ge=1)] = 3
    max_size: Annotated[int, Field(ge=1)] = 6


@settings_dataclass
class GpuNodePool:
    """A managed GPU node group (used when `gpu_capacity` is `managed`); its AMI type follows from the family."""

    name: ResourceName
    """Pool name; part of the node group's name."""
    instance_type: str
    """Accelerated instance type (`g6e.2xlarge`)."""
    min_size: Annotated[int, Field(ge=0)] = 2
    desired_size: Annotated[int, Field(ge=0)] = 2
    max_size: Annotated[int, Field(ge=1)] = 6
    capacity_type: Literal["on_demand", "spot"] = "on_demand"
    """`spot` only where the environment allows spot capacity."""
    disk_size_gb: Annotated[int, Field(ge=50)] = 200
    """Encrypted gp3 root volume; model weights are cached on it."""

    @field_validator("instance_type")
    @classmethod
    def _is_accelerated(cls, instance_type: str) -> str:
        gpu_ami_type(instance_type)
        return instance_type

    @model_validator(mode="after")
    def _sizes_are_ordered(self) -> GpuNodePool:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                "min_size <= desired_size <= max_size must hold "
                f"(got {self.min_size}, {self.desired_size}, {self.max_size})"
            )
        return self


@settings_dataclass
class KarpenterPool:
    """A Karpenter `NodePool` for GPUs (used when `gpu_capacity` is `karpenter`): families, capacity, ceiling."""

    instance_families: tuple[str, ...] = ("g6", "g6e")
    """GPU instance families Karpenter may launch."""
    capacity_types: tuple[Literal["on-demand", "spot"], ...] = ("on-demand",)
    """`spot` only where the environment allows spot capacity."""
    gpu_limit: Annotated[int, Field(ge=1)] = 16
    """Hard ceiling on GPUs the pool may hold at once (`limits.nvidia.com/gpu`)."""
    cpu_limit: Annotated[int, Field(ge=1)] = 512
    """Hard ceiling on vCPUs the pool may hold at once."""
    disruption_budget: Annotated[str, Field(pattern=r"^(\d+|\d{1,3}%)$")] = "10%"
    """Most nodes Karpenter may disrupt at once (count or percentage)."""
    consolidate_after: Annotated[str, Field(pattern=r"^\d+[smh]$")] = "10m"
    """How long a node must be empty or underused before it is consolidated."""
    ami_alias: Annotated[str, Field(pattern=r"^(al2023|bottlerocket)@v\d{8}$")] = "al2023@v20251117"
    """Pinned EKS-optimized AMI release (never `@latest`: node images change only on purpose)."""

    @field_validator("instance_families")
    @classmethod
    def _names_a_family(cls, families: tuple[str, ...]) -> tuple[str, ...]:
        if not families:
            raise ValueError("name at least one GPU family")
        return families


@settings_dataclass(kw_only=True)
class GpuClusterSettings:
    """What an environment chooses about its cloud GPU cluster (EKS)."""

    kubernetes_version: KubernetesVersion = "1.33"
    public_access_cidrs: tuple[str, ...] = ()
    """CIDR allow-list for a public API endpoint; empty (the default) keeps the endpoint private only."""
    system_pool: SystemNodePool = SystemNodePool()
    gpu_capacity: Literal["managed", "karpenter"] = "managed"
    """`managed`: the node groups in `gpu_node_pools`; `karpenter`: a NodePool bounded by `karpenter`."""
    gpu_node_pools: tuple[GpuNodePool, ...] = (GpuNodePool(name="inference", instance_type="g6e.2xlarge"),)
    karpenter: KarpenterPool = KarpenterPool()
    gpu_software: GpuSoftware = "gpu_operator"
    gpu_sharing: GpuSharing = GpuSharing()
    data_class: DataClass = "confidential"
    """Most sensitive data workloads on this cluster may handle; never `regulated` (on-prem only)."""
    ingress: AlbIngressSettings = AlbIngressSettings()
    """The AWS Load Balancer Controller's ingress class and certificate."""

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs_are_your_ranges(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in cidrs:
            try:
                network = ipaddress.ip_network(cidr, strict=True)
            except ValueError as error:
                raise ValueError(f"{cidr!r} is not a CIDR block ({error})") from None
            if network.prefixlen == 0:
                raise ValueError(f"{cidr} would open the API endpoint to the internet; list your own ranges")
        return cidrs

    @field_validator("data_class")
    @classmethod
    def _regulated_stays_on_premises(cls, data_class: DataClass) -> DataClass:
        if data_class == "regulated":
            raise ValueError("regulated data may only be handled on the on-prem cluster")
        return data_class

    @model_validator(mode="after")
    def _managed_capacity_has_pools(self) -> GpuClusterSettings:
        if self.gpu_capacity == "managed" and not self.gpu_node_pools:
            raise ValueError("gpu_node_pools must list at least one pool when gpu_capacity is managed")
        return self

    @property
    def managed_node_pools(self) -> tuple[GpuNodePool, ...]:
        """The node groups to create: `gpu_node_pools` with managed capacity, none with Karpenter."""
        return self.gpu_node_pools if self.gpu_capacity == "managed" else ()

    @property
    def karpenter_pool(self) -> KarpenterPool | None:
        """The Karpenter NodePool to create, if Karpenter provides the GPU capacity."""
        return self.karpenter if self.gpu_capacity == "karpenter" else None

    def check_spot_allowed(self, spot_allowed: bool) -> None:
        """Refuse spot capacity anywhere in these settings unless the environment allows it."""
        if spot_allowed:
            return
        for index, pool in enumerate(self.gpu_node_pools):
            if pool.capacity_type == "spot":
                raise ValueError(f"gpu_node_pools.{index}.capacity_type: spot is not allowed (spot_allowed is false)")
        if "spot" in self.karpenter.capacity_types:
            raise ValueError("karpenter.capacity_types: spot is not allowed (spot_allowed is false)")
