"""Fill a config file's `${name}` placeholders with a stack's outputs.

Cloud config files never carry a resource name by hand: where a serve or gateway config names a
bucket, a secret or a region it writes a placeholder (`s3://${model_bucket}/embedders/...`), and
the stack renders the file with the names Pulumi created before it embeds it in the cluster. A
placeholder the stack has no value for is an error naming the file and the key, so a typo
cannot reach a cluster as a literal `${...}`.

PyYAML only: the infra-only install renders configs without Ray or torch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PLACEHOLDER", "ConfigRenderError", "placeholders", "render"]

PLACEHOLDER = re.compile(r"\$\{([a-z][a-z0-9_]*)\}")
"""`${model_bucket}`: a lower-case name of a value the stack supplies."""


class ConfigRenderError(ValueError):
    """A placeholder has no value; the message names the file, the key and the placeholder."""


def placeholders(document: Any) -> set[str]:
    """Every placeholder name `document` uses, anywhere in it."""
    if isinstance(document, str):
        return set(PLACEHOLDER.findall(document))
    if isinstance(document, Mapping):
        return set().union(*(placeholders(value) for value in document.values()))
    if isinstance(document, list):
        return set().union(*(placeholders(item) for item in document))
    return set()


def render(document: Any, values: Mapping[str, str], *, source: str) -> Any:
    """A copy of `document` with every `${name}` replaced by `values[name]`.

    `source` (the file's name) prefixes error messages, followed by the dotted key path.
    """
    return _render(document, values, source, "")


def _render(document: Any, values: Mapping[str, str], source: str, path: str) -> Any:
    if isinstance(document, str):

        def value_of(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                known = ", ".join(sorted(values)) or "none"
                raise ConfigRenderError(
                    f"{source}: {path or '<top>'}: ${{{name}}} has no value (this stack supplies: {known})"
                )
            return values[name]

        return PLACEHOLDER.sub(value_of, document)
    if isinstance(document, Mapping):
        return {key: _render(value, values, source, _join(path, key)) for key, value in document.items()}
    if isinstance(document, list):
        return [_render(item, values, source, _join(path, index)) for index, item in enumerate(document)]
    return document


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)
