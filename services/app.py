"""The Ray Serve application: the one place where deployments are bound together.

    Ingress (BentoML service as ASGI app, safety gateway in front when configured)
      ├── Embedder   (@serve.batch)
      ├── Retriever  ──> Embedder
      └── Generator  ──> Retriever   (one per served chat model: `Generator`, `Generator-<model>`)

`build_app` is the application builder the Serve config's `import_path` names
(`services.app:build_app`); Serve passes it the config's `args`. Deployment options in the
config file override the defaults in code: on a cluster Serve applies them, locally
`bind_from_config` does the same through `Deployment.options`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from services.data.index_store import PassageFilter
from services.inference.deployments import BatchedEmbedder, Embedder, Generator, Retriever
from services.inference.metrics import RequestMetricsMiddleware
from services.inference.models import model_cards
from services.inference.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ModelCard,
    Passage,
    ReindexResult,
)
from services.inference.service import build_inference_service
from services.inference.settings import AppArgs, BatchingSettings, GeneratorSettings
from services.telemetry import TracingConfig, trace_carrier

__all__ = ["Ingress", "ServeModels", "bind_from_config", "build_app", "generator_deployments"]


class ServeModels:
    """`services.inference.models.Models` over DeploymentHandles to the model deployments."""

    def __init__(
        self,
        args: AppArgs,
        embedder: DeploymentHandle[Any] | BatchedEmbedder,
        retriever: DeploymentHandle[Any],
        generators: dict[str, DeploymentHandle[Any]],
    ) -> None:
        self._cards = model_cards(args)
        # The Embedder deployment's handle, or the Ingress replica's own batched model.
        self._embed = embedder.embed if isinstance(embedder, BatchedEmbedder) else embedder.embed.remote
        self.retriever = retriever
        self.generators = generators
        """One Generator deployment per served chat model, by model name."""

    def cards(self) -> list[ModelCard]:
        return list(self._cards)

    async def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        vectors: npt.NDArray[np.float32] = await self._embed(texts)
        return vectors

    async def retrieve(self, query: str, k: int, passage_filter: PassageFilter | None = None) -> list[Passage]:
        passages: list[Passage] = await self.retriever.retrieve.remote(query, k, passage_filter)
        return passages

    async def reindex(self) -> ReindexResult:
        # Every Retriever replica holds its own index: rebuild them all.
        results: list[ReindexResult] = await self.retriever.broadcast("reindex").results_async()
        return results[0]

    async def generate(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None
    ) -> ChatCompletion:
        generator = self.generators[request.model]
        completion: ChatCompletion = await generator.complete.remote(request, trace_carrier(), passage_filter)
        return completion

    async def generate_stream(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None
    ) -> AsyncIterator[ChatCompletionChunk]:
        # A handle with `stream=True` answers with a generator; the handle's type cannot say which.
        stream = cast(
            DeploymentResponseGenerator[ChatCompletionChunk],
            self.generators[request.model].options(stream=True).stream.remote(request, trace_carrier(), passage_filter),
        )
        async for chunk in stream:
            yield chunk


@serve.deployment(name="Ingress", max_ongoing_requests=512, ray_actor_options={"num_cpus": 0})
@serve.ingress()
class Ingress:
    """Hosts the BentoML service on Ray Serve through Serve's public ASGI ingress."""

    def __init__(
        self,
        args: AppArgs,
        embedder: DeploymentHandle[Any],
        retriever: DeploymentHandle[Any],
        generators: dict[str, DeploymentHandle[Any]],
    ) -> None:
        self.args = args
        self.local_embedder = BatchedEmbedder(args.embedder) if args.embedder.in_ingress else None
        self.models = ServeModels(args, self.local_embedder or embedder, retriever, generators)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Batching tunables of the in-ingress embedder (the Embedder's `BatchingSettings`)."""
        if self.local_embedder is not None:
            self.local_embedder.configure(BatchingSettings.model_validate(user_config))

    def __serve_build_asgi_app__(self) -> Any:
        app: Any = build_inference_service(lambda: self.models).to_asgi()
        if self.args.gateway is not None:
            # Imported here: an application without the gateway never loads its scanners.
            from services.gateway import GatewayMiddleware

            app = GatewayMiddleware(app, self.args.gateway)
        return RequestMetricsMiddleware(app)


def _bind(args: AppArgs, options: dict[str, dict[str, Any]]) -> Application:
    def configured(deployment: Any) -> Any:
        return deployment.options(**options[deployment.name]) if deployment.name in options else deployment

    embedder = configured(Embedder).bind(args.embedder)
    retriever = configured(Retriever).bind(args.retriever, embedder)
    tracing = _deployment_tracing(args)
    generators = {
        settings.model_name: configured(cast(Any, Generator).options(name=name)).bind(settings, retriever, tracing)
        for name, settings in generator_deployments(args).items()
    }
    application: Application = configured(Ingress).bind(args, embedder, retriever, generators)
    return application


def generator_deployments(args: AppArgs) -> dict[str, GeneratorSettings]:
    """The Generator deployments by name: `Generator` for `generator`, `Generator-<model_name>` for
    each of `additional_generators`."""
    return {
        "Generator": args.generator,
        **{f"Generator-{settings.model_name}": settings for settings in args.additional_generators},
    }


def _deployment_tracing(args: AppArgs) -> TracingConfig:
    """The Generator traces as the gateway config's `tracing:` block says; without a gateway, not at all."""
    if args.gateway is None:
        return TracingConfig()
    from services.gateway.tracing import deployment_tracing  # the gateway loads only where it is configured

    return deployment_tracing(args.gateway)


def build_app(args: dict[str, Any]) -> Application:
    """Application builder for the Serve config's `import_path`; `args` is validated as `AppArgs`."""
    return _bind(AppArgs.model_validate(args), {})


_DEPLOYMENT_OPTIONS = (
    "num_replicas",
    "autoscaling_config",
    "max_ongoing_requests",
    "max_queued_requests",
    "ray_actor_options",
    "user_config",
    "health_check_period_s",
    "health_check_timeout_s",
    "graceful_shutdown_timeout_s",
)


def bind_from_config(application: dict[str, Any]) -> Application:
    """The application described by one `applications[]` entry of a Serve config, with its
    deployment overrides applied the way Serve applies them on a cluster."""
    options: dict[str, dict[str, Any]] = {}
    for index, deployment in enumerate(application.get("deployments", [])):
        unknown = set(deployment) - {"name", *_DEPLOYMENT_OPTIONS}
        if unknown:
            raise ValueError(f"applications.deployments[{index}]: unsupported option(s) {', '.join(sorted(unknown))}")
        options[deployment["name"]] = {k: v for k, v in deployment.items() if k != "name"}
    args = AppArgs.model_validate(application["args"])
    known = {"Ingress", "Embedder", "Retriever", *generator_deployments(args)}
    if unknown_names := set(options) - known:
        raise ValueError(f"applications.deployments: unknown deployment(s) {', '.join(sorted(unknown_names))}")
    return _bind(args, options)
