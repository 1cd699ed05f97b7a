"""The Pulumi SDK internals the plan and the policy check rely on, checked against the pinned release.

`stacks/pulumi_internals.py` is the one module that reaches below the SDK's program API. These tests
pin the release it was checked against and use each touchpoint once, so an SDK upgrade that moves
any of them fails here, naming what to re-check, instead of somewhere deep in a render.
"""

from __future__ import annotations

import asyncio
import json
import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pulumi
import pytest

from platform_facts import project
from stacks import pulumi_internals
from stacks.mocks import plain
from stacks.pulumi_internals import (
    PINNED_PULUMI_VERSION,
    SECRET_SIGNATURE,
    SIGNATURE_KEY,
    MockCallArgs,
    MockResourceArgs,
    Mocks,
    RecordedResource,
    RecordingMonitor,
    analyzer_pb2,
    analyzer_pb2_grpc,
    engine_config,
    is_unknown,
    run_under_mocks,
    set_engine_config,
)

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
RECHECK = (
    "Pulumi internals changed under stacks/pulumi_internals.py ({touchpoint}): re-check that touchpoint "
    f"against the installed SDK (it was checked against pulumi {PINNED_PULUMI_VERSION}), fix it there, "
    "then set PINNED_PULUMI_VERSION to the new pin."
)


def _recheck(touchpoint: str) -> str:
    return RECHECK.format(touchpoint=touchpoint)


def _pinned_in_pyproject() -> str:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if re.match(r"^pulumi\s*==", d)]
    return str(pin).split("==", 1)[1].strip()


def test_the_internals_were_checked_against_the_pinned_and_installed_pulumi() -> None:
    pinned, installed = _pinned_in_pyproject(), metadata.version("pulumi")
    assert pinned == installed == PINNED_PULUMI_VERSION, (
        f"pyproject.toml pins pulumi {pinned} and {installed} is installed, but stacks/pulumi_internals.py was "
        f"checked against {PINNED_PULUMI_VERSION}. With the new pin installed, re-check every touchpoint that "
        "module lists (mock runtime and RecordingMonitor, root resource reset, engine config, wire format, "
        "analyzer protos) until the other tests in this file pass, then set PINNED_PULUMI_VERSION."
    )


class _EchoMocks(Mocks):
    """A provider that echoes inputs and computes one output, like a real one would."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", {**args.inputs, "arn": f"arn:test:{args.name}"}

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        return {"echo": args.args.get("value")}


class _Thing(pulumi.ComponentResource):
    """A component with a provider, two custom children, a dependency, a secret and an unknown input."""

    def __init__(self, name: str) -> None:
        super().__init__("test:index:Thing", name, None, None)
        provider = pulumi.ProviderResource("test", f"{name}-provider", {"region": "eu-west-1"})
        child = pulumi.ResourceOptions(parent=self)
        first = pulumi.CustomResource("test:index:Widget", f"{name}-first", {"size": 1}, child)
        pulumi.CustomResource(
            "test:index:Widget",
            f"{name}-second",
            {"size": 2, "token": pulumi.Output.secret("s3cret"), "later": _unknown()},
            pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[first], protect=True),
        )
        self.register_outputs({})


def _unknown() -> pulumi.Output[str]:
    """An output whose value a preview does not know yet (another resource's computed property)."""
    loop = asyncio.get_event_loop()
    value: asyncio.Future[str | None] = loop.create_future()
    known: asyncio.Future[bool] = loop.create_future()
    value.set_result(None)
    known.set_result(False)
    return pulumi.Output(set(), value, known)  # type: ignore[arg-type]


def _render(stack: str) -> RecordingMonitor:
    monitor = RecordingMonitor(_EchoMocks())

    def program() -> None:
        _Thing("thing")

    run_under_mocks(program, monitor, project=project.PROJECT_NAME, stack=stack, config={}, secret_keys=frozenset())
    return monitor


def test_the_recording_monitor_sees_each_registration_as_the_engine_would() -> None:
    touchpoint = _recheck("mocks: MockMonitor.RegisterResource, make_urn, rpc.deserialize_properties")
    recorded = {record.name: record for record in _render("internals").recorded}
    names = ("thing", "thing-provider", "thing-first", "thing-second")
    assert set(recorded) == set(names), touchpoint
    thing, provider, first, second = (recorded[name] for name in names)
    assert thing.urn == f"urn:pulumi:internals::{project.PROJECT_NAME}::pulumi:pulumi:Stack$test:index:Thing::thing", touchpoint
    assert thing.parent == f"urn:pulumi:internals::{project.PROJECT_NAME}::pulumi:pulumi:Stack::{project.PROJECT_NAME}-internals", touchpoint
    assert not thing.custom and second.custom, touchpoint
    # The mock monitor qualifies a type with its parent's own type only (the engine uses the whole chain).
    assert second.urn == f"urn:pulumi:internals::{project.PROJECT_NAME}::test:index:Thing$test:index:Widget::thing-second", touchpoint
    assert second.parent == thing.urn and second.protect and not first.protect, touchpoint
    assert second.provider == f"{provider.urn}::{provider.id}" and second.provider_urn == provider.urn, touchpoint
    assert second.dependencies == [first.urn], touchpoint
    assert second.id == "thing-second-id" and second.outputs["arn"] == "arn:test:thing-second", touchpoint
    assert isinstance(second, RecordedResource), touchpoint


def test_the_wire_format_markers_are_what_the_sdk_sends() -> None:
    (second,) = [r for r in _render("wire").recorded if r.name == "thing-second"]
    assert second.inputs["token"] == {SIGNATURE_KEY: SECRET_SIGNATURE, "value": "s3cret"}, _recheck(
        "wire format: SIGNATURE_KEY / SECRET_SIGNATURE (rpc._special_sig_key, rpc._special_secret_sig)"
    )
    assert is_unknown(second.inputs["later"]), _recheck("wire format: unknowns (pulumi.output.Unknown)")
    assert plain(second.inputs) == {"size": 2, "token": "[secret]", "later": "[unknown]"}, _recheck(
        "wire format, as the plan shows it (stacks/mocks.py: plain)"
    )


def test_every_render_starts_from_a_fresh_root_stack() -> None:
    _render("first")
    (thing,) = [r for r in _render("second").recorded if r.name == "thing"]
    assert thing.parent == f"urn:pulumi:second::{project.PROJECT_NAME}::pulumi:pulumi:Stack::{project.PROJECT_NAME}-second", _recheck(
        "root resource reset: pulumi.runtime.settings.set_root_resource, set_mocks creating the Stack"
    )


def test_config_reaches_the_program_as_the_engine_hands_it_over(monkeypatch: pytest.MonkeyPatch) -> None:
    touchpoint = _recheck("engine config: pulumi.runtime.config CONFIG, set_all_config, *_env, is_config_secret")
    seen: list[tuple[dict[str, str], frozenset[str]]] = []
    monitor = RecordingMonitor(_EchoMocks())
    values = {project.config_key("environment"): "dev", project.config_key("model_hub_token"): "[secret]"}
    run_under_mocks(
        lambda: seen.append(engine_config()),
        monitor,
        project=project.PROJECT_NAME,
        stack="config",
        config=values,
        secret_keys=frozenset({project.config_key("model_hub_token")}),
    )
    assert seen == [(values, frozenset({project.config_key("model_hub_token")}))], touchpoint
    # Under `pulumi up` the language host passes config through the environment instead.
    set_engine_config({}, frozenset())
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"aws:region": "eu-west-1", project.config_key("onprem_kubeconfig"): "x"}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps([project.config_key("onprem_kubeconfig")]))
    assert engine_config() == (
        {"aws:region": "eu-west-1", project.config_key("onprem_kubeconfig"): "x"},
        frozenset({project.config_key("onprem_kubeconfig")}),
    ), touchpoint


