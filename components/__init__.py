"""Rampart's Pulumi components: one component per module, each with a typed args dataclass."""

from components.audit_store import AuditStore, AuditStoreArgs
from components.bootstrap import BootstrapSpec, render_cloud_init
from components.cost import CostEstimate, CostInputs, NodePoolUsage, estimate_monthly_cost, latest_price_table
from components.gpu_cluster import GpuCluster, GpuClusterArgs, GpuNodePool, KarpenterPool, SystemNodePool, gpu_ami_type
from components.inference_platform import InferencePlatform, InferencePlatformArgs, WorkerGroup
from components.model_store import ModelStore, ModelStoreArgs
from components.network import Network, NetworkArgs, SubnetPlan, plan_subnets
from components.observability import CloudIntegration, Observability, ObservabilityArgs
from components.onprem_cluster import OnPremCluster, OnPremClusterArgs, OnPremGpuNode
from components.secrets import Secrets, SecretsArgs
from components.tagging import REQUIRED_TAGS, is_taggable, platform_tags

__all__ = [
    "REQUIRED_TAGS",
    "AuditStore",
    "AuditStoreArgs",
    "BootstrapSpec",
    "CloudIntegration",
    "CostEstimate",
    "CostInputs",
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
    "NodePoolUsage",
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
    "estimate_monthly_cost",
    "gpu_ami_type",
    "is_taggable",
    "latest_price_table",
    "plan_subnets",
    "platform_tags",
    "render_cloud_init",
]
