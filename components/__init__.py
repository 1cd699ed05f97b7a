"""Rampart's Pulumi components: one component per module, each with a typed args dataclass.

A component's args hold its settings (what an environment chooses, validated where they are defined:
see `components.settings`) and the inputs other resources provide. The stack config reuses the
settings types as they are.
"""

from components._kubernetes import GpuSharing
from components.audit_store import AuditStore, AuditStoreArgs, AuditStoreSettings
from components.bootstrap import BootstrapSpec, render_cloud_init
from components.gpu_cluster import GpuCluster, GpuClusterArgs
from components.gpu_cluster_settings import GpuClusterSettings, GpuNodePool, KarpenterPool, SystemNodePool, gpu_ami_type
from components.inference_platform import (
    InferencePlatform,
    InferencePlatformArgs,
    InferencePlatformSettings,
    WorkerGroup,
)
from components.model_store import ModelStore, ModelStoreArgs, ModelStoreSettings
from components.network import Network, NetworkArgs, NetworkSettings, SubnetPlan, plan_subnets
from components.observability import CloudIntegration, Observability, ObservabilityArgs, ObservabilitySettings
from components.onprem_cluster import OnPremCluster, OnPremClusterArgs, OnPremClusterSettings, OnPremGpuNode
from components.secrets import Secrets, SecretsArgs, SecretsSettings
from components.settings import SettingsError

__all__ = [
    "AuditStore",
    "AuditStoreArgs",
    "AuditStoreSettings",
    "BootstrapSpec",
    "CloudIntegration",
    "GpuCluster",
    "GpuClusterArgs",
    "GpuClusterSettings",
    "GpuNodePool",
    "GpuSharing",
    "InferencePlatform",
    "InferencePlatformArgs",
    "InferencePlatformSettings",
    "KarpenterPool",
    "ModelStore",
    "ModelStoreArgs",
    "ModelStoreSettings",
    "Network",
    "NetworkArgs",
    "NetworkSettings",
    "Observability",
    "ObservabilityArgs",
    "ObservabilitySettings",
    "OnPremCluster",
    "OnPremClusterArgs",
    "OnPremClusterSettings",
    "OnPremGpuNode",
    "Secrets",
    "SecretsArgs",
    "SecretsSettings",
    "SettingsError",
    "SubnetPlan",
    "SystemNodePool",
    "WorkerGroup",
    "gpu_ami_type",
    "plan_subnets",
    "render_cloud_init",
]
