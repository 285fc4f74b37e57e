"""The ingest stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

import json
from pathlib import Path

# ---- from quality --------------------------------------------------------------------------------
from prefect import task
from prefect.cache_policies import NONE

from tasks.config import QualityConfig
from tasks.errors import QualityGateFailed
from tasks.ingest.quality import QualityReport, validate_parquet
from tasks.ingest.read import load_documents
from tasks.refs import DatasetRef, atomic_dir, atomic_file


def _in_prefect_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


@task(name="quality_gate", cache_policy=NONE)
def quality_gate(dataset: DatasetRef, quality: QualityConfig, run_dir: Path) -> QualityReport:
    """Validate the canonical dataset; Data Docs and quality.json into the run folder; raise if it fails."""
    run_dir = Path(run_dir)
    with atomic_dir(run_dir / "data_docs") as docs:
        report = validate_parquet(dataset.uri, docs_dir=docs, **quality.model_dump())
    report = report.model_copy(update={"data_docs": str(run_dir / "data_docs" / "index.html")})
    with atomic_file(run_dir / "quality.json") as tmp:
        tmp.write_text(json.dumps(report.model_dump(mode="json"), indent=2))
    if _in_prefect_run():
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(markdown=report.summary(), key="quality-gate",
                                 description="Great Expectations gate over the canonical dataset (counts only)")
    if not report.passed:
        Path(dataset.uri).unlink(missing_ok=True)  # a rejected dataset is not left for a later stage to pick up
        raise QualityGateFailed(f"{dataset.uri}: {report.failure_message()} Data Docs: {report.data_docs}")
    return report


# ---- from read --------------------------------------------------------------------------------
from prefect import task
from prefect.cache_policies import NONE

from tasks.config import DataConfig


@task(name="ingest_documents", cache_policy=NONE)
def ingest_documents(data: DataConfig, run_dir: Path) -> DatasetRef:
    """Read ``data.source`` into ``run_dir/dataset.parquet`` and return its reference."""
    c = data.columns
    return load_documents(data.source, Path(run_dir) / "dataset.parquet", fmt=data.format, id_col=c.id,
                          text_col=c.text, label_col=c.label, timestamp_col=c.timestamp,
                          keep_columns=data.keep_columns, chunk_rows=data.chunk_rows)


@task(name="ensure_sample_data", cache_policy=NONE)
def ensure_sample_data(data: DataConfig) -> bool:
    """Write the synthetic corpus at ``data.source`` when it is missing and ``data.sample`` is set (fresh machine)."""
    src = Path(data.source)
    if src.exists() or data.sample is None:
        return False
    from tasks.ingest.sample_data import write_sample

    write_sample(src, rows=data.sample.rows, seed=data.sample.seed)
    return True