def test_the_analyzer_protocol_has_what_the_policy_check_sends_and_reads() -> None:
    touchpoint = _recheck("analyzer protos: pulumi.runtime.proto.analyzer_pb2 / analyzer_pb2_grpc")
    levels = {analyzer_pb2.ADVISORY, analyzer_pb2.MANDATORY, analyzer_pb2.REMEDIATE, analyzer_pb2.DISABLED}
    assert len(levels) == 4, touchpoint
    options = analyzer_pb2.AnalyzerResourceOptions(protect=True, parent="urn:parent")
    provider = analyzer_pb2.AnalyzerProviderResource(type="pulumi:providers:aws", urn="urn:p", name="p")
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:s3/bucket:Bucket", urn="urn:b", name="b", options=options, provider=provider
    )
    request.properties.update({"bucket": "b"})
    assert request.options.protect and request.provider.name == "p", touchpoint
    stack = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type="aws:s3/bucket:Bucket",
                urn="urn:b",
                name="b",
                options=options,
                provider=provider,
                parent="urn:parent",
                dependencies=["urn:k"],
            )
        ]
    )
    assert list(stack.resources[0].dependencies) == ["urn:k"], touchpoint
    configure = analyzer_pb2.ConfigureAnalyzerRequest()
    config = analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY)
    config.properties.update({"allowSpot": False})
    configure.policyConfig["gpu-spot-only-outside-prod"].CopyFrom(config)
    assert configure.policyConfig["gpu-spot-only-outside-prod"].enforcementLevel == analyzer_pb2.MANDATORY, touchpoint
    analyzer_pb2.AnalyzerStackConfigureRequest(stack="dev", project=project.PROJECT_NAME, dry_run=True)
    advisory = analyzer_pb2.ADVISORY
    diagnostic = analyzer_pb2.AnalyzeDiagnostic(policyName="x", enforcementLevel=advisory, urn="u", message="m")
    assert (diagnostic.policyName, diagnostic.urn, diagnostic.message) == ("x", "u", "m"), touchpoint
    info = analyzer_pb2.AnalyzerInfo(policies=[analyzer_pb2.PolicyInfo(name="x", enforcementLevel=advisory)])
    assert info.policies[0].name == "x", touchpoint
    methods = ("GetAnalyzerInfo", "Configure", "ConfigureStack", "Analyze", "AnalyzeStack")
    stub = analyzer_pb2_grpc.AnalyzerStub(_NoChannel())
    assert all(callable(getattr(stub, method, None)) for method in methods), touchpoint


class _NoChannel:
    """Enough of a gRPC channel to build a stub without a server."""

    def unary_unary(self, *args: object, **kwargs: object) -> object:
        return lambda *a, **k: None


def test_nothing_else_reaches_into_pulumi_internals() -> None:
    root = PYPROJECT.parent
    internal = re.compile(r"^\s*(from|import)\s+pulumi(\.runtime|\._)", re.MULTILINE)
    offenders = [
        str(path.relative_to(root))
        for folder in ("components", "stacks", "tools", "services")
        for path in (root / folder).rglob("*.py")
        if path.resolve() != Path(pulumi_internals.__file__).resolve() and internal.search(path.read_text())
    ]
    assert offenders == [], f"import Pulumi internals only through stacks/pulumi_internals.py: {offenders}"
