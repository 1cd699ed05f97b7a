"""tools/fork.py's parts: the name rules, the rewrite, the price table and a fork of a small tree.

The AWS Pricing API cannot be reached here: `fetch_price_table` talks to a real boto3 `pricing` client
whose answers come from botocore's Stubber (which checks every request against the API's own model).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from platform_facts import project
from tools.fork import ForkError, Identity, fetch_price_table, fork, name_errors, rename_text, validate_domain

# Any identity other than the platform's own: the rewrite is a pure function of the two.
UPSTREAM = Identity("citadel", "citadel.dev")
FORK = Identity("acme-ai", "acme.example")


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("Acme", "may hold only lowercase letters, digits and '-'"),
        ("acme_ai", "may hold only lowercase letters, digits and '-'"),
        ("1acme", "must start with a lowercase letter"),
        ("acme-", "must end with a letter or digit"),
        ("ac--me", "must not hold '--'"),
        ("aws-platform", "must not start with 'aws': S3 and IAM reserve that prefix"),
        ("sthree-x", "must not start with 'sthree-'"),
        ("a", "must be 2 to 20 characters (got 1)"),
        ("a" * 21, "must be 2 to 20 characters (got 21)"),
    ],
)
def test_a_name_a_resource_would_refuse_is_refused_naming_the_rule(name: str, rule: str) -> None:
    assert any(error.startswith(rule) for error in name_errors(name)), name_errors(name)


@pytest.mark.parametrize("name", ["acme", "acme-ai", "ml2", project.PROJECT_NAME])
def test_names_every_resource_accepts_pass(name: str) -> None:
    assert name_errors(name) == []


@pytest.mark.parametrize("domain", ["acme", "Acme.example", "acme..example", "-acme.example", "acme.example/x"])
def test_a_label_domain_must_be_a_dns_subdomain(domain: str) -> None:
    with pytest.raises(ForkError, match=rf"^DOMAIN='{domain.replace('.', '[.]')}': must"):
        validate_domain(domain)


def test_rename_rewrites_every_spelling_of_the_identity() -> None:
    text = (
        "Citadel on citadel-dev: label citadel.dev/pool, tag citadel:owner, metric ray_citadel_gateway_requests_total, "
        "variable CITADEL_STATE_DIR, state .citadel/plan, host api.dev.citadel.example.com, word citadels"
    )
    assert rename_text(text, UPSTREAM, FORK) == (
        "Acme-ai on acme-ai-dev: label acme.example/pool, tag acme-ai:owner, metric ray_acme_ai_gateway_requests_total, "
        "variable ACME_AI_STATE_DIR, state .acme-ai/plan, host api.dev.acme-ai.example.com, word citadels"
    )


def test_a_host_under_the_new_domain_survives_a_second_rename() -> None:
    """`acme.example` the label domain is not `api.acme.example.com` the host name."""
    once = rename_text("host api.citadel.example.com, label citadel.dev/gpu", UPSTREAM, Identity("acme", "acme.example"))
    assert once == "host api.acme.example.com, label acme.example/gpu"
    assert rename_text(once, Identity("acme", "acme.example"), UPSTREAM) == (
        "host api.citadel.example.com, label citadel.dev/gpu"
    )


def _tree(root: Path) -> Path:
    (root / "policies/platform_facts").mkdir(parents=True)
    (root / "policies/platform_facts/project.py").write_text(
        'PROJECT_NAME: Final = "citadel"\nLABEL_DOMAIN: Final = "citadel.dev"\n'
    )
    (root / "stacks").mkdir()
    (root / "stacks/Pulumi.dev.yaml").write_text(
        "config:\n  aws:region: us-east-1\n  citadel:environment: dev\n  citadel:tags: {owner: team}\n"
    )
    (root / "Pulumi.yaml").write_text("name: citadel\nmain: stacks/\n")
    (root / "pyproject.toml").write_text('[project]\nname = "citadel"\n')
    prices = root / "policies/platform_facts/prices"
    prices.mkdir()
    (prices / "aws-us-east-1-2026-11.yaml").write_text("region: us-east-1\n")
    return root


def test_fork_rewrites_the_identity_and_the_stack_files_once(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    result = fork(root, "acme", "acme.example")
    assert {path.relative_to(root).as_posix() for path in result.changed} == {
        "policies/platform_facts/project.py",
        "stacks/Pulumi.dev.yaml",
        "Pulumi.yaml",
        "pyproject.toml",
    }
    assert 'PROJECT_NAME: Final = "acme"' in (root / "policies/platform_facts/project.py").read_text()
    config = yaml.safe_load((root / "stacks/Pulumi.dev.yaml").read_text())["config"]
    assert set(config) == {"aws:region", "acme:environment", "acme:tags"}
    assert fork(root, "acme", "acme.example").changed == []
    assert fork(root, "acme").new.domain == "acme.example", "a second run without DOMAIN keeps the chosen one"


def test_a_region_without_credentials_keeps_the_committed_table_and_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    root = _tree(tmp_path / "repo")
    result = fork(root, "acme", "acme.example", region="eu-west-1")
    assert any("no AWS credentials" in note and "eu-west-1" in note for note in result.notes), result.notes
    assert any("no price table for eu-west-1: the stack files keep their region" in note for note in result.notes)
    assert "aws:region: us-east-1" in (root / "stacks/Pulumi.dev.yaml").read_text()
    with pytest.raises(ForkError, match=r"^REGION='mars-1': not one of the regions"):
        fork(root, "acme", "acme.example", region="mars-1")


def _product(usd: str) -> str:
    dimension = {"unit": "Hrs", "pricePerUnit": {"USD": usd}}
    return json.dumps({"terms": {"OnDemand": {"term": {"priceDimensions": {"dimension": dimension}}}}})


def test_the_price_table_is_read_from_the_pricing_api_in_the_committed_format() -> None:
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    template = {"hours_per_month": 730, "spot_discount": 0.65, "instances": {"g6.xlarge": [0.8048, 1]}}
    with Stubber(client) as stub:
        for usd in ("0.9", "0.10", "0.048", "0.011"):
            stub.add_response("get_products", {"PriceList": [_product(usd)], "FormatVersion": "aws_v1"})
        table = yaml.safe_load(fetch_price_table(client, "eu-west-1", template, datetime.date(2027, 1, 15)))
        stub.assert_no_pending_responses()
    assert table["region"] == "eu-west-1"
    assert table["effective"] == "2027-01-01"
    assert table["instances"] == {"g6.xlarge": [0.9, 1]}
    assert table["services"] == {"eks_cluster_hour": 0.1, "nat_gateway_hour": 0.048, "interface_endpoint_hour": 0.011}


def test_a_product_the_pricing_api_does_not_price_is_named() -> None:
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    template = {"hours_per_month": 730, "spot_discount": 0.65, "instances": {"g6.xlarge": [0.8048, 1]}}
    with Stubber(client) as stub:
        stub.add_response("get_products", {"PriceList": [], "FormatVersion": "aws_v1"})
        with pytest.raises(ForkError, match=r"no hourly AmazonEC2 price for .*g6\.xlarge"):
            fetch_price_table(client, "eu-west-1", template, datetime.date(2027, 1, 15))
