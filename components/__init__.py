"""Rampart's Pulumi components: one component per module, each with a typed args dataclass."""

from components.audit_store import AuditStore, AuditStoreArgs
from components.bootstrap import BootstrapSpec, render_cloud_init
from components.gpu_cluster import GpuCluster, GpuClusterArgs, GpuNodePool, KarpenterPool, SystemNodePool, gpu_ami_type
from components.inference_platform import InferencePlatform, InferencePlatformArgs, WorkerGroup
from components.model_store import ModelStore, ModelStoreArgs
from components.network import Network, NetworkArgs, SubnetPlan, plan_subnets
from components.observability import CloudIntegration, Observability, ObservabilityArgs
from components.onprem_cluster import OnPremCluster, OnPremClusterArgs, OnPremGpuNode
from components.secrets import Secrets, SecretsArgs

__all__ = [
    "AuditStore",
    "AuditStoreArgs",
    "BootstrapSpec",
    "CloudIntegration",
    "GpuCluster",
    "GpuClusterArgs",
    "GpuNodePool",
    "InferencePlatform",
    "InferencePlatformArgs",
    "KarpenterPool",
    "ModelStore",
    "ModelStoreArgs",
    "Network",
    "NetworkArgs",
    "Observability",
    "ObservabilityArgs",
    "OnPremCluster",
    "OnPremClusterArgs",
    "OnPremGpuNode",
    "Secrets",
    "SecretsArgs",
    "SubnetPlan",
    "SystemNodePool",
    "WorkerGroup",
    "gpu_ami_type",
    "plan_subnets",
    "render_cloud_init",
]
