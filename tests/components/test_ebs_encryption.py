"""EBS encryption by default: every environment turns it on, so AMI root volumes are encrypted too."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components.ebs_encryption import EbsEncryption, EbsEncryptionArgs
from platform_facts import project
from stacks.plan import PlanGraph, render
from tests.stacks.helpers import under

Render = Callable[[str], PlanGraph]
BY_DEFAULT = "aws:ebs/encryptionByDefault:EncryptionByDefault"
DEFAULT_KEY = "aws:ebs/defaultKmsKey:DefaultKmsKey"


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_environment_encrypts_ebs_by_default(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    (component,) = graph.of_type(project.type_token("EbsEncryption"))
    (setting,) = under(graph, component, BY_DEFAULT)
    assert setting.inputs["enabled"] is True, setting.urn
    assert graph.of_type(DEFAULT_KEY) == [], "the platform keeps the AWS-managed aws/ebs key (see the module)"


def test_a_customer_default_key_is_declared_after_the_setting() -> None:
    def program(_: object) -> None:
        EbsEncryption("ebs", EbsEncryptionArgs(default_kms_key_arn="arn:aws:kms:us-east-1:1:key/k"))

    values = {
        project.config_key("environment"): "dev",
        project.config_key("region"): "us-east-1",
        project.config_key("tags"): '{"owner": "o", "cost_center": "c"}',
    }
    graph = render(values, program=program)
    (setting,) = graph.of_type(BY_DEFAULT)
    (key,) = graph.of_type(DEFAULT_KEY)
    assert key.inputs["keyArn"] == "arn:aws:kms:us-east-1:1:key/k"
    assert setting.urn in key.dependencies
