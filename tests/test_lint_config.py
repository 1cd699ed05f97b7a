"""`make lint`'s mypy configuration reads only the parts of pulumi-aws the code uses (pyproject.toml): its root
modules and every AWS service the code names must be on that list, or mypy would take them for Any without a word."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pulumi_aws

ROOT = Path(__file__).resolve().parents[1]
CODE = ("components", "stacks", "services", "tools", "bench", "tests", "policies")
# `aws.ec2.Vpc(...)` after `import pulumi_aws as aws`, or `pulumi_aws.ec2` spelt out.
SERVICE_USE = re.compile(r"\b(?:aws|pulumi_aws)\.([a-z][a-z0-9_]*)\.[A-Za-z_]")


def _type_checked_modules() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    overrides = config["tool"]["mypy"]["overrides"]
    return {module for override in overrides if override.get("follow_imports") == "normal" for module in override["module"]}


def _services_named_in_code() -> dict[str, Path]:
    named: dict[str, Path] = {}
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "pulumi_aws" not in text:
                continue
            for match in SERVICE_USE.finditer(text):
                named.setdefault(match.group(1), path)
    return named


def test_every_aws_service_the_code_names_is_type_checked() -> None:
    checked = _type_checked_modules()
    named = _services_named_in_code()
    assert {"ec2", "iam", "eks"} <= named.keys(), "the pattern no longer finds the components' services"
    missing = {
        service: str(path.relative_to(ROOT))
        for service, path in named.items()
        if f"pulumi_aws.{service}" not in checked or f"pulumi_aws.{service}.*" not in checked
    }
    assert not missing, f"add these to the follow_imports = \"normal\" override in pyproject.toml: {missing}"


def test_every_root_module_of_the_installed_pulumi_aws_is_type_checked() -> None:
    """`aws.get_caller_identity_output(...)`, `aws.Provider(...)`: the root modules are listed by hand, and an
    upgrade of pulumi-aws may add one."""
    package = Path(pulumi_aws.__file__).parent
    roots = {f"pulumi_aws.{path.stem}" for path in package.glob("*.py") if path.stem != "__init__"}
    assert "pulumi_aws.provider" in roots, f"no root modules found under {package}"
    missing = sorted((roots | {"pulumi_aws"}) - _type_checked_modules())
    assert not missing, f"add these to the follow_imports = \"normal\" override in pyproject.toml: {missing}"
