"""Monitor a production batch for drift against the champion, and raise the alarm.

ingest (relaxed gate: labels optional) → scrub PII → predict with the champion → log predictions →
drift report (Evidently) → decide → on drift, emit ``tunegate.drift.detected`` and confirm the server
stored it. Without PREFECT_API_URL the event goes to Prefect's ephemeral server and is still confirmed;
the result's ``event_target`` says so, since no deployment trigger will see it there.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import BaseModel, ConfigDict

from tasks.config import PipelineConfig
from tasks.ingest.quality import monitoring_gate
from tasks.ingest.task import RAW_COPY_HOOKS, discard_raw_copy, ingest_batch, quality_gate
from tasks.monitor.task import (
    batch_labels,
    decide_retrain,
    emit_drift_event,
    find_logged_batch,
    profile_batch,
    profile_reference,
    record_monitoring,
    report_drift,
    roll_back_if_worse,
    sample_batch,
)
from tasks.pii.columns import ScrubColumns, label_is_free_text
from tasks.pii.task import scrub_pii
from tasks.predict.task import batch_digest
from tasks.refs import new_run_id


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
    rolled_back_to: int | None = None  # monitor.auto_rollback moved the champion back to this version


    def line(self) -> str:
        head = "drift: detected" if self.drift else "drift: none"
        event = f"; event {self.event_id} ({self.event_target})" if self.event_id else ""
        scored = f" — scored a sample of {self.rows} of {self.batch_rows} documents" \
            if self.batch_rows and self.batch_rows > self.rows else ""
        back = f"; ROLLED BACK to v{self.rolled_back_to}" if self.rolled_back_to else ""
        return f"{head} — {'; '.join(self.reasons)} — report {self.report_html}{scored}{event}{back}"


@flow(name="monitor", **RAW_COPY_HOOKS)
def monitor(config: PipelineConfig, batch: str) -> MonitorResult:
    """Check a batch of production documents for drift against the champion.

    1. resolve the champion (none: stop before reading data)
    2. ingest the batch behind the relaxed quality gate (all of it)
    3. predictions this version already logged for the same batch (``tunegate predict``): reuse them; else
       sample monitor.score_rows, scrub PII, predict with the champion and log to the prediction store
    4. profile reference and batch; Evidently drift report + artifacts
    5. decide; on drift emit tunegate.drift.detected and confirm it
    """
    from flows.predict import predict_batch, resolve_version

    m, keep, store = config.monitor, config.pii.keep, config.work_path("predictions")
    version = resolve_version(config, "champion")
    run_id = new_run_id("monitor")
    run_dir = config.work_path("runs", run_id)
    columns = ScrubColumns.of(config.train, config.data)
    dataset = ingest_batch(config.data, batch, run_dir, label_is_free_text(config.train, config.quality))
    quality_gate(dataset, monitoring_gate(config.quality, m.min_batch_rows), run_dir)
    digest = batch_digest(dataset)
    logged = find_logged_batch(store, digest, version.version)
    if logged is not None:
        (stored, rows), labels = logged, batch_labels(dataset, run_dir)
        discard_raw_copy(run_dir, config.retention)
    else:
        scored = sample_batch(dataset, m.score_rows, run_dir, m.reference_rows)
        # The recall estimate is training evidence (a model's data); a production batch is scrubbed, not audited.
        scrubbed, _ = scrub_pii(scored, config.pii, run_dir, None, estimate=False, columns=columns)
        discard_raw_copy(run_dir, config.retention)
        labels, rows = batch_labels(scrubbed, run_dir), scrubbed.rows
        stored = predict_batch(scrubbed, version, run_dir / "predictions.parquet", store, run_id, digest,
                               complete=scrubbed.rows == dataset.rows).logged
    reference = profile_reference(version.local_dir / "reference" / "reference.parquet", version.local_dir / "model",
                                  config.work_path("monitor_cache", config.model_name, f"v{version.version}"),
                                  m.reference_rows, m.embedding_rows, keep.patterns, keep.literals)
    current = profile_batch(Path(stored), labels, m.current_sample_rows, m.embedding_rows, keep.patterns,
                            keep.literals)
    report = report_drift(reference, current, m, version.local_dir / "eval" / "eval.json", rows, run_dir)
    decision = decide_retrain(report, config)
    event = emit_drift_event(config, report, decision, batch, version.version, stored) if decision.drift else None
    record_monitoring(config, version.version, run_id, dataset.sha256, rows, report, decision.drift,
                      decision.reasons, event.id if event else None)
    rolled = roll_back_if_worse(config, report, version.version)
    return MonitorResult(run_id=run_id, batch=str(Path(batch).resolve()), model_version=version.version,
                         drift=decision.drift, reasons=decision.reasons, report_html=report.html or "",
                         summary=report.summary(), predictions=stored, rows=rows, batch_rows=dataset.rows,
                         event_id=event.id if event else None, event_target=event.target if event else None,
                         rolled_back_to=rolled["to_version"] if rolled else None)
