"""One environment rehearsed: plan → clusters in containers → smoke suite → fault drill → summary."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from platform_facts.project import PROJECT_NAME, platform_namespace
from services.config import ENVIRONMENTS
from stacks.config import load_stack_config, read_stack_file
from stacks.plan import render_environment
from tools.rehearse.access import GatewaySetup, TenantKey, gateway_setup, tenant_keys
from tools.rehearse.cloud import MotoCloud
from tools.rehearse.cluster import ClusterError, RunningCluster, host_path_for, start_cluster
from tools.rehearse.models import stage_index, stage_models
from tools.rehearse.podman import Podman
from tools.rehearse.spec import ClusterSpec, cloud_names, cluster_specs
from tools.rehearse.state_db import StateDatabase, planned_netloc
from tools.rehearse.substitutions import aws_environment, substitute_serve_config
from tools.rehearse.summary import ClusterReport

__all__ = ["Deployed", "RehearsalOptions", "rehearse_environment"]

REHEARSED = tuple(env for env in ENVIRONMENTS if env != "local")
# The cluster key whose pods reach AWS (pod identity); every other cluster gets no AWS endpoint.
CLOUD_CLUSTER = "eks"
COMES_UP = "comes up: every application RUNNING, gateway ready"


@dataclass(frozen=True)
class RehearsalOptions:
    image: str
    work_dir: Path
    drill: bool = True


@dataclass
class Deployed:
    """A cluster up and serving, with what the checks need to call it."""

    cluster: RunningCluster
    gateway: GatewaySetup | None
    keys: dict[str, TenantKey]
    report: ClusterReport
    shared: Mapping[str, Path]
    """Host directories of the volumes every node of the cluster shares (claims, ConfigMaps, Secrets)."""


@contextmanager
def _phase(key: str, what: str) -> Iterator[None]:
    """Print how long one step took: the rehearsal's time budget is spent in these steps."""
    began = time.monotonic()
    try:
        yield
    finally:
        print(f"  [{key}] {what}: {time.monotonic() - began:.0f}s", flush=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _key_files(spec: ClusterSpec, setup: GatewaySetup | None, keys: dict[str, TenantKey]) -> dict[str, dict[str, str]]:
    """For a gateway that reads keys from a file: the Secret volume's file holding the hashed key set."""
    if setup is None or setup.config.keys.source != "file":
        return {}
    path = str(setup.config.keys.path)
    if not path.startswith("/"):
        raise RuntimeError(
            f"{spec.key}: the gateway config ({setup.source}) reads keys from {path}, a file packaged in the "
            "image; a cluster's keys must come from a mounted Secret"
        )
    pod = spec.workers[0].pod
    volumes = {volume.name: volume for volume in pod.volumes}
    for mount in pod.mounts:
        prefix = mount.path.rstrip("/") + "/"
        volume = volumes[mount.volume]
        if path.startswith(prefix) and volume.kind == "secret":
            relative = path[len(prefix):]
            key = {p: k for k, p in volume.items}.get(relative, relative)
            records = [tenant.record.model_dump(mode="json") for tenant in keys.values()]
            return {volume.source: {key: yaml.safe_dump({"keys": records}, sort_keys=False)}}
    raise RuntimeError(f"{spec.key}: keys.path {path} is not on a Secret the worker pods mount")


def _put_cloud_keys(deployed: Deployed, cloud: MotoCloud) -> None:
    setup, spec = deployed.gateway, deployed.cluster.spec
    if setup is None or setup.config.keys.source != "secrets_manager":
        return
    if spec.cluster != CLOUD_CLUSTER:
        raise RuntimeError(
            f"{spec.key}: the gateway config ({setup.source}) loads keys from Secrets Manager, "
            "but this cluster gets no AWS endpoint"
        )
    assert setup.config.keys.secret_id is not None
    records = [key.record for key in deployed.keys.values()]
    cloud.put_key_set(setup.config.keys.secret_id, records, f"{setup.source}: keys.secret_id")


def _start(
    spec: ClusterSpec, podman: Podman, cloud: MotoCloud, options: RehearsalOptions, report: ClusterReport
) -> Deployed:
    """The cluster's containers, with keys where its gateway reads them (the Serve config is deployed later)."""
    setup = gateway_setup(spec)
    keys = tenant_keys(setup.config) if setup else {}
    env = aws_environment(cloud.endpoint_url, cloud.names.region) if spec.cluster == CLOUD_CLUSTER else {}
    cluster, shared = start_cluster(
        spec,
        podman,
        image=options.image,
        serve_config={},
        extra_env=env,
        work_dir=options.work_dir / spec.environment,
        secret_files=_key_files(spec, setup, keys),
    )
    return Deployed(cluster, setup, keys, report, shared)


def _substitute_arns(deployed: Deployed, cloud: MotoCloud) -> None:
    """In the mounted ConfigMaps: each secret ARN the plan computed → the one the stand-in issued."""
    _substitute_in_config_maps(deployed, cloud.arn_substitutions())


def _start_state_database(deployed: Deployed, podman: Podman, host: str, stack: ExitStack) -> None:
    """A PostgreSQL on the network for a gateway config whose `state.url` names a server, and that URL's
    host and port in the mounted ConfigMaps → the stand-in's (the substitution list says why)."""
    setup = deployed.gateway
    url = setup.config.state.url if setup is not None else None
    if url is None or not url.startswith("postgresql"):
        return
    what = f"{deployed.cluster.spec.key}: state.url ({setup.source if setup else ''})"
    database = stack.enter_context(StateDatabase(url, host, _free_port(), podman.subnet, what))
    _substitute_in_config_maps(deployed, {planned_netloc(url): f"{database.host}:{database.port}"})
    print(f"  [{deployed.cluster.spec.key}] state database: PostgreSQL at {database.host}:{database.port} "
          f"for {planned_netloc(url)}", flush=True)


def _substitute_in_config_maps(deployed: Deployed, substitutions: Mapping[str, str]) -> None:
    volumes = {volume.name: volume for volume in deployed.cluster.spec.workers[0].pod.volumes}
    for name, directory in deployed.shared.items():
        if name not in volumes or volumes[name].kind != "config_map":
            continue
        for path in (p for p in directory.rglob("*") if p.is_file()):
            text = original = path.read_text()
            for planned, issued in substitutions.items():
                text = text.replace(planned, issued)
            if text != original:
                path.write_text(text)


def _deploy(deployed: Deployed, podman: Podman, cloud: MotoCloud, options: RehearsalOptions) -> None:
    """Keys and models in place, the substituted Serve config PUT to the head."""
    spec = deployed.cluster.spec
    _substitute_arns(deployed, cloud)
    _put_cloud_keys(deployed, cloud)
    from tools.rehearse.loop import candidate_twins

    with _phase(spec.key, "tiny models built and staged"):
        checksums = stage_models(
            spec.serve_config,
            cloud if spec.cluster == CLOUD_CLUSTER else None,
            lambda path: host_path_for(spec, deployed.shared, path),
            options.work_dir / spec.environment,
            candidate_twins(deployed.gateway.config) if deployed.gateway else None,
        )
    with _phase(spec.key, "passage index ingested and staged"):
        stage_index(
            spec.serve_config,
            cloud if spec.cluster == CLOUD_CLUSTER else None,
            lambda path: host_path_for(spec, deployed.shared, path),
            options.work_dir,
        )
    deployed.cluster.serve_config = substitute_serve_config(spec.serve_config, checksums)
    with _phase(spec.key, "Ray dashboard up"):
        deployed.cluster.wait_for_dashboard(podman)
    deployed.cluster.deploy()


def rehearse_environment(environment: str, options: RehearsalOptions, reports: list[ClusterReport]) -> None:
    """Rehearse one environment; every check lands in `reports` (one per cluster)."""
    from tools.rehearse.drill import run_drill
    from tools.rehearse.loop import run_loop
    from tools.rehearse.smoke import run_smoke, verify_audit

    started = time.monotonic()
    config = load_stack_config(*read_stack_file(environment))
    graph = render_environment(environment)
    specs = cluster_specs(graph, [(p.name, p.cluster, platform_namespace(p.name)) for p in config.inference_platforms])
    names = cloud_names(graph, config.region)
    print(f"==> {environment}: plan rendered ({len(graph.resources)} resources), clusters: "
          + ", ".join(f"{s.platform} on {s.cluster}" for s in specs), flush=True)
    podman = Podman(network=f"{PROJECT_NAME}-rehearse-{environment}")
    try:
        # moto listens on the bridge's address, which exists once a container is on the network:
        # the containers start first, moto before anything is deployed.
        bridge = podman.create_network()
        cloud = MotoCloud(bridge, _free_port(), names)
        deployed = []
        for spec in specs:
            report = ClusterReport(environment, spec.platform)
            reports.append(report)
            with _phase(spec.key, "containers started"):
                deployed.append(_start(spec, podman, cloud, options, report))
        with cloud, ExitStack() as state_databases:
            coming_up = []
            for item in deployed:
                try:
                    _start_state_database(item, podman, bridge, state_databases)
                    _deploy(item, podman, cloud, options)
                    coming_up.append(item)
                except Exception as error:  # this cluster fails; the others still run
                    item.report.record(COMES_UP, False, f"{type(error).__name__}: {error}")
            serving = []
            for item in coming_up:
                try:
                    item.cluster.wait_until_running(podman)
                except ClusterError as error:
                    item.report.record(COMES_UP, False, str(error))
                    continue
                item.report.ready_s = time.monotonic() - started
                item.report.record(COMES_UP, True, f"{item.report.ready_s:.0f}s; gateway {item.cluster.gateway_url}")
                serving.append(item)
            for item in serving:
                with _phase(item.cluster.spec.key, "smoke suite"):
                    run_smoke(item, cloud)
            for item in serving:
                with _phase(item.cluster.spec.key, "the loop: feedback, export, eval, rollout"):
                    run_loop(item, cloud if item.cluster.spec.cluster == CLOUD_CLUSTER else None, options.work_dir)
            for item in serving:
                if options.drill:
                    with _phase(item.cluster.spec.key, "fault drill"):
                        run_drill(item, podman, cloud)  # ends with the audit check, after the load
                else:
                    verify_audit(item, cloud)
    finally:
        with _phase(environment, "containers and network removed"):
            for problem in podman.clean_up():
                print(f"clean-up: {problem}", flush=True)


def environments(argument: str) -> Sequence[str]:
    if argument == "all":
        return REHEARSED
    if argument not in REHEARSED:
        raise ValueError(f"ENV: {argument!r} is not one of {', '.join(REHEARSED)} (or all)")
    return (argument,)
