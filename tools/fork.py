"""Make a fork of the platform its owner's: one name, one label domain, optionally one AWS region.

    make fork NAME=acme DOMAIN=acme.example [REGION=eu-west-1]
    python -m tools.fork --name acme --domain acme.example [--region eu-west-1] [--root .]

Code reads the platform's identity from `policies/platform_facts/project.py`; this tool rewrites that
module's two literals and the data files that must spell the name themselves (Pulumi.yaml, the stack
files' config keys, serve and gateway configs, the image build and workflows, docs). It prints every
file it changed and the next steps. Running it again with the same arguments changes nothing.

With REGION, the price table for that region is generated from the AWS Pricing API (boto3, needs AWS
credentials) and the stack files move to that region; without credentials the committed tables stay,
and the stack files keep a region that has a table, saying so.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3
import botocore.exceptions
import yaml

__all__ = [
    "FORK_DATA_GLOBS",
    "ForkError",
    "ForkResult",
    "Identity",
    "PricingClient",
    "current_identity",
    "fetch_price_table",
    "fork",
    "main",
    "name_errors",
    "rename_text",
    "validate_domain",
    "validate_name",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT_MODULE = Path("policies/platform_facts/project.py")
PRICES_DIR = Path("policies/platform_facts/prices")

# Files that must spell the name themselves (data, build files, docs): rewritten wholesale.
FORK_DATA_GLOBS: tuple[str, ...] = (
    "Pulumi.yaml",
    ".gitignore",
    "stacks/Pulumi.*.yaml",
    "services/config/*.yaml",
    "services/gateway/static/*",
    "policies/PulumiPolicy.yaml",
    "deploy/Containerfile",
    "deploy/*.sh",
    ".github/workflows/*.yml",
    ".ci/run",
    "README.md",
    "docs/*.md",
)
# Explains the upstream project by its own name, before and after a fork.
KEEP_UPSTREAM_NAME: frozenset[str] = frozenset({"docs/fork.md"})
# pip-compile names the project in its "via" comments; nothing else of the locks changes.
LOCK_GLOB = "requirements/*.lock"

MAX_NAME_LENGTH = 20
# The longest names derived from the project name: `<name>-staging-public-identity-serving-permissions`
# is an IAM policy name (at most 128), `<name>-staging-eks-karpenter-interruptions` an SQS queue and
# EventBridge rule (80 / 64), `<name>-staging-models-<8 hex>` an S3 bucket (63), and the EKS
# cluster's node role `<name>-staging-eks-node-role` plus IAM's generated suffix (64). 20 keeps the
# longest of them (the EventBridge rule, 43 characters plus the name) inside its limit with room to spare.
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-", "aws")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")


class ForkError(ValueError):
    """The fork cannot be made as asked; the message names the argument and the rule."""


@dataclass(frozen=True)
class Identity:
    """The two literals of `project.py`, and the spellings derived from them that data files use."""

    name: str
    domain: str

    @property
    def display(self) -> str:
        return self.name.capitalize()

    @property
    def metric_prefix(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env_prefix(self) -> str:
        return self.metric_prefix.upper() + "_"


def name_errors(name: str) -> list[str]:
    """Every rule `name` breaks, each naming where the name ends up; empty when it is usable."""
    errors = []
    if not 2 <= len(name) <= MAX_NAME_LENGTH:
        errors.append(
            f"must be 2 to {MAX_NAME_LENGTH} characters (got {len(name)}): it prefixes S3 bucket (63), "
            "IAM role (64) and EventBridge rule (64) names"
        )
    if not re.fullmatch(r"[a-z0-9-]*", name):
        errors.append(
            "may hold only lowercase letters, digits and '-': S3 bucket names and Kubernetes namespaces "
            "(DNS-1123 labels) allow nothing else"
        )
    if not re.match(r"[a-z]", name):
        errors.append(
            "must start with a lowercase letter: Kubernetes Service names (DNS-1035) and Pulumi config "
            "namespaces start with one"
        )
    if name.endswith("-"):
        errors.append("must end with a letter or digit: DNS-1123 labels and S3 bucket names do")
    if "--" in name:
        errors.append("must not hold '--': ECR repository names allow one separator between characters")
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            errors.append(f"must not start with {prefix!r}: S3 and IAM reserve that prefix")
    for suffix in RESERVED_SUFFIXES:
        if name.endswith(suffix):
            errors.append(f"must not end with {suffix!r}: S3 reserves that suffix")
    return errors


def validate_name(name: str) -> str:
    errors = name_errors(name)
    if errors:
        raise ForkError(f"NAME={name!r}: " + "; ".join(errors))
    return name


def validate_domain(domain: str) -> str:
    """A label-key prefix must be a DNS-1123 subdomain of at most 253 characters (Kubernetes)."""
    label = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    if len(domain) > 253 or not re.fullmatch(rf"{label}(\.{label})*", domain):
        raise ForkError(
            f"DOMAIN={domain!r}: must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', "
            "each part starting and ending with a letter or digit, at most 253 characters): "
            "Kubernetes label keys are `<domain>/<name>`"
        )
    if "." not in domain:
        raise ForkError(f"DOMAIN={domain!r}: must hold at least one '.' (a domain such as acme.example)")
    return domain


_NAME_LINE = re.compile(r'^(PROJECT_NAME: Final = )"([^"]*)"', re.MULTILINE)
_DOMAIN_LINE = re.compile(r'^(LABEL_DOMAIN: Final = )"([^"]*)"', re.MULTILINE)


def current_identity(root: Path) -> Identity:
    """The identity `project.py` under `root` holds now (read as text: the tree may not be importable)."""
    text = (root / PROJECT_MODULE).read_text()
    name, domain = _NAME_LINE.search(text), _DOMAIN_LINE.search(text)
    if name is None or domain is None:
        raise ForkError(f"{PROJECT_MODULE}: PROJECT_NAME or LABEL_DOMAIN is not a plain string literal")
    return Identity(name.group(2), domain.group(2))


def rename_text(text: str, old: Identity, new: Identity) -> str:
    """Every spelling of the old identity in `text` rewritten to the new one.

    Order matters: the label domain first (it may contain the name), then the upper-case variable
    prefix, the metric prefix (`ray_rampart_...`), the display name and the name itself.
    """
    if old == new:
        return text
    boundary_before, boundary_after = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
    # The domain alone, not inside a longer host name (`api.rampart.example.com` is an example host).
    domain_before, domain_after = r"(?<![A-Za-z0-9.-])", r"(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
    text = re.sub(domain_before + re.escape(old.domain) + domain_after, new.domain, text)
    text = re.sub(boundary_before + re.escape(old.env_prefix), new.env_prefix, text)
    text = re.sub(boundary_before + re.escape(old.metric_prefix + "_"), new.metric_prefix + "_", text)
    text = re.sub(boundary_before + re.escape(old.display) + boundary_after, new.display, text)
    return re.sub(boundary_before + re.escape(old.name) + boundary_after, new.name, text)


def _rewrite_project_module(text: str, new: Identity) -> str:
    text = _NAME_LINE.sub(lambda match: f'{match.group(1)}"{new.name}"', text)
    return _DOMAIN_LINE.sub(lambda match: f'{match.group(1)}"{new.domain}"', text)


def _rewrite_lock(text: str, old: Identity, new: Identity) -> str:
    return text.replace(f"{old.name} (pyproject.toml", f"{new.name} (pyproject.toml")


def _rewrite_pyproject(text: str, old: Identity, new: Identity) -> str:
    return re.sub(rf'^name = "{re.escape(old.name)}"$', f'name = "{new.name}"', text, count=1, flags=re.MULTILINE)


def _files(root: Path, patterns: Iterable[str]) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found.update(path for path in root.glob(pattern) if path.is_file())
    return sorted(found)


def _rewrites(root: Path, old: Identity, new: Identity) -> list[tuple[Path, Callable[[str], str]]]:
    rewrites: list[tuple[Path, Callable[[str], str]]] = [
        (root / PROJECT_MODULE, lambda text: _rewrite_project_module(text, new)),
        (root / "pyproject.toml", lambda text: _rewrite_pyproject(text, old, new)),
    ]
    for path in _files(root, FORK_DATA_GLOBS):
        if path.relative_to(root).as_posix() not in KEEP_UPSTREAM_NAME:
            rewrites.append((path, lambda text: rename_text(text, old, new)))
    for path in _files(root, [LOCK_GLOB]):
        rewrites.append((path, lambda text: _rewrite_lock(text, old, new)))
    return rewrites


# --- the price table -------------------------------------------------------------------------------


class PricingClient(Protocol):
    """The part of boto3's `pricing` client the table needs (a botocore Stubber stands in for tests)."""

    def get_products(self, **kwargs: Any) -> dict[str, Any]: ...


