"""The monitor stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from prefect.runtime import flow_run as current_run

from tasks.audit import COMPLETED, MONITORED, ROLLED_BACK, SKIPPED, audit, read_audit
from tasks.config import PipelineConfig
from tasks.monitor.cooldown import gate_retrain, last_completed
from tasks.monitor.drift import DriftReport, compute_drift, sample_rows, summary_table
from tasks.monitor.events import DRIFT_EVENT, EmittedEvent, emit_verified, model_resource
from tasks.monitor.policy import RetrainDecision, should_retrain
from tasks.refs import DatasetRef
from tasks.runtime import in_prefect_run


def _profile(scored: pd.DataFrame, emb: np.ndarray, domain_patterns: list[str], domain_literals: list[str],
             emb_rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Descriptors of each text and what the champion made of it; a seeded ``emb_rows`` subset of the embeddings.

    A classifier's output is its ``prediction`` and ``confidence``; a causal LM's is the length and the
    perplexity of what it generated (``output_length``, ``output_perplexity``).
    """
    from tasks.monitor.descriptors import compile_domain_patterns, describe_texts, load_vocab, minilm_path

    texts = scored["text"].astype(str).tolist()
    frame = describe_texts(texts, load_vocab(str(minilm_path())),
                           compile_domain_patterns(domain_patterns, domain_literals))
    if "perplexity" in scored.columns:
        frame["output_length"] = scored["output_tokens"].to_numpy(dtype=float)
        frame["output_perplexity"] = scored["perplexity"].to_numpy(dtype=float)
    else:
        frame["prediction"] = scored["prediction"].astype(str).to_numpy()
        frame["confidence"] = scored["confidence"].to_numpy(dtype=float)
    pick = np.sort(np.random.default_rng(seed).permutation(len(texts))[:emb_rows])
    return frame, np.asarray(emb, dtype=np.float32)[pick]


@task(name="profile_reference", cache_policy=NONE)
def profile_reference(reference_parquet: Path, model_dir: Path, cache_dir: Path, rows: int, emb_rows: int,
                      domain_patterns: list[str], domain_literals: list[str]):
    """Descriptors, champion predictions and embeddings (the champion's own, from the same forward pass) of
    the champion's reference sample.

    Computed once per (reference file, settings) and cached beside the registry cache: a monitor run then
    costs the same whatever the size of the training set.
    """
    import hashlib
    import json

    from tasks.predict.batch import score_frame

    key = hashlib.sha256(Path(reference_parquet).read_bytes()).hexdigest()[:16]
    key += hashlib.sha256(json.dumps(["champion-embedding", rows, emb_rows, domain_patterns, domain_literals,
                                      str(model_dir)]).encode()).hexdigest()[:8]
    frame_path, emb_path = Path(cache_dir) / f"{key}.parquet", Path(cache_dir) / f"{key}.npy"
    if frame_path.is_file() and emb_path.is_file():
        return pd.read_parquet(frame_path), np.load(emb_path)
    ref = sample_rows(pd.read_parquet(reference_parquet, columns=["id", "text"]), rows, seed=1)
    preds, emb = score_frame(ref["id"].astype(str).tolist(), ref["text"].astype(str).tolist(), Path(model_dir), 0,
                             embed=True)
    frame, emb = _profile(preds.assign(text=ref["text"].to_numpy()), emb, domain_patterns, domain_literals,
                          emb_rows, seed=2)
    from tasks.refs import atomic_file

    with atomic_file(emb_path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, emb)
    with atomic_file(frame_path) as tmp:
        frame.to_parquet(tmp, index=False)
    return frame, emb


