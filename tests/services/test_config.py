"""The per-environment Serve config files: valid for Ray Serve, valid app args, sane resources."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from ray.serve.schema import ServeDeploySchema

from services.config import ENVIRONMENTS, ServeConfigError, serve_config
from services.inference.settings import AppArgs


def _deployments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in config["applications"][0]["deployments"]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_is_a_valid_serve_config_with_valid_args(env: str) -> None:
    config = serve_config(env)
    ServeDeploySchema.model_validate(config)
    (application,) = config["applications"]
    assert application["import_path"] == "services.app:build_app"
    AppArgs.model_validate(application["args"])
    assert set(_deployments(config)) == {"Ingress", "Embedder", "Retriever", "Generator"}


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


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_generation_runs_on_gpus_and_everything_autoscales_in_staging_and_prod(env: str) -> None:
    config = serve_config(env)
    deployments = _deployments(config)
    assert deployments["Generator"]["ray_actor_options"]["num_gpus"] >= 1
    assert config["applications"][0]["args"]["generator"]["device"] == "cuda"
    for name, deployment in deployments.items():
        scaling = deployment["autoscaling_config"]
        assert 1 <= scaling["min_replicas"] <= scaling["max_replicas"], name
    assert deployments["Ingress"]["autoscaling_config"]["min_replicas"] >= 2


def test_cluster_models_come_from_s3_with_pinned_checksums() -> None:
    for env in ("dev", "staging", "prod"):
        args = AppArgs.model_validate(serve_config(env)["applications"][0]["args"])
        assert args.embedder.source.uri.startswith(f"s3://rampart-models-{env}/")
        assert args.embedder.source.sha256 == AppArgs.model_validate(serve_config("local")["applications"][0]["args"]).embedder.source.sha256


def test_unknown_environment_is_named_in_the_error() -> None:
    with pytest.raises(ServeConfigError, match="env: unknown environment 'qa'"):
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