def _on_demand_usd(client: PricingClient, service: str, filters: dict[str, str]) -> float:
    """The hourly on-demand USD price of the one product `filters` select."""
    response = client.get_products(
        ServiceCode=service,
        Filters=[{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in filters.items()],
        MaxResults=10,
    )
    for item in response.get("PriceList", []):
        product = json.loads(item) if isinstance(item, str) else item
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = float(dimension.get("pricePerUnit", {}).get("USD", "0"))
                if usd > 0 and dimension.get("unit", "").lower().startswith("hr"):
                    return usd
    raise ForkError(f"REGION: the AWS Pricing API has no hourly {service} price for {filters}")


def fetch_price_table(client: PricingClient, region: str, template: dict[str, Any], today: datetime.date) -> str:
    """A price table for `region` in the committed tables' format, every price read from the Pricing API.

    `template` is a committed table: its instance types and GPU counts, spot discount and hours per month
    are kept (the Pricing API has no spot prices); the hourly prices are the region's own.
    """
    usage = _usage_prefix(region)
    instances: dict[str, list[float | int]] = {}
    for instance_type, (_, gpus) in template["instances"].items():
        price = _on_demand_usd(
            client,
            "AmazonEC2",
            {
                "regionCode": region,
                "instanceType": instance_type,
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
            },
        )
        instances[instance_type] = [price, int(gpus)]
    services = {
        "eks_cluster_hour": _on_demand_usd(
            client, "AmazonEKS", {"regionCode": region, "usagetype": f"{usage}AmazonEKS-Hours:perCluster"}
        ),
        "nat_gateway_hour": _on_demand_usd(
            client, "AmazonEC2", {"regionCode": region, "usagetype": f"{usage}NatGateway-Hours"}
        ),
        "interface_endpoint_hour": _on_demand_usd(
            client, "AmazonVPC", {"regionCode": region, "usagetype": f"{usage}VpcEndpoint-Hours"}
        ),
    }
    document = {
        "region": region,
        "currency": "USD",
        "effective": today.replace(day=1).isoformat(),
        "hours_per_month": template["hours_per_month"],
        "spot_discount": template["spot_discount"],
        "instances": instances,
        "services": services,
    }
    header = (
        f"# AWS on-demand list prices, {region}, Linux, USD, read from the AWS Pricing API on {today.isoformat()}\n"
        "# by `make fork REGION=...` (tools/fork.py). Refresh by adding a new dated file, never by editing this one.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=None)


# The Pricing API's usage types carry a region code; us-east-1 carries none.
_USAGE_PREFIXES = {
    "us-east-1": "",
    "us-east-2": "USE2-",
    "us-west-1": "USW1-",
    "us-west-2": "USW2-",
    "ca-central-1": "CAN1-",
    "eu-west-1": "EU-",
    "eu-west-2": "EUW2-",
    "eu-west-3": "EUW3-",
    "eu-central-1": "EUC1-",
    "eu-central-2": "EUC2-",
    "eu-north-1": "EUN1-",
    "eu-south-1": "EUS1-",
    "ap-northeast-1": "APN1-",
    "ap-northeast-2": "APN2-",
    "ap-northeast-3": "APN3-",
    "ap-southeast-1": "APS1-",
    "ap-southeast-2": "APS2-",
    "ap-south-1": "APS3-",
    "sa-east-1": "SAE1-",
}


def _usage_prefix(region: str) -> str:
    if region not in _USAGE_PREFIXES:
        raise ForkError(f"REGION={region!r}: not one of the regions the fork knows the Pricing API's codes for")
    return _USAGE_PREFIXES[region]


def _committed_tables(root: Path, region: str) -> list[Path]:
    return sorted((root / PRICES_DIR).glob(f"aws-{region}-*.yaml"))


def _generate_price_table(root: Path, region: str, notes: list[str]) -> Path | None:
    """The region's table read from the AWS Pricing API, written beside the committed ones; None without credentials."""
    _usage_prefix(region)
    session = boto3.Session()
    if session.get_credentials() is None:
        notes.append(
            f"REGION: no AWS credentials, so no price table was read from the AWS Pricing API for {region}; "
            "kept the committed tables (rerun `make fork` with credentials to generate one)"
        )
        return None
    committed = sorted((root / PRICES_DIR).glob("aws-*.yaml"))
    template = yaml.safe_load(committed[-1].read_text())
    today = datetime.datetime.now(datetime.UTC).date()
    try:
        # The Pricing API answers from us-east-1 for every region.
        table = fetch_price_table(session.client("pricing", region_name="us-east-1"), region, template, today)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        notes.append(f"REGION: the AWS Pricing API failed ({error}); kept the committed price tables")
        return None
    path = root / PRICES_DIR / f"aws-{region}-{today:%Y-%m}.yaml"
    if path.is_file() and path.read_text() == table:
        return None
    path.write_text(table)
    return path


_REGION_LINE = re.compile(r"^(\s*aws:region:\s*)(\S+)", re.MULTILINE)


# --- the fork --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForkResult:
    old: Identity
    new: Identity
    changed: list[Path]
    notes: list[str]


def fork(root: Path, name: str, domain: str | None = None, region: str | None = None) -> ForkResult:
    """Rewrite the tree under `root` to the new identity; returns the files changed and notes for the owner."""
    old = current_identity(root)
    new = Identity(validate_name(name), validate_domain(domain if domain is not None else _default_domain(old, name)))
    notes: list[str] = []
    changed: list[Path] = []
    for path, rewrite in _rewrites(root, old, new):
        text = path.read_text()
        rewritten = rewrite(text)
        if rewritten != text:
            path.write_text(rewritten)
            changed.append(path)
    if region is not None:
        generated = _generate_price_table(root, region, notes)
        committed = _committed_tables(root, region)
        table = generated or (committed[-1] if committed else None)
        if generated is not None:
            changed.append(generated)
        if table is None:
            notes.append(f"REGION: no price table for {region}: the stack files keep their region")
        else:
            for path in _files(root, ["stacks/Pulumi.*.yaml"]):
                text = path.read_text()
                moved = _REGION_LINE.sub(lambda match: match.group(1) + region, text)
                if moved != text:
                    path.write_text(moved)
                    if path not in changed:
                        changed.append(path)
    return ForkResult(old, new, changed, notes)


def _default_domain(old: Identity, name: str) -> str:
    """Keep a domain the fork already chose; otherwise `<name>.internal` (ICANN reserves .internal for private use)."""
    return old.domain if old.name == name else f"{name}.internal"


def _next_steps(new: Identity) -> str:
    return f"""
Next steps (docs/fork.md):
  1. `make plan ENV=dev` and `make policy ENV=dev` (offline), then commit the rewrite.
  2. Per environment: `pulumi stack init <org>/{new.name}/<env>` and the secrets no file holds:
       pulumi config set --secret {new.name}:model_hub_token <token> -s <env>               (gated models)
       pulumi config set --secret {new.name}:onprem_kubeconfig < kubeconfig.yaml -s <env>   (on-prem clusters)
       pulumi config set --path {new.name}:serving_image.github_repository <owner>/<repo> -s <env>
  3. The serving image: a first `pulumi up` without {new.name}:serving_image.tag creates the registry; set the
     variables .github/workflows/image.yml reads (SERVING_IMAGE_REPOSITORY_URL, SERVING_IMAGE_PUBLISHER_ROLE_ARN,
     AWS_REGION) from the stack outputs, run the workflow, then
       pulumi config set --path {new.name}:serving_image.tag sha-<commit> -s <env> && pulumi up -s <env>
  4. Models and keys: `make upload-model ENV=<env>`, `make api-key ENV=<env> TENANT=<name> SCOPES=chat,embeddings`.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make fork", description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="the fork's project name (NAME=)")
    parser.add_argument("--domain", help="the label domain (DOMAIN=; default <name>.internal)")
    parser.add_argument("--region", help="AWS region: price table and stack files (REGION=)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the repository to rewrite")
    options = parser.parse_args(argv)
    try:
        result = fork(options.root.resolve(), options.name, options.domain or None, options.region or None)
    except ForkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    root = options.root.resolve()
    old, new = result.old, result.new
    if result.changed:
        print(f"Forked {old.name} ({old.domain}) into {new.name} ({new.domain}); changed:")
        for path in result.changed:
            print(f"  {path.relative_to(root).as_posix()}")
    else:
        print(f"Nothing to change: this tree is already {new.name} ({new.domain}).")
    for note in result.notes:
        print(f"note: {note}")
    print(_next_steps(new))
    return 0


if __name__ == "__main__":
    sys.exit(main())