@task(name="profile_batch", cache_policy=NONE)
def profile_batch(logged: Path, labels: Path | None, rows: int, emb_rows: int, domain_patterns: list[str],
                  domain_literals: list[str]):
    """The same profile for a sample of the batch's logged predictions (scrubbed text, prediction,
    confidence, embedding: tasks/predict/store.py), with the batch's labels where it has them."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tasks.monitor.sampling import sample_log
    from tasks.predict.store import GENERATION_COLUMNS, read_embeddings

    names = pq.read_schema(logged).names
    # only the sample is read, whatever the size of the log (a million logged predictions: one batch at a time)
    table, _ = sample_log(logged, rows, 3, ["id", "text", "prediction", "confidence", "embedding"]
                          + [c for c in GENERATION_COLUMNS if c in names])
    both = table.drop_columns(["embedding"]).to_pandas()
    frame, emb = _profile(both, read_embeddings(table), domain_patterns, domain_literals, emb_rows, seed=4)
    known = pq.read_table(labels, columns=["id", "label"], filters=pc.field("id").isin(both["id"].tolist())
                          ).to_pandas() if labels is not None else None
    frame["label"] = (both[["id"]].merge(known, on="id", how="left", validate="one_to_one")["label"].to_numpy()
                      if known is not None else None)
    return frame, emb


@task(name="report_drift", cache_policy=NONE)
def report_drift(reference: tuple, current: tuple, monitor, champion_eval: Path, batch_rows: int,
                 run_dir: Path) -> DriftReport:
    """Evidently report to ``run_dir/drift_report.html``, its verdicts to ``drift_report.json``, artifacts."""
    import json

    from tasks.predict.folder import read_calibration
    from tasks.refs import atomic_file

    champion = json.loads(Path(champion_eval).read_text()) if Path(champion_eval).is_file() else None
    calibration = read_calibration(Path(champion_eval).parent.parent / "model")  # the version's folder
    (ref, ref_emb), (cur, cur_emb) = reference, current
    report = compute_drift(ref, cur, drift_share=monitor.drift_share,
                           embedding_threshold=monitor.embedding_drift_threshold, reference_emb=ref_emb,
                           current_emb=cur_emb, include_prediction=monitor.prediction_drift,
                           champion_metrics=champion, min_accuracy_drop=monitor.min_accuracy_drop,
                           batch_rows=batch_rows, html_out=Path(run_dir) / "drift_report.html",
                           review_threshold=calibration.get("review_threshold") if calibration.get(
                               "target_accuracy") is not None else None)
    with atomic_file(Path(run_dir) / "drift_report.json") as tmp:
        tmp.write_text(report.model_dump_json(indent=2))
    _publish(report)
    return report


def _publish(report: DriftReport) -> None:
    from prefect.artifacts import create_link_artifact, create_table_artifact
    if not in_prefect_run():
        return
    create_table_artifact(table=summary_table(report), key="drift-checks",
                          description="Drift checks: value, threshold, verdict (no document text)")
    create_link_artifact(link=Path(report.html).resolve().as_uri(), link_text="Evidently drift report",
                         key="drift-report", description=f"Evidently HTML report: {report.html}")


# ---- production batches ----------------------------------------------------------------------------
@task(name="sample_batch", cache_policy=NONE)
def sample_batch(dataset: DatasetRef, rows: int | str | None, run_dir: Path, reference_rows: int = 2000) -> DatasetRef:
    """The batch itself, or a seeded uniform sample of ``monitor.score_rows`` documents when it is bigger
    (``auto``: as many as the drift tests need against ``reference_rows``, tasks/monitor/sampling.py)."""
    from tasks.monitor.sampling import power_rows, sample_dataset

    rows = power_rows(reference_rows) if rows == "auto" else rows
    if rows is None or dataset.rows <= rows:
        return dataset
    return sample_dataset(dataset, rows, Path(run_dir) / "scored.parquet")


@task(name="find_logged_batch", cache_policy=NONE)
def find_logged_batch(store: Path, batch_sha256: str, model_version: int) -> tuple[str, int] | None:
    """The prediction-store file that already scored this batch with this version (``tunegate predict``
    or an earlier monitor run) and its row count, or None: then the monitor scrubs and scores a sample."""
    import pyarrow.parquet as pq

    from tasks.predict.store import find_logged

    found = find_logged(Path(store), batch_sha256, model_version)
    if found is None:
        return None
    rows = pq.ParquetFile(found).metadata.num_rows
    get_run_logger().info("reusing %d predictions logged for this batch by v%d: %s", rows, model_version, found)
    return str(found), rows


@task(name="batch_labels", cache_policy=NONE)
def batch_labels(dataset: DatasetRef, run_dir: Path) -> Path | None:
    """The batch's ids and class labels (no text) in ``run_dir/labels.parquet``; None when it has none."""
    import pyarrow.parquet as pq

    from tasks.refs import atomic_file

    if dataset.label_is_text or "label" not in pq.read_schema(dataset.uri).names:
        return None  # a causal LM's free-text target is no class label (and may be unscrubbed here)
    out = Path(run_dir) / "labels.parquet"
    with atomic_file(out) as tmp:
        pq.write_table(pq.read_table(dataset.uri, columns=["id", "label"]), tmp)
    return out


