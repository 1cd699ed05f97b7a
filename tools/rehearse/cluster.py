"""One Ray cluster of the plan, started as KubeRay would start it: a head container and one
container per worker group, each with the pod's image, environment, volumes and security context,
then the Serve config deployed through the head's dashboard REST API and watched until RUNNING.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tools.rehearse.podman import Podman, PublishedPorts
from tools.rehearse.spec import ClusterSpec, PodSpec, Volume, WorkerGroupSpec
from tools.rehearse.substitutions import GPU_STAND_IN, ray_cpus
from tools.rehearse.tls import TLS_KEYS, SelfSignedCertificate, self_signed_certificate

__all__ = [
    "ClusterError",
    "RunningCluster",
    "container_options",
    "offered_resources",
    "ray_start_command",
    "start_cluster",
    "unplaced_with_room",
    "worker_container",
    "workers_offering",
]

GCS_PORT = 6379
DASHBOARD_PORT = 8265
SERVE_PORT = 8000
METRICS_PORT = 8080
SHM_CAP = "1g"
"""/dev/shm per container here (the pods' Memory emptyDir is sized for a GPU node)."""
RAY_UP_TIMEOUT_S = 90
DEPLOY_TIMEOUT_S = 420
PROGRESS_EVERY_S = 10.0
MAX_WORKER_STARTS = 8
"""KubeRay restarts a failed pod without limit (with back-off); a node that times out starting on a loaded box is not
a finding, one that keeps failing is."""
RAYLET_HEALTH_URL = "http://127.0.0.1:52365/api/local_raylet_healthz"
"""What KubeRay's default liveness probe of a worker asks: the dashboard agent, whether the head's GCS knows this
node's raylet as alive (a worker still running after its head came back without it answers 503)."""
UNPLACED_GRACE_S = 120.0
"""How long Serve may report a replica waiting to be scheduled while the cluster has room for it before the
workers that could host it are restarted. Seen once, after a head restart (CI, 2026-12-07): the replica's
resources were reserved on the GPU worker (the cluster's free CPU and GPU were exactly the total less every
replica, the waiting one included) but its worker process never started; the raylet still passed its liveness
probe, so nothing in KubeRay would act. An operator deletes the pod; the rehearsal restarts the container."""
_UNPLACED = re.compile(
    r"to be scheduled\..*Resources required for each replica: (\{.*?\}), total resources available: (\{.*?\})",
    re.DOTALL,
)
_RAYLET_PROBE = (  # run with the worker's python: the image has no wget or curl
    "import urllib.request, urllib.error\n"
    "try:\n"
    f"    print(urllib.request.urlopen({RAYLET_HEALTH_URL!r}, timeout=2).read().decode())\n"
    "except urllib.error.HTTPError as error:\n"
    "    print(error.code, error.read().decode()[:200])\n"
    "except OSError as error:\n"
    "    print(error)\n"
)
LIVENESS_PROBE_EVERY_S = 10.0
LIVENESS_GRACE_S = 120.0
"""How long a running worker may fail the probe before it is restarted. KubeRay's default allows 600 s
(120 failures, 5 s apart); the rehearsal waits 420 s for a deploy, so it acts sooner."""
HIDDEN = "[secret]"
"""How the plan shows a Secret's value it never holds."""


class ClusterError(RuntimeError):
    """A cluster did not come up; the message names the cluster, what it waited for and the last status."""


def _host_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def container_options(
    pod: PodSpec,
    volume_dirs: Mapping[str, Path],
    extra_env: Mapping[str, str],
    publish: Sequence[int] = (),
) -> list[str]:
    """`podman run` options for one Ray pod: its security context, environment and volumes as planned.

    `volume_dirs` maps each non-memory volume's name to the host directory that backs it. Image
    VOLUMEs are ignored, as Kubernetes ignores them: only what the pod spec mounts is writable.
    """
    options = ["--image-volume=ignore", "--read-only-tmpfs=false", f"--shm-size={SHM_CAP}"]
    if pod.read_only_root:
        options.append("--read-only")
    if pod.run_as_user is not None:
        group = pod.fs_group if pod.fs_group is not None else pod.run_as_user
        options.append(f"--user={pod.run_as_user}:{group}")
    options.extend(f"--cap-drop={capability}" for capability in pod.dropped_capabilities)
    if not pod.allow_privilege_escalation:
        options.append("--security-opt=no-new-privileges")
    by_name = {volume.name: volume for volume in pod.volumes}
    for mount in pod.mounts:
        volume: Volume = by_name[mount.volume]
        if volume.kind == "memory":
            if mount.path != "/dev/shm":  # /dev/shm is podman's own, sized by --shm-size
                options.append(f"--tmpfs={mount.path}:rw,nosuid,nodev,mode=1777")
            continue
        source = volume_dirs[volume.name] / mount.sub_path if mount.sub_path else volume_dirs[volume.name]
        if mount.read_only or volume.kind in ("config_map", "secret"):
            options.append(f"--volume={source}:{mount.path}:ro")
        else:  # owned by the pod's user, as fsGroup makes a volume on Kubernetes
            options.append(f"--volume={source}:{mount.path}:rw,U")
    for key, value in sorted({**pod.env, **extra_env}.items()):
        options.append(f"--env={key}={value}")
    options.extend(f"--publish=127.0.0.1::{port}" for port in publish)
    return options


def offered_resources(pod: PodSpec, pods: int = 1) -> dict[str, int]:
    """The Ray resources `pods` pods of this group offer: `CPU` and the custom ones (a GPU as `rehearsal_gpu`).

    The group's `resources` win over rayStartParams' `num-cpus`, as in KubeRay.
    """
    declared = dict(pod.ray_resources)
    cpus = declared.pop("CPU", None)
    if cpus is not None:
        offered = {"CPU": 0 if cpus in ("0", "0m") else ray_cpus(cpus, pods)}
    elif "num-cpus" in pod.ray_start_params:
        offered = {"CPU": int(float(pod.ray_start_params["num-cpus"]))}
    else:
        offered = {"CPU": ray_cpus(pod.cpu, pods)}
    declared.pop("GPU", None)  # the GPU substitution: no GPU here, whatever the pod requests
    declared.pop("memory", None)  # the container's memory is not capped here
    offered.update({name: ray_cpus(quantity, pods) for name, quantity in declared.items()})
    if pod.gpus:
        offered[GPU_STAND_IN] = pod.gpus * pods
    return offered


def ray_start_command(pod: PodSpec, *, head_address: str | None, pods: int = 1) -> list[str]:
    """KubeRay's container command: `ray start` with the group's rayStartParams and `resources`,
    blocking; this one container stands in for `pods` pods of the group (its resources times `pods`)."""
    params = dict(pod.ray_start_params)
    offered = offered_resources(pod, pods)
    params["num-cpus"] = str(offered.pop("CPU"))
    params["num-gpus"] = "0"
    if offered:
        params["resources"] = json.dumps(offered, sort_keys=True)
    params["metrics-export-port"] = str(METRICS_PORT)
    if head_address is None:
        params.update({"port": str(GCS_PORT), "dashboard-host": "0.0.0.0"})
        start = ["ray", "start", "--head"]
    else:
        start = ["ray", "start", f"--address={head_address}"]
    flags = [f"--{key}={value}" for key, value in sorted(params.items())]
    return ["bash", "-lc", shlex.join([*start, *flags, "--block", "--disable-usage-stats"])]


@dataclass
class RunningCluster:
    spec: ClusterSpec
    head: str
    workers: list[str]
    ports: PublishedPorts
    serve_config: dict[str, Any]
    auth_token: str | None
    volume_dirs: dict[str, dict[str, Path]] = field(default_factory=dict)
    """Container → volume name → host directory."""
    ca_file: Path | None = None
    """The self-signed certificate the cluster's Serve proxy presents (None: plain HTTP)."""
    entry: str = ""
    """The container whose Serve port clients call: the gateway Service's group (or the head)."""
    entry_ports: PublishedPorts | None = None

    def refresh_ports(self, podman: Podman) -> None:
        """Read the published ports again (after a container was started again); a stopped container
        publishes none, and keeps the ones it had until it runs again."""
        head = podman.published(self.head)
        self.ports = head if head.ports else self.ports
        if self.entry and self.entry != self.head:
            entry = podman.published(self.entry)
            self.entry_ports = entry if entry.ports else self.entry_ports

    @property
    def verify(self) -> str | bool:
        """What HTTP clients pass as `verify`: trust exactly the rehearsal's certificate."""
        return str(self.ca_file) if self.ca_file else True

    @property
    def gateway_url(self) -> str:
        http_options = self.serve_config.get("http_options") or self.spec.serve_config.get("http_options") or {}
        url = (self.entry_ports or self.ports).url(SERVE_PORT)
        return url.replace("http://", "https://", 1) if http_options.get("ssl_certfile") else url

    @property
    def dashboard_url(self) -> str:
        return self.ports.url(DASHBOARD_PORT)

    @property
    def metrics_url(self) -> str:
        return self.ports.url(METRICS_PORT)

    def dashboard_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.auth_token}"} if self.auth_token else {}

    def deploy(self) -> None:
        """PUT the Serve config to the head, as the KubeRay operator does."""
        response = httpx.put(
            f"{self.dashboard_url}/api/serve/applications/",
            json=self.serve_config,
            headers=self.dashboard_headers(),
            timeout=60,
        )
        if response.status_code != 200:
            raise ClusterError(f"{self.spec.key}: deploying the Serve config answered {response.status_code}: "
                               f"{response.text[:2000]}")

    def applications(self) -> dict[str, Any]:
        response = httpx.get(
            f"{self.dashboard_url}/api/serve/applications/", headers=self.dashboard_headers(), timeout=10
        )
        response.raise_for_status()
        applications: dict[str, Any] = response.json().get("applications") or {}
        return applications

    def wait_for_dashboard(self, podman: Podman) -> None:
        deadline = time.monotonic() + RAY_UP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not podman.is_running(self.head):
                raise ClusterError(f"{self.spec.key}: the head stopped:\n{podman.logs(self.head)}")
            try:
                self.applications()
                return
            except httpx.HTTPError:
                time.sleep(1)
        raise ClusterError(f"{self.spec.key}: the head's dashboard did not answer in {RAY_UP_TIMEOUT_S}s:\n"
                           f"{podman.logs(self.head)}")

    def wait_until_running(self, podman: Podman, timeout_s: float = DEPLOY_TIMEOUT_S) -> None:
        """Until every application is RUNNING and the gateway answers /readyz; progress on the way."""
        started = time.monotonic()
        deadline = started + timeout_s
        last_report = 0.0
        summary = "no status yet"
        replaced: dict[str, int] = {}
        failing: dict[str, tuple[float, str]] = {}  # worker → since when its probe fails, and its last answer
        unplaced: dict[str, float] = {}  # deployment → since when a replica the cluster has room for waits
        last_probe = 0.0
        applications: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if not podman.is_running(self.head):
                raise ClusterError(f"{self.spec.key}: the head {self.head} stopped:\n{podman.logs(self.head)}")
            for name in self.workers:
                if not podman.is_running(name):
                    # A worker that lost its head exits; KubeRay recreates the pod, here it starts again.
                    self._replace_worker(podman, name, replaced, "stopped", podman.start_again)
                    failing.pop(name, None)
            if time.monotonic() - last_probe >= LIVENESS_PROBE_EVERY_S:
                last_probe = time.monotonic()
                for name in self.workers:
                    answer = self.raylet_health(podman, name)
                    if answer == "success":
                        failing.pop(name, None)
                        continue
                    since = failing[name][0] if name in failing else last_probe
                    failing[name] = (since, answer)
                    if last_probe - since >= LIVENESS_GRACE_S:
                        self._replace_worker(podman, name, replaced,
                                             f"failed its liveness probe for {LIVENESS_GRACE_S:.0f}s", podman.restart)
                        failing.pop(name)
            try:
                applications = self.applications()
            except httpx.HTTPError as error:
                applications, summary = {}, f"dashboard: {error}"
            waiting = unplaced_with_room(applications.values())
            for deployment in set(unplaced) - set(waiting):
                del unplaced[deployment]
            for deployment, required in waiting.items():
                if time.monotonic() - unplaced.setdefault(deployment, time.monotonic()) < UNPLACED_GRACE_S:
                    continue
                for name in workers_offering(self.spec, required):
                    self._replace_worker(podman, name, replaced, f"has room for a {deployment} replica that Serve "
                                         f"waited {UNPLACED_GRACE_S:.0f}s to place", podman.restart)
                del unplaced[deployment]
            expected = {app["name"] for app in self.serve_config["applications"]}
            statuses = {name: app.get("status") for name, app in applications.items()}
            if applications:
                summary = "; ".join(
                    f"{name} {app.get('status')} ("
                    + ", ".join(f"{d}={s.get('status')}" for d, s in (app.get("deployments") or {}).items())
                    + ")"
                    for name, app in applications.items()
                )
            failed = [name for name, status in statuses.items() if status in ("DEPLOY_FAILED", "UNHEALTHY")]
            if failed:
                details = "\n".join(_unhealthy_deployments([applications[name] for name in failed], 1500))
                raise ClusterError(f"{self.spec.key}: {', '.join(failed)} failed to deploy: "
                                   f"{applications[failed[0]].get('message', '')[-1500:]}\n{details}")
            if expected <= set(statuses) and all(statuses[name] == "RUNNING" for name in expected) and self._ready():
                return
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_S:
                probes = "".join(f"; {name} probe: {answer[:80]}" for name, (_, answer) in failing.items())
                print(f"  [{self.spec.key}] {now - started:5.0f}s  {summary}{probes}", flush=True)
                last_report = now
            time.sleep(2)
        raise ClusterError(f"{self.spec.key}: not RUNNING after {timeout_s:.0f}s: {summary}\n"
                           + self._why_not_running(podman, applications))

    def raylet_health(self, podman: Podman, worker: str) -> str:
        """The answer to KubeRay's liveness probe of `worker`: "success", or what went wrong."""
        try:
            done = podman.exec(worker, "python", "-c", _RAYLET_PROBE, timeout=30)
        except subprocess.TimeoutExpired:
            return "the probe timed out"
        return (done.stdout.strip() or done.stderr.strip()[-200:]) or f"exit {done.returncode}"

    def _replace_worker(self, podman: Podman, name: str, replaced: dict[str, int], event: str,
                        start: Callable[[str], None]) -> None:
        """Start `name` again after `event` (it stopped, or failed its probe), as the kubelet would."""
        replaced[name] = replaced.get(name, 0) + 1
        if replaced[name] > MAX_WORKER_STARTS:
            raise ClusterError(f"{self.spec.key}: worker {name} {event} again after {MAX_WORKER_STARTS} starts:\n"
                               f"{podman.logs(name)}")
        print(f"  [{self.spec.key}] worker {name} {event}: starting it again", flush=True)
        start(name)
        self.refresh_ports(podman)

    def _why_not_running(self, podman: Podman, applications: Mapping[str, Any]) -> str:
        """What Serve says of each deployment not yet HEALTHY, each worker's liveness probe, and `ray status`."""
        lines = _unhealthy_deployments(applications.values(), 600)
        lines += [f"  {name}: liveness probe: {self.raylet_health(podman, name)}" for name in self.workers]
        try:
            status = podman.exec(self.head, "ray", "status", timeout=60)
            lines.append(f"  ray status on {self.head}:\n{(status.stdout + status.stderr).strip()[-2500:]}")
        except subprocess.TimeoutExpired:
            lines.append(f"  ray status on {self.head}: no answer in 60 s")
        return "\n".join(lines)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.gateway_url}/readyz", timeout=5, verify=self.verify).status_code == 200
        except httpx.HTTPError:
            return False


