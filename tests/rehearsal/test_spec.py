"""Plan → cluster specs: what the RayService says each node runs, read without changing anything,
and the `podman run` options and `ray start` command that follow from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.inference_platform import GATEWAY_RESOURCE
from platform_facts import project
from stacks.plan import PlanGraph, PlannedResource
from tools.rehearse.cluster import container_options, ray_start_command, unplaced_with_room, workers_offering
from tools.rehearse.spec import PlanSpecError, cloud_names, cluster_specs

PROD = project.environment_prefix("prod")

IMAGE = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{project.PROJECT_NAME}/serving@sha256:" + "ab" * 32


def pod_template(cpu: str, gpus: int = 0) -> dict[str, Any]:
    limits: dict[str, Any] = {"cpu": cpu, "memory": "8Gi"}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    return {
        "spec": {
            "serviceAccountName": "ray-serving",
            "securityContext": {"runAsNonRoot": True, "fsGroup": 1000.0},
            "containers": [
                {
                    "image": IMAGE,
                    "env": [{"name": "RAY_SERVE_THROUGHPUT_OPTIMIZED", "value": "1"},
                            {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}],
                    "resources": {"requests": limits, "limits": limits},
                    "securityContext": {"runAsUser": 1000.0, "readOnlyRootFilesystem": True,
                                        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [
                        {"name": "dshm", "mountPath": "/dev/shm"},
                        {"name": "state", "mountPath": f"/var/lib/{project.PROJECT_NAME}"},
                        {"name": "gateway-config", "mountPath": f"/etc/{project.PROJECT_NAME}", "readOnly": True},
                        {"name": "models", "mountPath": "/models"},
                    ],
                }
            ],
            "volumes": [
                {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}},
                {"name": "state", "emptyDir": {}},
                {"name": "gateway-config", "configMap": {"name": "gateway", "items": [
                    {"key": "gateway.yaml", "path": "gateway.yaml"}]}},
                {"name": "models", "persistentVolumeClaim": {"claimName": "models"}},
            ],
        }
    }


def ray_service(namespace: str, serve: dict[str, Any]) -> PlannedResource:
    spec = {
        "serveConfigV2": yaml.safe_dump(serve),
        "rayClusterConfig": {
            "authOptions": {"mode": "token"},
            "headGroupSpec": {"rayStartParams": {"num-cpus": "0"}, "template": pod_template("2")},
            "workerGroupSpecs": [
                {"groupName": "cpu", "replicas": 3.0, "rayStartParams": {}, "template": pod_template("4")},
                {"groupName": "gpu", "replicas": 2.0, "rayStartParams": {}, "template": pod_template("8", gpus=1)},
                {"groupName": "gateway", "replicas": 2.0, "maxReplicas": 3.0, "rayStartParams": {},
                 "resources": {"CPU": "0", GATEWAY_RESOURCE: "2"}, "template": pod_template("2")},
            ],
        },
    }
    return resource("kubernetes:ray.io/v1:RayService", f"{namespace}-rs", {"metadata": {"namespace": namespace}, "spec": spec})


def resource(type_token: str, name: str, inputs: dict[str, Any], outputs: dict[str, Any] | None = None) -> PlannedResource:
    return PlannedResource(urn=f"urn:{name}", type=type_token, name=name, parent="", provider="", dependencies=[],
                           custom=True, protect=False, inputs=inputs, outputs=outputs or {})


SERVE = {"applications": [{"name": project.PROJECT_NAME, "args": {"gateway": {"env": "prod"}}, "deployments": []}]}


def graph() -> PlanGraph:
    return PlanGraph("prod", [
        ray_service(project.platform_namespace("public"), SERVE),
        ray_service(project.platform_namespace("regulated"), SERVE),
        resource("kubernetes:core/v1:ConfigMap", "cm", {"metadata": {"name": "gateway", "namespace": project.platform_namespace("public")},
                                                        "data": {"gateway.yaml": "environment: prod\n"}}),
        resource("aws:s3/bucket:Bucket", "models", {}, {"bucket": f"{PROD}-models-bucket-0a1b2c3"}),
        resource("aws:s3/bucket:Bucket", "audit", {"objectLockEnabled": True}, {"bucket": f"{PROD}-audit-x"}),
        resource("aws:secretsmanager/secret:Secret", f"{PROD}-secrets-gateway-api-keys", {},
                 {"arn": f"arn:aws:secretsmanager:us-east-1:1:secret/{PROD}-secrets-gateway-api-keys"}),
        resource("kubernetes:core/v1:Secret", "tls", {"metadata": {"name": "backend-tls", "namespace": project.platform_namespace("public")},
                                                      "type": "kubernetes.io/tls", "stringData": "[secret]"}),
        resource("aws:kms/key:Key", "key", {}, {"arn": "arn:aws:kms:us-east-1:1:key/k"}),
        resource("kubernetes:core/v1:Service", "gw", {"metadata": {"name": "gateway", "namespace": project.platform_namespace("public")},
                                                      "spec": {"selector": {"ray.io/group": "gateway", "ray.io/serve": "true"}}}),
    ])


PLATFORMS = [("public", "eks", project.platform_namespace("public")), ("regulated", "onprem", project.platform_namespace("regulated"))]


def test_one_cluster_spec_per_ray_service_with_its_platform_and_cluster() -> None:
    specs = cluster_specs(graph(), PLATFORMS)
    assert [(s.key, s.cluster, s.namespace) for s in specs] == [
        ("prod-public", "eks", project.platform_namespace("public")), ("prod-regulated", "onprem", project.platform_namespace("regulated"))
    ]
    public = specs[0]
    assert public.serve_config == SERVE
    assert public.auth_mode == "token"
    assert public.config_maps == {"gateway": {"gateway.yaml": "environment: prod\n"}}
    # A TLS Secret the plan hides whole still has its type's keys, each hidden.
    assert public.secrets == {"backend-tls": {"tls.crt": "[secret]", "tls.key": "[secret]"}}
    assert specs[1].config_maps == {}


def test_pod_fields_are_read_as_planned() -> None:
    public = cluster_specs(graph(), PLATFORMS)[0]
    head = public.head
    assert head.image == IMAGE
    assert head.env == {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}
    assert head.env_from_refs == ("RAY_AUTH_TOKEN",)
    assert (head.run_as_user, head.fs_group, head.read_only_root) == (1000, 1000, True)
    assert head.dropped_capabilities == ("ALL",) and not head.allow_privilege_escalation
    assert head.ray_start_params == {"num-cpus": "0"}
    assert [(w.name, w.replicas, w.pod.cpu, w.pod.gpus) for w in public.workers] == [
        ("cpu", 3, "4", 0), ("gpu", 2, "8", 1), ("gateway", 2, "2", 0)
    ]
    assert public.workers[2].pod.ray_resources == {"CPU": "0", GATEWAY_RESOURCE: "2"}
    assert [(v.name, v.kind, v.source) for v in head.volumes] == [
        ("dshm", "memory", ""), ("state", "empty_dir", ""), ("gateway-config", "config_map", "gateway"),
        ("models", "persistent_claim", "models"),
    ]


def test_a_plan_without_ray_service_or_with_a_foreign_namespace_is_refused() -> None:
    with pytest.raises(PlanSpecError, match="no RayService"):
        cluster_specs(PlanGraph("dev", []), PLATFORMS)
    with pytest.raises(PlanSpecError, match=f"'{project.platform_namespace('public')}' belongs to no inference platform"):
        cluster_specs(graph(), [("regulated", "onprem", project.platform_namespace("regulated"))])


def test_cloud_names_are_the_plans_bucket_secret_and_key_names() -> None:
    names = cloud_names(graph(), "us-east-1")
    assert names.buckets == (f"{PROD}-audit-x", f"{PROD}-models-bucket-0a1b2c3")
    assert names.object_lock_buckets == (f"{PROD}-audit-x",)
    assert names.secrets == (f"{PROD}-secrets-gateway-api-keys",)
    assert names.kms_keys == ("arn:aws:kms:us-east-1:1:key/k",)
    assert names.secret_arns == (
        (f"{PROD}-secrets-gateway-api-keys",
         f"arn:aws:secretsmanager:us-east-1:1:secret/{PROD}-secrets-gateway-api-keys"),
    )


def test_container_options_keep_the_pods_security_context_and_volumes(tmp_path: Path) -> None:
    pod = cluster_specs(graph(), PLATFORMS)[0].workers[1].pod
    dirs = {name: tmp_path / name for name in ("state", "gateway-config", "models")}
    options = container_options(pod, dirs, {"AWS_ENDPOINT_URL": "http://10.89.0.1:5000"}, publish=(8080,))
    assert "--read-only" in options and "--image-volume=ignore" in options
    assert "--user=1000:1000" in options and "--cap-drop=ALL" in options
    assert "--security-opt=no-new-privileges" in options
    assert f"--volume={tmp_path / 'state'}:/var/lib/{project.PROJECT_NAME}:rw,U" in options
    assert f"--volume={tmp_path / 'gateway-config'}:/etc/{project.PROJECT_NAME}:ro" in options
    assert not any("/dev/shm" in option for option in options)  # podman's own, sized by --shm-size
    assert "--env=AWS_ENDPOINT_URL=http://10.89.0.1:5000" in options
    assert "--env=RAY_SERVE_THROUGHPUT_OPTIMIZED=1" in options
    assert "--publish=127.0.0.1::8080" in options


def test_ray_start_mirrors_kuberay_without_gpus() -> None:
    spec = cluster_specs(graph(), PLATFORMS)[0]
    head = ray_start_command(spec.head, head_address=None)[-1]
    assert head.startswith("ray start --head ") and "--num-cpus=0" in head and "--dashboard-host=0.0.0.0" in head
    worker = ray_start_command(spec.workers[1].pod, head_address="rh-prod-public-head:6379", pods=2)[-1]
    assert "--address=rh-prod-public-head:6379" in worker
    assert "--num-cpus=16" in worker and "--num-gpus=0" in worker and "--block" in worker
    assert """'--resources={"rehearsal_gpu": 2}'""" in worker  # one shell word
    # The group's `resources` (KubeRay passes them to `ray start`), times the pods one container stands for.
    gateway = ray_start_command(spec.workers[2].pod, head_address="rh-prod-public-head:6379", pods=3)[-1]
    assert "--num-cpus=0" in gateway and f"""'--resources={{"{GATEWAY_RESOURCE}": 6}}'""" in gateway


def waiting_to_be_scheduled(required: str, available: str) -> dict[str, Any]:
    """Serve's status of a deployment with a replica not placed for 30 s (Ray 2.x's wording)."""
    message = (
        f"Deployment 'Generator' in application '{project.PROJECT_NAME}' has 1 replicas that have taken more than 30s to be "
        "scheduled. This may be due to waiting for the cluster to auto-scale or for a runtime environment to be "
        f"installed. Resources required for each replica: {required}, total resources available: {available}. "
        "Use `ray status` for more details."
    )
    return {"deployments": {"Generator": {"status": "UPDATING", "message": message}}}


def test_a_replica_waiting_although_the_cluster_has_room_is_found_with_the_workers_that_could_host_it() -> None:
    spec = cluster_specs(graph(), PLATFORMS)[0]
    waiting = unplaced_with_room([waiting_to_be_scheduled('{"rehearsal_gpu": 1, "CPU": 4.0}',
                                                          '{"CPU": 273.0, "rehearsal_gpu": 14.0}')])
    assert waiting == {"Generator": {"rehearsal_gpu": 1, "CPU": 4.0}}
    assert workers_offering(spec, waiting["Generator"]) == [f"rh-{spec.key}-gpu-worker"]
    # A CPU-only replica fits every group with CPUs; the gateway group offers none.
    assert workers_offering(spec, {"CPU": 2.0}) == [f"rh-{spec.key}-cpu-worker", f"rh-{spec.key}-gpu-worker"]


@pytest.mark.parametrize(
    ("required", "available"),
    [
        ('{"rehearsal_gpu": 1, "CPU": 4.0}', '{"CPU": 273.0, "rehearsal_gpu": 0.0}'),  # the cluster is full
        ('[{"CPU": 1.0}, {"CPU": 1.0}]', '{"CPU": 273.0}'),  # placement-group bundles: fitting is per node
        ("UNKNOWN", "UNKNOWN"),
    ],
)
def test_a_replica_waiting_for_room_is_left_to_the_autoscaler(required: str, available: str) -> None:
    assert unplaced_with_room([waiting_to_be_scheduled(required, available)]) == {}


def test_clients_enter_where_the_gateway_service_sends_them() -> None:
    public, regulated = cluster_specs(graph(), PLATFORMS)
    assert public.entry_group == "gateway"
    assert regulated.entry_group is None  # no gateway Service in that namespace: the head stands in
    broken = graph()
    service = next(r for r in broken.resources if r.name == "gw")
    service.inputs["spec"]["selector"]["ray.io/group"] = "edge"
    with pytest.raises(PlanSpecError, match="selects worker group 'edge', which the RayService does not have"):
        cluster_specs(broken, PLATFORMS)


def test_the_self_signed_certificate_names_where_the_clients_call() -> None:
    from cryptography import x509

    from tools.rehearse.tls import self_signed_certificate

    generated = self_signed_certificate(["rh-prod-public-head"])
    certificate = x509.load_pem_x509_certificate(generated.certificate_pem.encode())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"localhost", "rh-prod-public-head"}
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert "PRIVATE KEY" in generated.key_pem


def test_a_model_path_resolves_to_the_shared_volume_behind_it(tmp_path: Path) -> None:
    from tools.rehearse.cluster import ClusterError, host_path_for

    spec = cluster_specs(graph(), PLATFORMS)[1]
    shared = {"models": tmp_path / "claims" / "models", "gateway-config": tmp_path / "configmaps" / "gateway"}
    assert host_path_for(spec, shared, "/models/llm/v1") == tmp_path / "claims" / "models" / "llm" / "v1"
    # The state volume is an emptyDir: each node has its own, so nothing can be put there for all of them.
    with pytest.raises(ClusterError, match=f"/var/lib/{project.PROJECT_NAME}/index is on empty_dir"):
        host_path_for(spec, shared, f"/var/lib/{project.PROJECT_NAME}/index")
