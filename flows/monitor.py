"""Monitor a production batch for drift against the champion, and raise the alarm.

ingest (relaxed gate: labels optional) → scrub PII → predict with the champion → log predictions →
drift report (Evidently) → decide → on drift, emit ``tunegate.drift.detected`` and confirm the server
stored it. Without PREFECT_API_URL the event goes to Prefect's ephemeral server and is still confirmed;
the result's ``event_target`` says so, since no deployment trigger will see it there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NONE
from pydantic import BaseModel, ConfigDict

from tasks.config import ColumnMap, DataConfig, PipelineConfig, QualityConfig, load_config
from tasks.errors import InputError
from tasks.monitor.drift import DriftReport
from tasks.monitor.events import DRIFT_EVENT, EmittedEvent, emit_verified, model_resource
from tasks.monitor.policy import Decision, should_retrain
from tasks.monitor.store import append_predictions, prediction_rows
from tasks.monitor.task import profile_batch, profile_reference, report_drift
from tasks.refs import DatasetRef, new_run_id


class MonitorResult(BaseModel):
    """What a monitor run decided and where its evidence is (no document text)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    batch: str
    model_version: int
    drift: bool
    reasons: list[str]
    report_html: str
    summary: dict
    predictions: str
    rows: int  # documents scored (scrubbed, predicted, logged)
    batch_rows: int | None = None  # documents in the batch (more than ``rows`` when monitor.score_rows sampled)
    event_id: str | None = None
    event_target: str | None = None

    def line(self) -> str:
        head = "drift: detected" if self.drift else "drift: none"
        event = f"; event {self.event_id} ({self.event_target})" if self.event_id else ""
        scored = f" — scored a sample of {self.rows} of {self.batch_rows} documents" \
            if self.batch_rows and self.batch_rows > self.rows else ""
        return f"{head} — {'; '.join(self.reasons)} — report {self.report_html}{scored}{event}"


def monitoring_gate(quality: QualityConfig, min_batch_rows: int) -> QualityConfig:
    """The training gate, relaxed for production batches: labels optional, no per-class minimum."""
    return quality.model_copy(update={"require_labels": False, "min_per_class": 0,
                                      "min_rows": min(quality.min_rows, min_batch_rows)})


def batch_source(data: DataConfig, batch: str, with_label: bool, with_timestamp: bool) -> DataConfig:
    c = data.columns
    cols = ColumnMap(id=c.id, text=c.text, label=c.label if with_label else None,
                     timestamp=c.timestamp if with_timestamp else None)
    return data.model_copy(update={"source": str(Path(batch).resolve()), "columns": cols, "sample": None})


@task(name="ingest_batch", cache_policy=NONE)
def ingest_batch(data: DataConfig, batch: str, run_dir: Path) -> DatasetRef:
    """Read the batch with the config's columns; production batches may lack the label/timestamp columns."""
    from tasks.ingest.read import load_documents

    if not Path(batch).exists():
        raise InputError(f"{batch}: batch not found; pass a file or folder of new documents with --batch.")
    last: InputError | None = None
    for with_label, with_ts in ((True, True), (False, True), (False, False)):
        src = batch_source(data, batch, with_label, with_ts)
        c = src.columns
        if (with_label and c.label is None) or (with_ts and c.timestamp is None):
            continue
        try:
            return load_documents(src.source, Path(run_dir) / "dataset.parquet", fmt=src.format, id_col=c.id,
                                  text_col=c.text, label_col=c.label, timestamp_col=c.timestamp,
                                  keep_columns=[], chunk_rows=src.chunk_rows)
        except InputError as e:
            last = e
    raise last or InputError(f"{batch}: could not be read as documents.")


@task(name="sample_batch", cache_policy=NONE)
def sample_batch(dataset: DatasetRef, rows: int | None, run_dir: Path) -> DatasetRef:
    """The batch itself, or a seeded uniform sample of ``monitor.score_rows`` documents when it is bigger."""
    from tasks.monitor.sampling import sample_dataset

    if rows is None or dataset.rows <= rows:
        return dataset
    return sample_dataset(dataset, rows, Path(run_dir) / "scored.parquet")