@task(name="decide_retrain", cache_policy=NONE)
def decide_retrain(report: DriftReport, config: PipelineConfig) -> RetrainDecision:
    """Apply the monitor policy to the report (pure decision, no side effects)."""
    return should_retrain(report, config.monitor)


@task(name="emit_drift_event", cache_policy=NONE)
def emit_drift_event(config: PipelineConfig, report: DriftReport, decision: RetrainDecision, batch: str,
                     model_version: int, predictions: str) -> EmittedEvent:
    """Emit tunegate.drift.detected for the model and confirm the server has it (EventNotDelivered if not)."""
    payload = {"batch": str(Path(batch).resolve()), "report": report.html, "model_version": model_version,
               "reasons": decision.reasons, "summary": report.summary(), "predictions": predictions,
               "rows": report.batch_rows}
    return emit_verified(DRIFT_EVENT, model_resource(config.model_name), payload,
                         timeout_s=config.monitor.event_timeout_s)


# ---- retrain requests: the cooldown gate and the audit log --------------------------------------
def run_requested_at() -> datetime:
    """When this flow run was first scheduled. A run held back by the deployment's concurrency limit is
    rescheduled (``scheduled_start_time`` moves later); ``expected_start_time`` keeps the original time."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            expected = client.read_flow_run(current_run.id).expected_start_time
    except Exception:  # no API (a bare call in a script): the scheduled time is all there is
        expected = None
    scheduled = current_run.scheduled_start_time
    return min(expected, scheduled) if expected is not None else scheduled


@task(name="check_retrain_gate")
def check_retrain_gate(config: PipelineConfig, reason: str, requested_at: datetime):
    """Decide from the audit log whether this request may train (cooldown, already satisfied)."""
    done = last_completed(read_audit(config, skip_damaged=True), config.model_name)  # damaged lines: warned
    return gate_retrain(done, requested_at, config.deploy.cooldown_minutes, reason)


@task(name="record_skip")
def record_skip(config: PipelineConfig, reason: str, batch: str | None, why: str) -> None:
    """Write a request that did not train to the audit log."""
    audit(config, action=SKIPPED, trigger=reason, batch=batch, why=why, flow_run=current_run.id)
    get_run_logger().info("retrain skipped: %s", why)


@task(name="record_monitoring")
def record_monitoring(config: PipelineConfig, version: int, run_id: str, batch_sha256: str, rows: int,
                      report: DriftReport, drift: bool, reasons: list[str], event_id: str | None) -> None:
    """One audit entry per monitor run: which version it watched, the checks and the drift decision (the
    version's monitoring history in its evidence pack)."""
    audit(config, action=MONITORED, version=version, run_id=run_id, batch_sha256=batch_sha256, rows=rows,
          drift=drift, reasons=reasons, checks=report.summary(), event_id=event_id)


@task(name="roll_back_if_worse", cache_policy=NONE)
def roll_back_if_worse(config: PipelineConfig, report: DriftReport, champion: int) -> dict | None:
    """With ``monitor.auto_rollback``: go back to the version ``champion`` replaced when the batch's labels
    show it worse (tasks/monitor/rollback.py), only to a version once promoted (tasks/governance/rollback.py);
    audited, announced by ``tunegate.model.rolled_back``, and noted in the rolled-back version's model card.
    Under ``promotion.require_approval`` it records a rollback request instead (requested by ``monitor``) for a
    person to approve with ``tunegate rollback --approve``. None when nothing moved."""
    import json

    from tasks.errors import PromotionError, RollbackRefused
    from tasks.governance.rollback import move_back, request_rollback
    from tasks.monitor.events import ROLLED_BACK_EVENT
    from tasks.monitor.rollback import REQUEST, STAY, decide_rollback, previous_champion
    from tasks.registry.versions import client_for, get_version
    from tasks.runtime import run_logger

    m, log = config.monitor, run_logger("tunegate.monitor")
    if not m.auto_rollback:
        return None
    prev = previous_champion(read_audit(config, skip_damaged=True), config.model_name, champion)
    previous_eval, unavailable = None, ""
    if prev is not None:
        try:
            before = get_version(config.registry_scope, prev)
        except PromotionError as e:  # archived after an erasure, or gone
            unavailable = str(e)
        else:
            previous_eval = json.loads((before.local_dir / "eval" / "eval.json").read_text())
    d = decide_rollback(champion, prev, previous_eval, report, config.promotion.floors, m.rollback_margin,
                        m.min_rollback_rows, config.promotion.require_approval, unavailable)
    if d.action == STAY:
        if d.note:
            log.info("auto-rollback: %s", d.note)
        return None
    reasons = d.reasons
    try:
        if d.action == REQUEST:
            req = request_rollback(config.registry_scope, config.promotion, prev, reasons, requested_by="monitor",
                                   source="automation", trigger="monitor")
            log.warning("auto-rollback of %s from v%d to v%d requested as %s: it waits for a person's approval "
                        "(tunegate rollback --approve %s)", config.model_name, champion, prev, req["request"],
                        req["request"])
            return None
        entry = move_back(config.registry_scope, config.promotion, prev, reasons, trigger="monitor",
                          only_if_champion=champion, action=ROLLED_BACK)
    except RollbackRefused as e:  # never promoted, pending erasure: audited by the refusal
        log.warning("auto-rollback: v%d cannot be restored (%s)", prev, e)
        return None
    if entry is None:
        log.info("auto-rollback: the champion changed meanwhile; nothing moved")
        return None
    demoted = get_version(config.registry_scope, champion)
    card = demoted.local_dir / "model_card.md"
    note = "\n".join([f"- {datetime.now(UTC).isoformat(timespec='seconds')}: rolled back to v{prev} by the monitor"]
                     + [f"  - {r}" for r in reasons])
    card.write_text(card.read_text() + "\n\n## Rolled back\n\n" + note + "\n")
    client_for(config.registry_scope).log_artifact(demoted.run_id, str(card))
    event = emit_verified(ROLLED_BACK_EVENT, model_resource(config.model_name),
                          {"from_version": champion, "to_version": prev, "reasons": reasons},
                          timeout_s=m.event_timeout_s)
    log.warning("rolled back %s from v%d to v%d: %s", config.model_name, champion, prev, "; ".join(reasons))
    return {"from_version": champion, "to_version": prev, "reasons": reasons, "event_id": event.id}


@task(name="record_completion")
def record_completion(config: PipelineConfig, reason: str, batch: str | None, version: int | None) -> None:
    """Write the finished retrain to the audit log: the cooldown starts here."""
    audit(config, action=COMPLETED, trigger=reason, batch=batch, version=version, flow_run=current_run.id,
          completed_at=datetime.now(UTC).isoformat())
