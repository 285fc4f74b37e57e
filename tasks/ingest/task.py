"""The ingest stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

import json
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.config import ColumnMap, DataConfig, PipelineConfig, QualityConfig, RetentionConfig
from tasks.datasets import ROW_GROUP_ROWS, parquet_sha256
from tasks.errors import InputError, QualityGateFailed
from tasks.ingest.quality import QualityReport, validate_parquet
from tasks.ingest.read import load_documents
from tasks.refs import DatasetRef, atomic_dir, atomic_file
from tasks.retention import discard_raw, hold_raw, release_raw, run_dirs
from tasks.runtime import in_prefect_run, run_logger


@task(name="quality_gate", cache_policy=NONE)
def quality_gate(dataset: DatasetRef, quality: QualityConfig, run_dir: Path) -> QualityReport:
    """Validate the canonical dataset; Data Docs and quality.json into the run folder; raise if it fails."""
    run_dir = Path(run_dir)
    with atomic_dir(run_dir / "data_docs") as docs:
        report = validate_parquet(dataset.uri, docs_dir=docs, **quality.model_dump())
    report = report.model_copy(update={"data_docs": str(run_dir / "data_docs" / "index.html")})
    with atomic_file(run_dir / "quality.json") as tmp:
        tmp.write_text(json.dumps(report.model_dump(mode="json"), indent=2))
    if in_prefect_run():
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(markdown=report.summary(), key="quality-gate",
                                 description="Great Expectations gate over the canonical dataset (counts only)")
    if not report.passed:
        Path(dataset.uri).unlink(missing_ok=True)  # a rejected dataset is not left for a later stage to pick up
        raise QualityGateFailed(f"{dataset.uri}: {report.failure_message()} Data Docs: {report.data_docs}")
    return report


@task(name="ingest_documents", cache_policy=NONE)
def ingest_documents(data: DataConfig, run_dir: Path, label_is_text: bool = False) -> DatasetRef:
    """Read ``data.source`` into ``run_dir/dataset.parquet`` and return its reference; the unscrubbed copy is
    held as in use (``tunegate purge`` leaves it) until the run discards it or ends. ``label_is_text``: the
    label is a causal LM's free-text target (scrubbed later, never counted)."""
    c = data.columns
    hold_raw(Path(run_dir))
    return load_documents(data.source, Path(run_dir) / "dataset.parquet", fmt=data.format, id_col=c.id,
                          text_col=c.text, label_col=c.label, timestamp_col=c.timestamp,
                          keep_columns=data.keep_columns, chunk_rows=data.chunk_rows,
                          csv_delimiter=data.csv_delimiter, label_is_text=label_is_text)


@task(name="ensure_sample_data", cache_policy=NONE)
def ensure_sample_data(data: DataConfig) -> bool:
    """Write the synthetic corpus at ``data.source`` when it is missing and ``data.sample`` is set (fresh machine)."""
    src = Path(data.source)
    if src.exists() or data.sample is None:
        return False
    from tasks.ingest.sample_data import write_sample

    write_sample(src, rows=data.sample.rows, seed=data.sample.seed)
    run_logger("tunegate.ingest").info("generated %d sample documents at %s", data.sample.rows, src)
    return True


def prediction_source(data: DataConfig, path: str) -> DataConfig:
    """A file of documents to score: the config's id and text columns, no label or timestamp needed."""
    cols = ColumnMap(id=data.columns.id, text=data.columns.text, label=None, timestamp=None)
    return data.model_copy(update={"source": str(Path(path).resolve()), "format": "auto", "sample": None,
                                   "columns": cols, "keep_columns": []})


def batch_source(data: DataConfig, batch: str, with_label: bool, with_timestamp: bool) -> DataConfig:
    c = data.columns
    cols = ColumnMap(id=c.id, text=c.text, label=c.label if with_label else None,
                     timestamp=c.timestamp if with_timestamp else None)
    return data.model_copy(update={"source": str(Path(batch).resolve()), "columns": cols, "sample": None})


