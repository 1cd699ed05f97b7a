"""Rampart's serving layer: the inference services (`services.inference`), the safety gateway
(`services.gateway`), the Ray Serve application that binds them (`services.app`) and its
per-environment configuration (`services.config`)."""

__all__: list[str] = []
