"""Rampart's CrossGuard policy pack: one module per domain, built into a pack by `policies/__main__.py`."""

__all__ = [
    "check",
    "compute",
    "core",
    "cost",
    "environments",
    "evaluate",
    "gpu",
    "iam",
    "kubernetes",
    "network",
    "pack",
    "residency",
    "secrets",
    "serving",
    "storage",
    "workloads",
]
