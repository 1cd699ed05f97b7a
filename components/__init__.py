"""Rampart's Pulumi components: one component per module, each with a typed args dataclass."""

from components.audit_store import AuditStore, AuditStoreArgs
from components.model_store import ModelStore, ModelStoreArgs
from components.network import Network, NetworkArgs, SubnetPlan, plan_subnets
from components.secrets import Secrets, SecretsArgs
from components.tagging import REQUIRED_TAGS, is_taggable, platform_tags

__all__ = [
    "REQUIRED_TAGS",
    "AuditStore",
    "AuditStoreArgs",
    "ModelStore",
    "ModelStoreArgs",
    "Network",
    "NetworkArgs",
    "Secrets",
    "SecretsArgs",
    "SubnetPlan",
    "is_taggable",
    "plan_subnets",
    "platform_tags",
]