@task(name="log_predictions", cache_policy=NONE)
def log_predictions(scrubbed: DatasetRef, predictions: Path, store: Path, run_id: str) -> str:
    """Append scrubbed text, prediction, confidence, model version, timestamps to the prediction store."""
    now = datetime.now(UTC)
    docs = pd.read_parquet(scrubbed.uri, columns=["id", "text", "timestamp"])
    return str(append_predictions(prediction_rows(docs, pd.read_parquet(predictions), now), store, run_id, now))


@task(name="decide_retrain", cache_policy=NONE)
def decide_retrain(report: DriftReport, config: PipelineConfig) -> Decision:
    """Apply the monitor policy to the report (pure decision, no side effects)."""
    return should_retrain(report, config.monitor)


@task(name="emit_drift_event", cache_policy=NONE)
def emit_drift_event(config: PipelineConfig, report: DriftReport, decision: Decision, batch: str,
                     model_version: int, predictions: str) -> EmittedEvent:
    """Emit tunegate.drift.detected for the model and confirm the server has it (EventNotDelivered if not)."""
    payload = {"batch": str(Path(batch).resolve()), "report": report.html, "model_version": model_version,
               "reasons": decision.reasons, "summary": report.summary(), "predictions": predictions,
               "rows": report.batch_rows}
    return emit_verified(DRIFT_EVENT, model_resource(config.model_name), payload,
                         timeout_s=config.monitor.event_timeout_s)


@flow(name="monitor")
def monitor(config: PipelineConfig, batch: str) -> MonitorResult:
    """Check a batch of production documents for drift against the champion.

    1. resolve the champion (none: stop before reading data)
    2. ingest the batch behind the relaxed quality gate (all of it); sample monitor.score_rows if set
    3. scrub PII
    4. predict with the champion and log predictions to the store
    5. profile reference and batch; Evidently drift report + artifacts
    6. decide; on drift emit tunegate.drift.detected and confirm it
    """
    from flows.predict import predict_batch, resolve_version
    from tasks.ingest.task import quality_gate
    from tasks.pii.task import scrub_pii

    m, keep = config.monitor, config.pii.keep
    version = resolve_version(config, "champion")
    run_id = new_run_id("monitor")
    run_dir = config.work_path("runs", run_id)
    dataset = ingest_batch(config.data, batch, run_dir)
    quality_gate(dataset, monitoring_gate(config.quality, m.min_batch_rows), run_dir)
    scored = sample_batch(dataset, m.score_rows, run_dir)
    # The recall estimate is training evidence (a model's data); a production batch is scrubbed, not audited.
    scrubbed, _ = scrub_pii(scored, config.pii, run_dir, None, estimate=False)
    preds = predict_batch(scrubbed, version, run_dir / "predictions.parquet")
    stored = log_predictions(scrubbed, Path(preds.uri), config.work_path("predictions"), run_id)
    reference = profile_reference(version.local_dir / "reference" / "reference.parquet", version.local_dir / "model",
                                  config.work_path("monitor_cache", config.model_name, f"v{version.version}"),
                                  m.reference_rows, m.embedding_rows, m.embedding_max_length,
                                  keep.patterns, keep.literals)
    current = profile_batch(Path(scrubbed.uri), Path(preds.uri), m.current_sample_rows, m.embedding_rows,
                            m.embedding_max_length, keep.patterns, keep.literals)
    report = report_drift(reference, current, m, version.local_dir / "eval" / "eval.json", scrubbed.rows, run_dir)
    decision = decide_retrain(report, config)
    event = emit_drift_event(config, report, decision, batch, version.version, stored) if decision.drift else None
    return MonitorResult(run_id=run_id, batch=str(Path(batch).resolve()), model_version=version.version,
                         drift=decision.drift, reasons=decision.reasons, report_html=report.html or "",
                         summary=report.summary(), predictions=stored, rows=scrubbed.rows, batch_rows=dataset.rows,
                         event_id=event.id if event else None, event_target=event.target if event else None)


def cli_monitor(args) -> int:
    """``tunegate monitor --config C --batch PATH``: one line, ``drift: detected`` or ``drift: none``."""
    result = monitor(load_config(args.config), args.batch)
    print(result.line())
    return 0
