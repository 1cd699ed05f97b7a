"""The served index: two ingestions are two versions and rollback serves the first again; a
regulated tenant never retrieves a passage not cleared for its class; the s3:// path (moto)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import boto3
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest

from platform_facts import project
from services.data import index_store
from services.data.index_store import IndexStore, PassageFilter
from services.data.pipeline import Embed, ingest
from services.data.settings import IngestSettings
from services.data.sources import open_source
from services.inference.retriever import DocumentIndex
from services.inference.settings import RetrieverSettings
from tests.data.conftest import GOOD

QUESTION = "How does a canary release shift traffic to a new model version?"


def test_two_ingestions_are_two_versions_and_rollback_serves_the_first(
    write_corpus: Callable[[dict[str, str | bytes]], Path], embed: Embed, tmp_path: Path
) -> None:
    root = write_corpus({"quotas.md": GOOD["quotas.md"]})
    settings = RetrieverSettings.model_validate(
        {"corpus": [str(root)], "index": {"uri": str(tmp_path / "index")}, "bootstrap": True}
    )

    async def scenario() -> None:
        index, first = await DocumentIndex.open(settings, embed)
        vector = (await embed([QUESTION]))[0]
        assert {p.source for p in await index.search(vector, 3)} == {"quotas.md#Quotas"}
        (root / "canary.md").write_text(GOOD["canary.md"])
        second = await index.reindex()
        assert (first.version, second.version) == (1, 2) and second.documents == 2
        best = (await index.search(vector, 1))[0]
        assert best.source == "canary.md#Canary releases" and best.index_version == 2

        # Another replica following the serving pin, opened after the second run.
        follower, _ = await DocumentIndex.open(settings.model_copy(update={"index": settings.index.model_copy(
            update={"refresh_s": 0.01})}), embed)
        assert follower.version == 2
        await index.rollback(1)
        assert {p.source for p in await index.search(vector, 3)} == {"quotas.md#Quotas"}
        await asyncio.sleep(0.05)
        await follower.search(vector, 1)  # starts the pin check
        for _ in range(100):
            if follower.version == 1:
                break
            await asyncio.sleep(0.05)
        assert follower.version == 1
        assert {p.index_version for p in await follower.search(vector, 3)} == {1}

    asyncio.run(scenario())


def test_a_regulated_tenant_only_retrieves_passages_cleared_for_it(
    write_corpus: Callable[[dict[str, str | bytes]], Path], embed: Embed, tmp_path: Path
) -> None:
    root = write_corpus({
        **GOOD,
        "cleared.md": "---\ndata_classes: [standard, regulated]\n---\n# Quotas for regulated tenants\n\n"
                      "Regulated tenants get the same per-minute request and token limits, served on premises.\n",
        "northwind-only.md": "---\ntenant: northwind\ndata_classes: [regulated]\n---\n# Northwind's quota exception\n\n"
                        "Northwind may burst to twice its tokens-per-minute limit during the quarter close.\n",
    })
    store = IndexStore(str(tmp_path / "index"))
    result = asyncio.run(ingest(open_source(str(root)), store, IngestSettings(), embed, 384))
    snapshot = store.open(result.version)
    rows = snapshot._table.to_arrow().select(["chunk_id", "tenant", "data_classes"]).to_pylist()
    cleared = {r["chunk_id"] for r in rows if "regulated" in r["data_classes"] and r["tenant"] in ("", "bank")}
    questions = ["What are the quota limits?", "canary release traffic", "GPU node pools", "tokens per minute burst"]
    for question in questions:
        vector: npt.NDArray[np.float32] = asyncio.run(embed([question]))[0]
        hits = snapshot.search(vector, 10, PassageFilter(tenant="bank", data_class="regulated"))
        assert hits and {hit.chunk_id for hit in hits} <= cleared
        unfiltered = snapshot.search(vector, 10)
        assert len(unfiltered) == len(rows)  # without a filter every passage is a candidate
    northwind = snapshot.search(asyncio.run(embed(["quota exception"]))[0], 10, PassageFilter("northwind", "regulated"))
    assert {hit.document_id for hit in northwind} == {"cleared.md", "northwind-only.md"}


def test_a_filter_value_that_is_not_a_name_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="tenant: "):
        PassageFilter(tenant="x' OR '1'='1").where()


def test_s3_source_into_an_s3_index(aws_endpoint: str, embed: Embed, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto stands in for S3 (the real one cannot be reached here); LanceDB writes through its S3 API."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="corpus")
    s3.put_bucket_versioning(Bucket="corpus", VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket="indexes")
    for name, text in GOOD.items():
        s3.put_object(Bucket="corpus", Key=f"team/{name}", Body=text.encode())
    s3.put_object(Bucket="corpus", Key="team/empty.md", Body=b"")
    store = IndexStore(f"s3://indexes/{project.PROJECT_NAME}")
    result = asyncio.run(ingest(open_source("s3://corpus/team", s3_client=s3), store, IngestSettings(), embed, 384))
    assert result.report.quarantined_by_reason == {"empty": 1}
    run = store.run_for_version(result.version)
    locations = {d["document_id"]: (d["location"], d["source_version"]) for d in run.documents}
    assert locations["canary.md"][0] == "s3://corpus/team/canary.md"
    assert locations["canary.md"][1].startswith("version_id=")
    hits = store.open().search(asyncio.run(embed([QUESTION]))[0], 1)
    assert hits[0].document_id == "canary.md"


def test_a_table_of_ann_min_rows_passages_gets_its_ann_index_and_still_finds_the_nearest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ANN index (IVF-HNSW-SQ) is built from ANN_MIN_ROWS passages (lowered here: 20,000 would take minutes)."""
    monkeypatch.setattr(index_store, "ANN_MIN_ROWS", 512)
    vectors = np.random.default_rng(0).normal(size=(600, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    schema = index_store.passages_schema(16)
    columns = {"chunk_id": [f"chunk-{i}" for i in range(600)], "ordinal": list(range(600)), "vector": list(vectors),
               "data_classes": [["standard"]] * 600, "tags": [[]] * 600}
    defaults = {"document_id": "doc.md", "source": "doc.md", "text": "text", "content_sha256": "0" * 64, "tenant": "*",
                "run_id": "run"}
    passages = pa.table({field.name: columns.get(field.name) or [defaults[field.name]] * 600 for field in schema},
                        schema=schema)
    small, large = IndexStore(str(tmp_path / "small")), IndexStore(str(tmp_path / "large"))
    small.write_passages(passages.slice(0, 511))
    version = large.write_passages(passages)
    assert small.db.open_table("docs").list_indices() == []
    table = large.db.open_table("docs")
    [ann] = table.list_indices()
    assert ann.index_type == "IvfHnswSq" and ann.columns == ["vector"]
    table.checkout(version)
    hits = index_store.IndexSnapshot(table, version).search(vectors[42], 1)
    assert [hit.chunk_id for hit in hits] == ["chunk-42"]
