"""Data foundations: validated ingestion into a versioned LanceDB passage index, and lineage.

    sources.py      directories and s3:// prefixes, each document with its source version
    formats.py      markdown, plain text, HTML -> text
    metadata.py     the declared metadata schema (front matter, sidecar files)
    duplicates.py   exact and near-duplicate detection (MinHash + LSH)
    validation.py   one document -> clean or quarantined, with a reason
    chunking.py     text -> passages at headings and paragraphs
    pipeline.py     one run: validate, chunk, embed in batches, write a new version
    quality.py      the run's quality report and drift against the previous version
    index_store.py  LanceDB table versions, run log, serving pin, filtered search
    lineage.py      what an audit record keeps of a retrieval
    lineage_trace.py  audit record -> passages -> documents -> run -> source
    ray_job.py      the same pipeline as a Ray Data job
    __main__.py     `python -m services.data ingest|versions|rollback|lineage` (make ingest, make lineage)

Submodules are imported where used: the gateway imports `lineage` without LanceDB or Arrow.
"""

__all__: list[str] = []
