"""The offline policy check: run the packaged pack over a rendered stack the way the Pulumi CLI does.

    make policy ENV=prod          # python -m tools.policy_check prod

The stack is rendered under mocks (`stacks.plan`); the pack is started as the CLI starts it
(`python __main__.py` in the pack's directory, which prints the port of its analyzer gRPC server), and spoken to
with the analyzer protocol stubs shipped in the `pulumi` package: GetAnalyzerInfo, ConfigureStack,
Configure (the environment's levels and settings), Analyze for every resource and AnalyzeStack
once. Violations are printed as a table; the exit status is 1 when any is mandatory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2

from stacks.plan import PROJECT, PlanGraph, PlannedResource
from stacks.pulumi_internals import analyzer_pb2, analyzer_pb2_grpc

__all__ = [
    "Analyzer",
    "PolicyCheckError",
    "Violation",
    "analyze_graph",
    "format_violations",
    "main",
    "markdown_summary",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
PACK_DIR = REPO_ROOT / "policies"
PACK_ENTRY = PACK_DIR / "__main__.py"
START_TIMEOUT_S = 60.0

# The engine's wire forms of values a plan records as markers.
SECRET_MARKER = "[secret]"
UNKNOWN_MARKER = "[unknown]"
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}


class PolicyCheckError(RuntimeError):
    """The pack could not be started or answered badly; the message says what happened."""


@dataclass(frozen=True)
class Violation:
    """One diagnostic the pack reported."""

    policy: str
    level: str
    urn: str
    resource: str
    message: str


def _wire(value: Any) -> Any:
    """A plan value in the form the engine sends: secrets signed, unknowns as the unknown sentinel."""
    if value == SECRET_MARKER:
        return {_SIG_KEY: _SECRET_SIG, "value": SECRET_MARKER}
    if value == UNKNOWN_MARKER:
        return _UNKNOWN_VALUE
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_wire(item) for item in value]
    return value


def _struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_wire(dict(properties)))
    return struct


class Analyzer:
    """The policy pack running as a subprocess, reached over gRPC; use as a context manager.

    `stack_config`/`secret_keys` are handed over as the CLI hands them to a pack (PULUMI_CONFIG,
    PULUMI_CONFIG_SECRET_KEYS), so one process serves one stack.
    """

    def __init__(
        self, stack: str, stack_config: Mapping[str, str] | None = None, secret_keys: Iterable[str] = ()
    ) -> None:
        self.stack = stack
        self._env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",  # the pack writes its port without flushing
            "PULUMI_PROJECT": PROJECT,
            "PULUMI_STACK": stack,
            "PULUMI_DRY_RUN": "true",
            "PULUMI_CONFIG": json.dumps(dict(stack_config or {})),
            "PULUMI_CONFIG_SECRET_KEYS": json.dumps(sorted(secret_keys)),
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.info: analyzer_pb2.AnalyzerInfo | None = None

    def __enter__(self) -> Analyzer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        try:
            self._process = subprocess.Popen(
                [sys.executable, str(PACK_ENTRY)],
                cwd=PACK_DIR,
                env=self._env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as error:
            raise PolicyCheckError(f"the policy pack did not start: {error}") from None
        assert self._process.stdout is not None
        line = self._process.stdout.readline().decode().strip()
        if not line.isdigit():
            self._process.kill()
            _, stderr = self._process.communicate(timeout=10)
            raise PolicyCheckError(f"the policy pack did not start (printed {line!r}):\n{stderr.decode()[-2000:]}")
        self._channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(self._channel).result(timeout=START_TIMEOUT_S)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        self.info = self.stub.GetAnalyzerInfo(empty_pb2.Empty())

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate(timeout=10)
        self._process = None

    def policy_levels(self) -> dict[str, str]:
        """Each policy's default level, as GetAnalyzerInfo reports it."""
        assert self.info is not None
        return {policy.name: LEVEL_NAMES[policy.enforcementLevel] for policy in self.info.policies}

    def configure(self, pack_config: Mapping[str, Any]) -> None:
        """Send a policy-pack config document (`tools.policy_config`) resolved as the CLI resolves it.

        Every policy gets a level: its own entry's, else `all`, else the pack's default for it.
        """
        assert self.stub is not None
        defaults = self.policy_levels()
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, default_level in defaults.items():
            entry = dict(pack_config.get(name) or {})
            level = entry.pop("enforcementLevel", pack_config.get("all", default_level))
            if level not in LEVELS:
                raise PolicyCheckError(f"{name}.enforcementLevel: unknown level {level!r}")
            config = analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[level])
            config.properties.update(entry)
            request.policyConfig[name].CopyFrom(config)
        unknown = sorted(set(pack_config) - set(defaults) - {"all"})
        if unknown:
            raise PolicyCheckError(f"policy config names unknown policies: {', '.join(unknown)}")
        self.stub.Configure(request)
        self.stub.ConfigureStack(
            analyzer_pb2.AnalyzerStackConfigureRequest(stack=self.stack, project=PROJECT, dry_run=True)
        )

    def analyze(self, graph: PlanGraph) -> list[Violation]:
        """Analyze every resource, then the whole stack, and return every diagnostic."""
        assert self.stub is not None
        by_urn = {resource.urn: resource for resource in graph.resources}
        # Requests are pipelined (the pack serves several at once), as the engine does during a preview.
        pending = [
            (
                resource.urn,
                self.stub.Analyze.future(
                    analyzer_pb2.AnalyzeRequest(
                        type=resource.type,
                        properties=_struct(resource.inputs),
                        urn=resource.urn,
                        name=resource.name,
                        options=_options(resource),
                        provider=_provider(resource, by_urn),
                    )
                ),
            )
            for resource in graph.resources
        ]
        diagnostics = [(urn, d) for urn, future in pending for d in future.result().diagnostics]
        stack_request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=resource.type,
                    properties=_struct(resource.outputs or resource.inputs),
                    urn=resource.urn,
                    name=resource.name,
                    options=_options(resource),
                    provider=_provider(resource, by_urn),
                    parent=resource.parent,
                    dependencies=resource.dependencies,
                )
                for resource in graph.resources
            ]
        )
        diagnostics.extend(("", d) for d in self.stub.AnalyzeStack(stack_request).diagnostics)
        return [_violation(urn, diagnostic, by_urn) for urn, diagnostic in diagnostics]


