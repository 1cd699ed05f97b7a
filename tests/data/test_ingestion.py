"""Ingestion of a broken corpus: every bad document is quarantined for its own reason, the run
finishes, and only the good documents reach the index."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from services.data.index_store import IndexStore
from services.data.pipeline import Embed, ingest
from services.data.quality import render_report
from services.data.settings import IngestSettings
from services.data.sources import open_source
from tests.data.conftest import GOOD

# A credential the gateway's secrets scanner recognises (AWS's documented example key id, altered).
SECRET = "deploy with AKIAIOSFODNN7EXAMPLQ and keep the rest of the text long enough to be a document."


def test_each_broken_document_is_quarantined_for_its_reason(
    write_corpus: Callable[[dict[str, str | bytes]], Path], embed: Embed, tmp_path: Path
) -> None:
    # Later in listing order than the original (the first copy seen is the one kept); one word added.
    near = GOOD["quotas.md"].rstrip() + " Always.\n"
    root = write_corpus({
        **GOOD,
        "latin1.md": "# Caf\xe9\n\nA document saved as Latin-1, not UTF-8, by an old editor.".encode("latin-1"),
        "empty.md": "---\ntitle: nothing here\n---\n\n   \n",
        "huge.txt": "x" * 5_000,
        "z-copy-of-quotas.md": GOOD["quotas.md"],
        "z-quotas-again.md": near,
        "credentials.md": f"# Deploying\n\n{SECRET}\n",
        "typo.md": "---\ndata_clases: [regulated]\n---\n# Typo\n\nThe metadata key is misspelt, so it is rejected.\n",
        "scan.pdf": b"%PDF-1.7 binary",
    })
    store = IndexStore(str(tmp_path / "index"))
    settings = IngestSettings(max_bytes=4_000)
    lines: list[str] = []

    result = asyncio.run(ingest(open_source(str(root)), store, settings, embed, 384, progress=lines.append))

    reasons = {q["document_id"]: q["reason"] for q in result.report.quarantine}
    assert reasons == {
        "latin1.md": "encoding",
        "empty.md": "empty",
        "huge.txt": "oversized",
        "z-copy-of-quotas.md": "duplicate",
        "z-quotas-again.md": "near_duplicate",
        "credentials.md": "secret",
        "typo.md": "metadata_schema",
        "scan.pdf": "unsupported_type",
    }
    assert result.report.outcomes == {"indexed": 3, "indexed_redacted": 0, "quarantined": 8}
    snapshot = store.open(result.version)
    indexed = {row["document_id"] for row in snapshot._table.to_arrow().select(["document_id"]).to_pylist()}
    assert indexed == set(GOOD)
    assert any("quarantined credentials.md: secret" in line for line in lines)
    assert "embedded" in "\n".join(lines)
    rendered = render_report(result.report)
    assert "secret           credentials.md" in rendered and "first version" in rendered


def test_redact_policy_indexes_the_document_without_the_secret(
    write_corpus: Callable[[dict[str, str | bytes]], Path], embed: Embed, tmp_path: Path
) -> None:
    root = write_corpus({"credentials.md": f"# Deploying\n\n{SECRET}\n"})
    store = IndexStore(str(tmp_path / "index"))
    result = asyncio.run(ingest(open_source(str(root)), store, IngestSettings(secrets="redact"), embed, 384))
    assert result.report.outcomes["indexed_redacted"] == 1
    assert result.report.redactions == {"aws_access_key": 1}
    texts = store.open(result.version)._table.to_arrow().column("text").to_pylist()
    assert texts and all("AKIA" not in text for text in texts)


def test_second_run_reports_changes_and_schema_drift_against_the_first(
    write_corpus: Callable[[dict[str, str | bytes]], Path], embed: Embed, tmp_path: Path
) -> None:
    store = IndexStore(str(tmp_path / "index"))
    root = write_corpus(dict(GOOD))
    first = asyncio.run(ingest(open_source(str(root)), store, IngestSettings(), embed, 384))
    (root / "canary.md").write_text("---\ndata_classes: [standard, regulated]\nowner: platform\n---\n"
                                    + GOOD["canary.md"] + "\nRollbacks are one config change.\n")
    (root / "page.html").unlink()
    (root / "new.md").write_text("# New\n\nA document added between the two runs, about autoscaling.\n")
    second = asyncio.run(ingest(open_source(str(root)), store, IngestSettings(), embed, 384))

    assert (first.version, second.version) != (second.version, second.version)
    assert store.versions() == [first.version, second.version]
    assert second.report.previous_version == first.version
    assert second.report.changes == {"added": ["new.md"], "removed": ["page.html"], "changed": ["canary.md"]}
    assert second.report.unchanged == 1
    flags = "\n".join(second.report.drift["flags"])
    assert "metadata_keys.data_classes: 0% -> 33%" in flags and "formats.html" in flags
