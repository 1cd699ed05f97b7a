"""The per-environment Serve config files: valid for Ray Serve, valid app args, sane resources."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from ray.serve.schema import ServeDeploySchema

from platform_facts import project
from services.app import generator_deployments
from services.config import ServeConfigError, config_document, config_names, serve_config
from services.config.render import placeholders
from services.inference.settings import AppArgs
from tests.fixtures.configs import STACK_VALUES, rendered_config


def _deployments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in config["applications"][0]["deployments"]}


@pytest.mark.parametrize("env", config_names("serve"))
def test_every_environment_is_a_valid_serve_config_with_valid_args(env: str) -> None:
    config = serve_config(env)
    ServeDeploySchema.model_validate(config)
    (application,) = config["applications"]
    assert application["import_path"] == "services.app:build_app"
    args = AppArgs.model_validate(application["args"])
    assert set(_deployments(config)) == {"Ingress", "Embedder", "Retriever", *generator_deployments(args)}


def test_import_path_is_an_application_builder_taking_args() -> None:
    from ray.serve import Application

    from services.app import build_app

    assert isinstance(build_app(serve_config("local")["applications"][0]["args"]), Application)


def test_local_fits_two_cores_and_listens_on_loopback_only() -> None:
    config = serve_config("local")
    assert config["http_options"]["host"] == "127.0.0.1"
    for deployment in _deployments(config).values():
        assert deployment["ray_actor_options"]["num_cpus"] == 0
        assert deployment["ray_actor_options"]["num_gpus"] == 0


@pytest.mark.parametrize("env", ["staging", "prod", "staging-onprem", "prod-onprem"])
def test_generation_runs_on_gpus_and_everything_autoscales_in_staging_and_prod(env: str) -> None:
    config = serve_config(env)
    deployments = _deployments(config)
    assert deployments["Generator"]["ray_actor_options"]["num_gpus"] >= 1
    assert config["applications"][0]["args"]["generator"]["device"] == "cuda"
    for name, deployment in deployments.items():
        scaling = deployment["autoscaling_config"]
        assert 1 <= scaling["min_replicas"] <= scaling["max_replicas"], name
    # Routes without a fallback (embeddings, RAG) and the gateway itself must survive losing one node.
    for name in ("Ingress", "Embedder", "Retriever"):
        assert deployments[name]["autoscaling_config"]["min_replicas"] >= 2, name


def test_cloud_models_come_from_the_stacks_model_bucket_with_pinned_checksums() -> None:
    local = AppArgs.model_validate(serve_config("local")["applications"][0]["args"])
    for env in ("dev", "staging", "prod"):
        args = AppArgs.model_validate(rendered_config("serve", env)["applications"][0]["args"])
        assert args.embedder.source.uri.startswith(f"s3://{STACK_VALUES['model_bucket']}/"), env
        assert args.embedder.source.sha256 == local.embedder.source.sha256
        for chat in args.generators:
            assert chat.source is None or chat.source.uri.startswith(f"s3://{STACK_VALUES['model_bucket']}/llm/"), env


def test_on_prem_models_come_from_the_mounted_model_volume_never_from_aws() -> None:
    for name in ("staging-onprem", "prod-onprem"):
        assert placeholders(config_document("serve", name)) == set(), name
        args = AppArgs.model_validate(serve_config(name)["applications"][0]["args"])
        sources = [args.embedder.source, *(chat.source for chat in args.generators if chat.source is not None)]
        assert sources and all(source.uri.startswith(f"/var/lib/{project.PROJECT_NAME}-models/") for source in sources), name


def test_a_model_served_twice_is_refused_by_name() -> None:
    args = serve_config("local")["applications"][0]["args"]
    twice = {**args, "additional_generators": [args["generator"]]}
    with pytest.raises(ValueError, match=f"model_name: {args['generator']['model_name']} is served twice"):
        AppArgs.model_validate(twice)


def test_unknown_config_is_named_in_the_error() -> None:
    with pytest.raises(ServeConfigError, match="serve_config: unknown config 'qa'; expected one of dev, local, prod"):
        serve_config("qa")


def test_config_module_needs_neither_ray_nor_torch() -> None:
    """The infra-only install reads these files; block the heavy packages and import it."""
    code = (
        "import sys\n"
        "for name in ('ray', 'torch', 'bentoml', 'transformers'): sys.modules[name] = None\n"
        "from services.config import serve_config, ENVIRONMENTS\n"
        "from services.inference.settings import AppArgs\n"
        "import services.metrics_catalog\n"
        "for env in ENVIRONMENTS: AppArgs.model_validate(serve_config(env)['applications'][0]['args'])\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))


def test_app_args_errors_name_the_field() -> None:
    args = serve_config("local")["applications"][0]["args"]
    args["generator"] = {"engine": "transformers", "model_name": "x"}
    with pytest.raises(ValueError, match="source: required when engine is 'transformers'"):
        AppArgs.model_validate(args)
    args["generator"] = {"engine": "extractive", "model_name": "x"}
    args["embedder"]["source"] = {"uri": "s3://bucket/model"}
    with pytest.raises(ValueError, match="sha256: required for s3:// model sources"):
        AppArgs.model_validate(args)
