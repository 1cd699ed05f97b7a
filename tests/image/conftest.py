"""The `image` marker: tests that build the serving image with podman and run it (minutes when cold)."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "image: builds the serving image (make image) and runs it with podman (slow)")
