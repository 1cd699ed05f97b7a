"""A renamed fork still plans, passes its policies and serves: `make fork` on a copy of this tree, then the
copy's own `make plan`, `make policy` and `make up`, whose printed examples must work as printed (this is the
test of `make up` and `make down` as a user runs them: users run the template as their fork).

Nothing is mocked beyond what `make plan` and `make policy` always mock (the cloud: Pulumi's engine runs
offline under mocks, see stacks/plan.py); the app is the real local environment, Ray Serve on 127.0.0.1.
Runtime here (2 cores): fork ≈3 s, plan + policy ≈25 s per environment, the app and its examples ≈2 minutes
(marked `serve`).
The plans, policies and the fork's own tests are each one single-threaded process: they are started together
(`fork_checks`), so both cores work on them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from platform_facts import project
from services.inference.generator import NOTHING_RELEVANT
from tests.fixtures.ports import free_loopback_port
from tests.fork.workspace import copy_worktree, make, run_pytest, run_python

NAME = "acme"
DOMAIN = "acme.example"
ENVIRONMENTS = ("dev", "staging", "prod")
UPSTREAM = re.compile(re.escape(project.PROJECT_NAME), re.IGNORECASE)
# The fork's own copies of the tests that spell the platform's names most (config keys and their messages,
# resource names, labels, tags, type tokens): they compute them from platform_facts.project.
OWN_TESTS = (
    "tests/fork/test_stray_literals.py::test_pulumi_yaml_names_the_project_the_identity_names",
    "tests/stacks/test_config.py",
    "tests/policies/test_rules.py",
    "tests/components/test_cluster_config.py",
)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def fork_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    workspace = copy_worktree(tmp_path_factory.mktemp("fork") / "repo")
    _ok(make(workspace, ["fork", f"NAME={NAME}", f"DOMAIN={DOMAIN}"]))
    yield workspace


@pytest.fixture(scope="module")
def fork_checks(fork_dir: Path) -> Iterator[dict[str, Future[list[subprocess.CompletedProcess[str]]]]]:
    """The fork's own tests (key `own-tests`) and each environment's `make plan` then `make policy` (key: the
    environment), run side by side in the fork; each future holds the commands' results in order. Started by
    the first test that asks, after the tests that compare the tree before and after a second `make fork`."""

    def plan_then_policy(environment: str) -> list[subprocess.CompletedProcess[str]]:
        plan = make(fork_dir, ["plan", f"ENV={environment}"])
        if plan.returncode != 0:
            return [plan]
        graph_file = f".{NAME}/plan/{environment}.json"
        return [plan, make(fork_dir, ["policy", f"ENV={environment}", f"ARGS=--graph {graph_file}"])]

    with ThreadPoolExecutor(max_workers=len(ENVIRONMENTS) + 1) as pool:
        checks = {"own-tests": pool.submit(lambda: [run_pytest(fork_dir, ["-q", *OWN_TESTS])])}
        checks |= {environment: pool.submit(plan_then_policy, environment) for environment in ENVIRONMENTS}
        yield checks


def test_the_fork_holds_the_new_identity_and_a_second_run_changes_nothing(fork_dir: Path) -> None:
    module = (fork_dir / "policies/platform_facts/project.py").read_text()
    assert f'PROJECT_NAME: Final = "{NAME}"' in module
    assert f'LABEL_DOMAIN: Final = "{DOMAIN}"' in module
    assert yaml.safe_load((fork_dir / "Pulumi.yaml").read_text())["name"] == NAME
    before = {path: path.read_bytes() for path in fork_dir.rglob("*") if path.is_file() and ".venv" not in path.parts}
    output = _ok(make(fork_dir, ["fork", f"NAME={NAME}", f"DOMAIN={DOMAIN}"]))
    assert f"Nothing to change: this tree is already {NAME} ({DOMAIN})." in output
    after = {path: path.read_bytes() for path in fork_dir.rglob("*") if path.is_file() and ".venv" not in path.parts}
    assert after == before


def test_make_fork_refuses_a_name_s3_would_refuse_naming_the_rule(fork_dir: Path) -> None:
    result = make(fork_dir, ["fork", "NAME=Acme_Corp"])
    assert result.returncode != 0
    assert "NAME='Acme_Corp': may hold only lowercase letters, digits and '-'" in result.stderr
    assert "S3 bucket names" in result.stderr


def test_the_fork_spells_its_own_name_in_the_data_it_owns(fork_dir: Path) -> None:
    for stack_file in sorted((fork_dir / "stacks").glob("Pulumi.*.yaml")):
        keys = yaml.safe_load(stack_file.read_text())["config"]
        assert all(key.startswith((f"{NAME}:", "aws:")) for key in keys), f"{stack_file.name}: {sorted(keys)}"
    stray = [
        f"{path.relative_to(fork_dir)}:{number}"
        for pattern in ("stacks/Pulumi.*.yaml", "services/config/*.yaml", "Pulumi.yaml", ".gitignore")
        for path in fork_dir.glob(pattern)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if UPSTREAM.search(line)
    ]
    assert not stray


def test_the_fork_s_own_tests_expect_the_fork_s_names(
    fork_checks: dict[str, Future[list[subprocess.CompletedProcess[str]]]],
) -> None:
    """A fork's `make test` must pass: its tests read the names from its identity, not from the upstream's."""
    [own_tests] = fork_checks["own-tests"].result()
    output = _ok(own_tests)
    assert re.search(r"\b\d+ passed\b", output), output[-2000:]


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, text) for every key and string value of a plan resource's inputs."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key} (key)", str(key)
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, f"{path}[]")
    elif isinstance(value, str):
        yield path, value


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_fork_plans_and_passes_its_policies_with_no_upstream_name_left(
    fork_dir: Path, fork_checks: dict[str, Future[list[subprocess.CompletedProcess[str]]]], environment: str
) -> None:
    results = fork_checks[environment].result()
    _ok(results[0])  # make plan
    policy = _ok(results[1])  # make policy over the plan's graph
    assert "No policy violations." in policy or environment == "dev", policy[-2000:]
    # dev may carry advisories, only those the fork's own docs/policies.md lists under "Dev advisories",
    # as upstream (tests/policies/test_pack_grpc.py); staging and prod none at all.
    section = (fork_dir / "docs/policies.md").read_text().split("## Dev advisories", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z0-9-]+)`", section))
    reported = re.findall(r"^(advisory|mandatory)\s+(\S+)\s", policy, flags=re.MULTILINE)
    assert {(level, rule) for level, rule in reported if level == "mandatory" or rule not in documented} == set()
    graph_file = f".{NAME}/plan/{environment}.json"
    graph = json.loads((fork_dir / graph_file).read_text())
    assert graph["project"] == NAME
    # Names, labels, tags, config: every string of every resource (the rendered serve and gateway configs too).
    leftovers = [
        f"{resource['urn']} {where}: {text[:120]}"
        for resource in graph["resources"]
        for where, text in [("urn", resource["urn"]), *_strings(resource["inputs"])]
        if UPSTREAM.search(text)
    ]
    assert not leftovers, "\n".join(leftovers[:20])
    labels = {
        key
        for resource in graph["resources"]
        for key in ((resource["inputs"].get("metadata") or {}).get("labels") or {})
    }
    assert f"{DOMAIN}/environment" in labels
    provider_tags = next(r for r in graph["resources"] if r["type"] == "pulumi:providers:aws")["inputs"]["defaultTags"]
    tags = json.loads(provider_tags)["tags"] if isinstance(provider_tags, str) else provider_tags["tags"]
    assert set(tags) == {f"{NAME}:environment", f"{NAME}:owner", f"{NAME}:cost-center", f"{NAME}:data-class"}


def _python_snippet(output: str, heading: str) -> str:
    """The indented Python example `make up` prints under `heading`, dedented."""
    block = output.split(heading, 1)[1].split("\n\n", 1)[0]
    return "\n".join(line[2:] for line in block.splitlines()[1:])


def _run_printed_examples(output: str) -> None:
    """Every example `make up` printed, run as printed: curl commands, the openai and BentoML clients."""
    curl_commands = re.findall(r"^  (curl .*?)(?<!\\)$", output.replace("\\\n", " "), flags=re.MULTILINE)
    assert len(curl_commands) == 4, output
    for command in curl_commands:
        result = subprocess.run(["bash", "-c", command + " --fail-with-body"], capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert result.stdout.startswith("{")
        assert NOTHING_RELEVANT not in result.stdout, (command, result.stdout)  # the chat example is answered
    for heading in ("openai client (.venv/bin/python):", "BentoML client:"):
        snippet = _python_snippet(output, heading)
        result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120,
                                check=False)
        assert result.returncode == 0, (snippet, result.stderr[-2000:])
        assert result.stdout.strip() and NOTHING_RELEVANT not in result.stdout, result.stdout


@pytest.mark.serve
def test_the_forked_app_serves_the_examples_it_prints_and_make_down_stops_it(fork_dir: Path) -> None:
    """`make up` / `make down` as a user of the template runs them, in a fork: the printed examples work as printed,
    under the fork's names. (One start serves both claims: on 2 cores a start costs over a minute.)"""
    port = free_loopback_port()
    # The first start indexes the fork's docs/: on a busy 2-core machine that takes minutes.
    env = {f"{NAME.upper()}_PORT": str(port), f"{NAME.upper()}_READY_TIMEOUT_S": "480"}
    state_dir = fork_dir / f".{NAME}"
    try:
        output = _ok(make(fork_dir, ["up"], env=env, timeout=540))
        base_url = f"http://127.0.0.1:{port}"
        assert f"{NAME.capitalize()} is serving at {base_url}" in output
        assert "the safety gateway checks it" in output  # serve-local.yaml puts the gateway in front
        assert re.search(r"deploying the Serve application", output)  # progress was shown
        assert re.search(r"retriever: embedded \d+ passages", output), output  # and the index build's, from its replica
        # The time to the first answer is reported (how long is bench territory, not a test's: a loaded CI box
        # takes several times longer than an idle laptop).
        assert re.search(r"first successful response after [\d.]+s", output), output
        assert "already running" in _ok(make(fork_dir, ["up"], env=env, timeout=120))

        config = yaml.safe_load((fork_dir / "services/config/gateway-local.yaml").read_text())
        chat_model = config["routes"]["chat"]["public_model"]
        assert chat_model == f"{NAME}-extractive"
        assert f'"model": "{chat_model}"' in output  # the printed chat example names the fork's model
        _run_printed_examples(output)
        key = re.search(r"API key:\s+(\S+)", output)
        assert key is not None, output
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
            embedding = client.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": ["a fork of ours"]})
            assert embedding.status_code == 200, embedding.text
            assert len(embedding.json()["data"][0]["embedding"]) == 384
            question = {"role": "user", "content": "How do I start the local environment?"}
            chat = client.post("/v1/chat/completions", json={"model": chat_model, "messages": [question]})
            assert chat.status_code == 200, chat.text
            answer = chat.json()
            assert answer["model"] == chat_model
            assert answer["choices"][0]["message"]["content"]
    finally:
        down = make(fork_dir, ["down"], env=env, timeout=120)
    assert "stopped" in _ok(down)
    # Every request the examples made went through the gateway and left an audit record, in the fork's state dir.
    assert any((state_dir / "local" / "audit").rglob("*")), f"the gateway wrote no audit log under {state_dir}"
    assert not (state_dir / "serve.json").exists()
    # Stopped cleanly, not killed: the server removes Ray's session directory, which `make up` printed.
    ray_dir = re.search(r"temp dir (/\S+)\)", output)
    assert ray_dir is not None and not Path(ray_dir.group(1)).exists(), f"make down left {ray_dir}"
    time.sleep(1)
    status = run_python(fork_dir, ["-m", "services.local", "status", "--port", str(port)], env=env, timeout=60)
    assert _ok(status).strip() == "not running"