def _unhealthy_deployments(applications: Iterable[Mapping[str, Any]], message_chars: int) -> list[str]:
    """One line per deployment not HEALTHY in `applications`: its name and the end of Serve's message."""
    return [
        f"  {deployment}: {state.get('message', '')[-message_chars:]}"
        for app in applications
        for deployment, state in (app.get("deployments") or {}).items()
        if state.get("status") != "HEALTHY"
    ]


def unplaced_with_room(applications: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Deployment → one replica's resources, for each deployment Serve says waits to place a replica although
    the cluster's free resources cover it (so no autoscaler is missing: a node holds it and does not start it)."""
    waiting: dict[str, dict[str, float]] = {}
    for app in applications:
        for deployment, state in (app.get("deployments") or {}).items():
            match = _UNPLACED.search(state.get("message") or "")
            if state.get("status") == "HEALTHY" or not match:
                continue
            try:
                required, available = (json.loads(part) for part in match.groups())
            except ValueError:
                continue  # a message worded otherwise: nothing to act on
            if not isinstance(required, dict):
                continue  # placement-group bundles: whether they fit is not a sum over the cluster
            if all(available.get(name, 0) >= amount for name, amount in required.items()):
                waiting[deployment] = required
    return waiting


def workers_offering(spec: ClusterSpec, required: Mapping[str, float]) -> list[str]:
    """The worker containers whose group offers every resource in `required`: those that could host it."""
    return [
        worker_container(spec, group)
        for group in spec.workers
        if all(offered_resources(group.pod, group.max_replicas).get(name, 0) >= amount
               for name, amount in required.items() if amount)
    ]


def worker_container(spec: ClusterSpec, group: WorkerGroupSpec) -> str:
    """The container that stands in for `group`'s pods."""
    return f"rh-{spec.key}-{group.name}-worker"


def _volume_dirs(pod: PodSpec, container_dir: Path, shared: Mapping[str, Path]) -> dict[str, Path]:
    dirs: dict[str, Path] = {}
    for volume in pod.volumes:
        if volume.kind == "memory":
            continue
        if volume.name in shared:
            dirs[volume.name] = shared[volume.name]
        else:
            dirs[volume.name] = _host_dir(container_dir / volume.name)
    return dirs


def _shared_volume_dirs(
    spec: ClusterSpec, cluster_dir: Path, secret_files: Mapping[str, Mapping[str, str]]
) -> dict[str, Path]:
    """ConfigMaps, Secrets and claims: one host directory each, shared by every container of the cluster."""
    shared: dict[str, Path] = {}
    certificate: SelfSignedCertificate | None = None
    pods = [spec.head, *(group.pod for group in spec.workers)]
    for volume in (volume for pod in pods for volume in pod.volumes):
        if volume.name in shared or volume.kind in ("memory", "empty_dir"):
            continue
        if volume.kind == "config_map":
            if volume.source not in spec.config_maps:
                raise ClusterError(f"{spec.key}: volume {volume.name!r} mounts ConfigMap {volume.source!r}, "
                                   "which the plan does not create in the namespace")
            shared[volume.name] = _write_files(cluster_dir / "configmaps" / volume.source,
                                               spec.config_maps[volume.source], volume.items)
        elif volume.kind == "secret":
            planned = spec.secrets.get(volume.source)
            if planned is None and _serves_tls_from(spec, volume.name):
                # The backend TLS Secret is written by cert-manager or your PKI, not by the plan.
                planned = dict.fromkeys(TLS_KEYS, HIDDEN)
            if planned is None:
                raise ClusterError(f"{spec.key}: volume {volume.name!r} mounts Secret {volume.source!r}, "
                                   "which the plan does not create in the namespace")
            values = {**planned, **secret_files.get(volume.source, {})}
            if any(values.get(key) == HIDDEN for key in TLS_KEYS):
                certificate = certificate or self_signed_certificate([f"rh-{spec.key}-head"])
                values.update({"tls.crt": certificate.certificate_pem, "tls.key": certificate.key_pem})
            hidden = [key for key, value in values.items() if value == HIDDEN]
            if hidden:
                raise ClusterError(f"{spec.key}: Secret {volume.source!r} keys {', '.join(hidden)} have no "
                                   "rehearsal value")
            shared[volume.name] = _write_files(cluster_dir / "secrets" / volume.source, values, volume.items)
        else:  # a claim or host path: one directory every node shares, as ReadWriteMany storage would be
            shared[volume.name] = _host_dir(cluster_dir / "claims" / (volume.source.strip("/").replace("/", "_")))
    if certificate is not None:  # what the rehearsal's clients trust
        (cluster_dir / "ca.pem").write_text(certificate.certificate_pem)
    return shared


def _serves_tls_from(spec: ClusterSpec, volume_name: str) -> bool:
    """Whether the Serve config's certificate (`http_options.ssl_certfile`) is on this volume."""
    certificate = str((spec.serve_config.get("http_options") or {}).get("ssl_certfile") or "")
    return any(
        mount.volume == volume_name and certificate.startswith(mount.path.rstrip("/") + "/")
        for pod in (spec.head, *(group.pod for group in spec.workers))
        for mount in pod.mounts
    )


def _write_files(directory: Path, data: Mapping[str, str], items: Sequence[tuple[str, str]]) -> Path:
    _host_dir(directory)
    paths = dict(items) if items else {key: key for key in data}
    for key, relative in paths.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[key])
        target.chmod(0o644)
    return directory