@task(name="ingest_batch", cache_policy=NONE)
def ingest_batch(data: DataConfig, batch: str, run_dir: Path, label_is_text: bool = False) -> DatasetRef:
    """Read the batch with the config's columns; production batches may lack the label/timestamp columns."""
    if not Path(batch).exists():
        raise InputError(f"{batch}: batch not found; pass a file or folder of new documents with --batch.")
    last: InputError | None = None
    hold_raw(Path(run_dir))  # the unscrubbed copy is in use until the run discards it (purge leaves it)
    for with_label, with_ts in ((True, True), (False, True), (False, False)):
        src = batch_source(data, batch, with_label, with_ts)
        c = src.columns
        if (with_label and c.label is None) or (with_ts and c.timestamp is None):
            continue
        try:
            return load_documents(src.source, Path(run_dir) / "dataset.parquet", fmt=src.format, id_col=c.id,
                                  text_col=c.text, label_col=c.label, timestamp_col=c.timestamp,
                                  keep_columns=[], chunk_rows=src.chunk_rows, csv_delimiter=src.csv_delimiter,
                                  label_is_text=label_is_text)
        except InputError as e:
            last = e
    raise last or InputError(f"{batch}: could not be read as documents.")


@task(name="add_batch")
def add_batch(base: DatasetRef, batch: DatasetRef, out: Path) -> DatasetRef:
    """Training data plus the labelled rows of a production batch (ids already present are skipped)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    a, b = pq.read_table(base.uri), pq.read_table(batch.uri).select(pq.read_schema(base.uri).names)
    b = b.filter(pc.and_(pc.is_valid(b["label"]), pc.invert(pc.is_in(b["id"], a["id"]))))
    table = pa.concat_tables([a, b.cast(a.schema)])
    with atomic_file(out) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS)
    counts = {} if base.label_is_text else \
        {d["values"]: d["counts"] for d in pc.value_counts(table["label"]).to_pylist() if d["values"]}
    get_run_logger().info("added %d labelled rows from the batch (%d rows in all)", b.num_rows, table.num_rows)
    return DatasetRef(uri=str(out), sha256=parquet_sha256(out), rows=table.num_rows, columns=base.columns,
                      label_counts=dict(sorted(counts.items())), label_is_text=base.label_is_text)


# ---- the unscrubbed copy lives only as long as the run needs it ---------------------------------------
@task(name="discard_raw_copy", cache_policy=NONE)
def discard_raw_copy(run_dir: Path, retention: RetentionConfig) -> int:
    """After the scrub: delete the run's unscrubbed copies unless ``retention.keep_raw_days`` keeps them."""
    if retention.keep_raw_days:
        release_raw(Path(run_dir))  # kept for its days; purge may delete it once they pass
        return 0
    gone = discard_raw(Path(run_dir))
    run_logger("tunegate.retention").info("deleted %d unscrubbed cop%s of the documents", gone,
                                          "y" if gone == 1 else "ies")
    return gone


def discard_raw_on_failure(flow, flow_run, state) -> None:
    """Flow hook (failure, cancellation, crash): the stopped run's unscrubbed copies go too."""
    params = flow_run.parameters or {}
    config = params.get("config")
    config = config if isinstance(config, PipelineConfig) else PipelineConfig.model_validate(config or {})
    if config.retention.keep_raw_days:
        return
    work = config.work_path()
    folders = [work / "runs" / params["run_id"]] if params.get("run_id") else run_dirs(work, flow_run.id.hex[:6])
    for folder in folders:
        discard_raw(folder)


# The hooks of every flow that writes an unscrubbed copy: ``@flow(..., **RAW_COPY_HOOKS)``.
RAW_COPY_HOOKS = {"on_failure": [discard_raw_on_failure], "on_cancellation": [discard_raw_on_failure],
                  "on_crashed": [discard_raw_on_failure]}