def _options(resource: PlannedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=resource.protect, parent=resource.parent)


def _provider(
    resource: PlannedResource, by_urn: Mapping[str, PlannedResource]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    provider = by_urn.get(resource.provider)
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, properties=_struct(provider.inputs), urn=provider.urn, name=provider.name
    )


def _violation(
    request_urn: str, diagnostic: analyzer_pb2.AnalyzeDiagnostic, by_urn: Mapping[str, PlannedResource]
) -> Violation:
    urn = diagnostic.urn or request_urn
    # The pack prefixes each message with the policy's description on its own line.
    message = diagnostic.message.split("\n", 1)[-1]
    resource = by_urn[urn].name if urn in by_urn else "(stack)"
    return Violation(diagnostic.policyName, LEVEL_NAMES[diagnostic.enforcementLevel], urn, resource, message)


def analyze_graph(
    graph: PlanGraph, stack_config: Mapping[str, str], secret_keys: Iterable[str], pack_config: Mapping[str, Any]
) -> list[Violation]:
    """Start the pack, configure it for the stack, analyze the graph, stop the pack."""
    with Analyzer(graph.environment, stack_config, secret_keys) as analyzer:
        analyzer.configure(pack_config)
        return analyzer.analyze(graph)


def format_violations(violations: list[Violation]) -> str:
    if not violations:
        return "No policy violations."
    order = {"mandatory": 0, "advisory": 1}
    rows = sorted(violations, key=lambda v: (order.get(v.level, 2), v.policy, v.resource))
    headers = ("LEVEL", "POLICY", "RESOURCE", "MESSAGE")
    cells = [(v.level, v.policy, v.resource, v.message) for v in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in cells)) for i in range(3)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, [*widths, 0], strict=True)).rstrip()]
    lines += ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]]) for row in cells]
    return "\n".join(lines)


def markdown_summary(environment: str, violations: list[Violation], resources: int) -> str:
    """One environment's result for a pull-request comment: a headline, then the table when there is one."""
    mandatory = sum(v.level == "mandatory" for v in violations)
    verdict = "blocked" if mandatory else "passes"
    headline = (
        f"### `{environment}` {verdict}: {len(violations)} violation(s), {mandatory} mandatory, "
        f"over {resources} resources\n"
    )
    if not violations:
        return headline
    order = {"mandatory": 0, "advisory": 1}
    rows = sorted(violations, key=lambda v: (order.get(v.level, 2), v.policy, v.resource))
    table = ["| Level | Policy | Resource | Message |", "|---|---|---|---|"]
    table += [f"| {v.level} | `{v.policy}` | `{v.resource}` | {_cell(v.message)} |" for v in rows]
    return headline + "\n" + "\n".join(table) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _append(path: Path | None, text: str) -> None:
    if path is not None:
        with path.open("a") as summary:
            summary.write(text + "\n")


def main(argv: list[str] | None = None) -> int:
    from stacks.config import ConfigError, read_stack_file
    from stacks.plan import render
    from tools.policy_config import policy_pack_config

    parser = argparse.ArgumentParser(prog="make policy", description=__doc__.splitlines()[0])
    parser.add_argument("environment", help="stack name: stacks/Pulumi.<environment>.yaml")
    parser.add_argument("--graph", type=Path, help="analyze a recorded graph (make plan's JSON) instead of rendering")
    parser.add_argument("--markdown", type=Path, help="append the environment's result, as Markdown, to this file")
    options = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        values, secret_keys = read_stack_file(options.environment)
        if options.graph:
            graph = PlanGraph.from_json(options.graph.read_text())
        else:
            print(f"Rendering stack '{options.environment}' offline under mocks...", file=sys.stderr, flush=True)
            graph = render(values, secret_keys, stack=options.environment)
    except (ConfigError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        _append(options.markdown, f"### `{options.environment}`: the check did not run\n\n{error}\n")
        return 2
    print(f"Running the policy pack over {len(graph.resources)} resources...", file=sys.stderr, flush=True)
    try:
        violations = analyze_graph(graph, values, secret_keys, policy_pack_config(options.environment))
    except (PolicyCheckError, grpc.RpcError) as error:
        print(f"error: {error}", file=sys.stderr)
        _append(options.markdown, f"### `{options.environment}`: the pack did not run\n\n{error}\n")
        return 2
    print(format_violations(violations))
    _append(options.markdown, markdown_summary(options.environment, violations, len(graph.resources)))
    mandatory = sum(v.level == "mandatory" for v in violations)
    print(
        f"\n{len(violations)} violation(s), {mandatory} mandatory, in {time.perf_counter() - started:.1f}s "
        f"({options.environment}).",
        file=sys.stderr,
    )
    return 1 if mandatory else 0


if __name__ == "__main__":
    sys.exit(main())
