"""The Ray Data driver over a small corpus on a local Ray: the same outcomes and passages as the
single-machine pipeline."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from platform_facts import project
from services.data.index_store import IndexStore
from services.data.pipeline import Embed, ingest
from services.data.ray_job import ingest_on_ray
from services.data.settings import IngestSettings
from services.data.sources import open_source
from services.inference.settings import EmbedderSettings
from tests.data.conftest import BUNDLED, GOOD


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    if ray.is_initialized():  # the session's Serve cluster, when the suite runs together
        yield
        return
    # Short path: Ray's unix sockets live under it and socket paths are limited to 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix=f"{project.PROJECT_NAME}-ray-data-", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp_dir)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


# Ray Data 2.60 reads its own deprecated setting while building a plan; nothing here sets it.
@pytest.mark.filterwarnings("ignore:`use_push_based_shuffle` is deprecated:DeprecationWarning")
def test_the_ray_data_job_matches_the_single_machine_pipeline(
    local_ray: None, write_corpus: Callable[[dict[str, str | bytes]], Path], embed: Embed, tmp_path: Path
) -> None:
    root = write_corpus({**GOOD, "z-copy.md": GOOD["quotas.md"], "empty.md": "\n"})
    settings = IngestSettings()
    on_ray = ingest_on_ray(str(root), IndexStore(str(tmp_path / "ray")), settings,
                           EmbedderSettings(model_name="minilm", source=BUNDLED, trace=False))
    local_store = IndexStore(str(tmp_path / "local"))
    local = asyncio.run(ingest(open_source(str(root)), local_store, settings, embed, 384))

    assert on_ray.report.quarantined_by_reason == local.report.quarantined_by_reason == {"duplicate": 1, "empty": 1}
    assert on_ray.report.outcomes == local.report.outcomes
    ray_rows = IndexStore(str(tmp_path / "ray")).open()._table.to_arrow().to_pylist()
    local_rows = local_store.open()._table.to_arrow().to_pylist()
    assert sorted(r["chunk_id"] for r in ray_rows) == sorted(r["chunk_id"] for r in local_rows)
    by_id = {r["chunk_id"]: r for r in local_rows}
    for row in ray_rows:
        assert sum(a * b for a, b in zip(row["vector"], by_id[row["chunk_id"]]["vector"], strict=True)) > 0.999
