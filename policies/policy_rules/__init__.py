"""Rampart's CrossGuard policy rules: one module per domain, built into a pack by `policies/__main__.py`.

`pack` lists every policy; `environments` holds the enforcement level of each environment.
"""

__all__ = [
    "compute",
    "core",
    "cost",
    "datastores",
    "environments",
    "gpu",
    "gpu_capacity",
    "iam",
    "keys",
    "kubernetes",
    "network",
    "pack",
    "registry",
    "residency",
    "secrets",
    "serving",
    "serving_identity",
    "storage",
    "workloads",
]
