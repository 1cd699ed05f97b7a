"""Mint, list and revoke tenants' API keys where a deployed gateway reads them.

The gateway stores keys only as SHA-256 hashes (services/gateway/keys.py). This tool adds a new
key's hash to the key set — the Secrets Manager secret a cloud gateway reads, or a key file an
on-prem platform's Kubernetes Secret is made from — and prints the key itself once, on stdout;
nothing else ever holds it.

    pulumi stack output -s dev --json | python -m tools.api_keys add --stack-outputs - \\
        --region us-east-1 --tenant internal --scopes chat,embeddings,rag,models     # make api-key
    python -m tools.api_keys add --file keys.yaml --tenant regulated-bank --scopes chat
    kubectl create secret generic gateway-api-keys -n rampart-regulated --from-file=keys.yaml \\
        --dry-run=client -o yaml | kubectl apply -f -
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, get_args

import yaml

from services.gateway.config import Scope
from services.gateway.errors import ConfigError
from services.gateway.keys import KeyRecord, KeySet, generate_api_key, hash_api_key, parse_key_set, write_key_file

__all__ = ["KeySetLocation", "add_key", "main", "revoke_key"]

KEYS_SECRET = "gateway-api-keys"
"""The platform secret (components/secrets.py `PLATFORM_SECRETS`) a cloud gateway reads its keys from."""


class KeySetLocation:
    """Where a key set lives: a Secrets Manager secret (`secret_id`) or a YAML file (`path`)."""

    def __init__(self, *, secret_id: str | None = None, path: Path | None = None, client: Any = None) -> None:
        if (secret_id is None) == (path is None):
            raise ValueError("give exactly one of secret_id or path")
        self.secret_id = secret_id
        self.path = path
        self.client = client

    def __str__(self) -> str:
        return f"secret {self.secret_id}" if self.secret_id else str(self.path)

    def read(self) -> KeySet:
        """The key set there; a secret with no value yet, or a missing file, holds no keys."""
        if self.path is not None:
            raw = yaml.safe_load(self.path.read_text()) if self.path.exists() else None
        else:
            try:
                raw = json.loads(self.client.get_secret_value(SecretId=self.secret_id)["SecretString"])
            except self.client.exceptions.ResourceNotFoundException:
                raw = None  # the stack creates the secret without a value
        return parse_key_set(str(self), raw) if raw else KeySet(keys=())

    def write(self, key_set: KeySet) -> None:
        if self.path is not None:
            write_key_file(self.path, key_set.keys)
        else:
            document = {"keys": [record.model_dump(mode="json") for record in key_set.keys]}
            self.client.put_secret_value(SecretId=self.secret_id, SecretString=json.dumps(document))


def add_key(
    location: KeySetLocation, *, key_id: str, tenant: str, scopes: tuple[str, ...], models: tuple[str, ...]
) -> str:
    """Add a new key's hash under `key_id` and return the key (shown once, stored nowhere)."""
    key_set = location.read()
    if any(record.id == key_id for record in key_set.keys):
        raise ConfigError(f"--id: {location} already has a key named {key_id!r}; revoke it or pick another name")
    key = generate_api_key()
    record = KeyRecord.model_validate(
        {"id": key_id, "tenant": tenant, "sha256": hash_api_key(key), "scopes": scopes, "models": models}
    )
    location.write(KeySet(keys=(*key_set.keys, record)))
    return key


def revoke_key(location: KeySetLocation, key_id: str) -> None:
    """Remove the key named `key_id`; the gateway stops accepting it at its next key reload."""
    key_set = location.read()
    kept = tuple(record for record in key_set.keys if record.id != key_id)
    if len(kept) == len(key_set.keys):
        raise ConfigError(f"--id: {location} has no key named {key_id!r}")
    location.write(KeySet(keys=kept))


def _location(options: argparse.Namespace) -> KeySetLocation:
    if options.file is not None:
        return KeySetLocation(path=options.file)
    import boto3

    secret_id = options.secret_id
    if secret_id is None:
        source = options.stack_outputs
        outputs = json.loads(sys.stdin.read() if source == "-" else Path(source).read_text())
        secret_id = outputs.get("secret_arns", {}).get(KEYS_SECRET)
        if secret_id is None:
            raise ConfigError(f"--stack-outputs: no secret_arns.{KEYS_SECRET} in the stack's outputs")
    return KeySetLocation(secret_id=secret_id, client=boto3.client("secretsmanager", region_name=options.region))


def _scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(part.strip() for part in text.split(",") if part.strip())
    if unknown := [scope for scope in scopes if scope not in get_args(Scope)]:
        raise argparse.ArgumentTypeError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(get_args(Scope))}")
    return scopes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.api_keys", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("add", "list", "revoke"):
        command = commands.add_parser(name)
        where = command.add_mutually_exclusive_group(required=True)
        where.add_argument("--secret-id", help="the Secrets Manager secret (name or ARN) a cloud gateway reads")
        where.add_argument("--stack-outputs", help="`pulumi stack output --json` (a file, or - for stdin)")
        where.add_argument("--file", type=Path, help="a key file (on-prem: the Kubernetes Secret's keys.yaml)")
        command.add_argument("--region", help="AWS region of the secret (default: the SDK's)")
        if name != "list":
            command.add_argument("--id", required=name == "revoke", help="a name for the key, safe to log")
        if name == "add":
            command.add_argument("--tenant", required=True)
            command.add_argument("--scopes", type=_scopes, required=True, help="comma-separated, e.g. chat,embeddings")
            command.add_argument("--models", default="*", help="comma-separated public models (default: all)")
    options = parser.parse_args(argv)
    try:
        location = _location(options)
        if options.command == "add":
            key_id = options.id or f"{options.tenant}-{len(location.read().keys) + 1}"
            models = tuple(part.strip() for part in options.models.split(",") if part.strip())
            key = add_key(location, key_id=key_id, tenant=options.tenant, scopes=options.scopes, models=models)
            print(f"added key {key_id!r} for {options.tenant!r} to {location}; the key (shown once):", file=sys.stderr)
            print(key)
        elif options.command == "revoke":
            revoke_key(location, options.id)
            print(f"revoked key {options.id!r} in {location}", file=sys.stderr)
        else:
            for record in location.read().keys:
                print(f"{record.id}\ttenant={record.tenant}\tscopes={','.join(record.scopes)}\tmodels={','.join(record.models)}")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