def host_path_for(spec: ClusterSpec, shared: Mapping[str, Path], pod_path: str) -> Path:
    """The host directory behind `pod_path` in the worker pods (a shared volume: a claim, ConfigMap or Secret)."""
    pod = spec.workers[0].pod
    by_name = {volume.name: volume for volume in pod.volumes}
    best = None
    for mount in pod.mounts:
        if (pod_path == mount.path or pod_path.startswith(mount.path.rstrip("/") + "/")) and (
            best is None or len(mount.path) > len(best.path)
        ):
            best = mount
    if best is None or best.volume not in shared:
        kind = by_name[best.volume].kind if best else "no volume"
        raise ClusterError(f"{spec.key}: {pod_path} is on {kind} in the worker pods, not on storage the nodes share")
    relative = pod_path[len(best.path):].lstrip("/")
    return shared[best.volume] / relative


def start_cluster(
    spec: ClusterSpec,
    podman: Podman,
    *,
    image: str,
    serve_config: dict[str, Any],
    extra_env: Mapping[str, str],
    work_dir: Path,
    secret_files: Mapping[str, Mapping[str, str]],
) -> tuple[RunningCluster, Mapping[str, Path]]:
    """Start the head and one container per worker group; the Serve config is deployed by the caller."""
    if (work_dir / spec.key).exists():  # a previous run's state, audit log and certificate
        shutil.rmtree(work_dir / spec.key)
    cluster_dir = _host_dir(work_dir / spec.key)
    shared = _shared_volume_dirs(spec, cluster_dir, secret_files)
    env = dict(extra_env)
    token = None
    if spec.auth_mode == "token":
        # KubeRay generates the token into a Secret and sets it on every node.
        token = secrets.token_hex(32)
        env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
    head = f"rh-{spec.key}-head"
    head_dirs = _volume_dirs(spec.head, cluster_dir / "head", shared)
    # The Serve port is published where the gateway Service sends clients (the ingress stand-in).
    head_publish = (DASHBOARD_PORT, METRICS_PORT) if spec.entry_group else (SERVE_PORT, DASHBOARD_PORT, METRICS_PORT)
    podman.start(
        head,
        container_options(spec.head, head_dirs, env, publish=head_publish),
        image,
        ray_start_command(spec.head, head_address=None),
    )
    dirs = {head: head_dirs}
    workers = []
    entry = head
    for group in spec.workers:
        name = worker_container(spec, group)
        worker_dirs = _volume_dirs(group.pod, cluster_dir / name, shared)
        serves_clients = group.name == spec.entry_group
        podman.start(
            name,
            container_options(
                group.pod, worker_dirs, env, publish=(METRICS_PORT, SERVE_PORT) if serves_clients else (METRICS_PORT,)
            ),
            image,
            ray_start_command(group.pod, head_address=f"{head}:{GCS_PORT}", pods=group.max_replicas),
        )
        workers.append(name)
        dirs[name] = worker_dirs
        if serves_clients:
            entry = name
    ca_file = cluster_dir / "ca.pem"
    cluster = RunningCluster(
        spec, head, workers, podman.published(head), serve_config, token, dirs,
        ca_file=ca_file if ca_file.exists() else None, entry=entry,
    )
    cluster.refresh_ports(podman)
    return cluster, shared
