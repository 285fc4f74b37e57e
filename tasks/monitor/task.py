"""The monitor stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# ---- from drift --------------------------------------------------------------------------------
from prefect import task
from prefect.cache_policies import NONE

from tasks.monitor.drift import DriftReport, compute_drift, sample_rows, summary_table


def _profile(texts: list[str], labels: list[str], conf, domain_patterns: list[str], domain_literals: list[str],
             emb_rows: int, emb_max_length: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    from tasks.monitor.descriptors import (
        compile_domain_patterns,
        describe_texts,
        embed_texts,
        load_vocab,
        minilm_path,
    )

    frame = describe_texts(texts, load_vocab(str(minilm_path())),
                           compile_domain_patterns(domain_patterns, domain_literals))
    frame["prediction"], frame["confidence"] = list(labels), np.asarray(conf, dtype=float)
    pick = np.sort(np.random.default_rng(seed).permutation(len(texts))[:emb_rows])
    emb = embed_texts([texts[i] for i in pick], max_length=emb_max_length)
    return frame, emb


@task(name="profile_reference", cache_policy=NONE)
def profile_reference(reference_parquet: Path, model_dir: Path, cache_dir: Path, rows: int, emb_rows: int,
                      emb_max_length: int, domain_patterns: list[str], domain_literals: list[str]):
    """Descriptors, champion predictions and embeddings of the champion's reference sample.

    Computed once per (reference file, settings) and cached beside the registry cache: a monitor run then
    costs the same whatever the size of the training set.
    """
    import hashlib
    import json

    from flows.predict import score_frame

    key = hashlib.sha256(Path(reference_parquet).read_bytes()).hexdigest()[:16]
    key += hashlib.sha256(json.dumps([rows, emb_rows, emb_max_length, domain_patterns, domain_literals,
                                      str(model_dir)]).encode()).hexdigest()[:8]
    frame_path, emb_path = Path(cache_dir) / f"{key}.parquet", Path(cache_dir) / f"{key}.npy"
    if frame_path.is_file() and emb_path.is_file():
        return pd.read_parquet(frame_path), np.load(emb_path)
    ref = sample_rows(pd.read_parquet(reference_parquet, columns=["id", "text"]), rows, seed=1)
    texts = ref["text"].astype(str).tolist()
    preds = score_frame(ref["id"].astype(str).tolist(), texts, Path(model_dir), 0)
    frame, emb = _profile(texts, preds["prediction"].tolist(), preds["confidence"], domain_patterns,
                          domain_literals, emb_rows, emb_max_length, seed=2)
    from tasks.refs import atomic_file

    with atomic_file(emb_path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, emb)
    with atomic_file(frame_path) as tmp:
        frame.to_parquet(tmp, index=False)
    return frame, emb


@task(name="profile_batch", cache_policy=NONE)
def profile_batch(scrubbed_parquet: Path, predictions_parquet: Path, rows: int, emb_rows: int,
                  emb_max_length: int, domain_patterns: list[str], domain_literals: list[str]):
    """The same profile for a sample of the monitored batch (labels kept when present)."""
    docs = pd.read_parquet(scrubbed_parquet, columns=["id", "text", "label"])
    preds = pd.read_parquet(predictions_parquet, columns=["id", "prediction", "confidence"])
    both = sample_rows(docs.merge(preds, on="id", how="inner", validate="one_to_one"), rows, seed=3)
    frame, emb = _profile(both["text"].astype(str).tolist(), both["prediction"].tolist(), both["confidence"],
                          domain_patterns, domain_literals, emb_rows, emb_max_length, seed=4)
    frame["label"] = both["label"].to_numpy()
    return frame, emb


@task(name="report_drift", cache_policy=NONE)
def report_drift(reference: tuple, current: tuple, monitor, champion_eval: Path, batch_rows: int,
                 run_dir: Path) -> DriftReport:
    """Evidently report to ``run_dir/drift_report.html``, its verdicts to ``drift_report.json``, artifacts."""
    import json

    from tasks.refs import atomic_file

    champion = json.loads(Path(champion_eval).read_text()) if Path(champion_eval).is_file() else None
    (ref, ref_emb), (cur, cur_emb) = reference, current
    report = compute_drift(ref, cur, drift_share=monitor.drift_share,
                           embedding_threshold=monitor.embedding_drift_threshold, reference_emb=ref_emb,
                           current_emb=cur_emb, include_prediction=monitor.prediction_drift,
                           champion_metrics=champion, min_accuracy_drop=monitor.min_accuracy_drop,
                           batch_rows=batch_rows, html_out=Path(run_dir) / "drift_report.html")
    with atomic_file(Path(run_dir) / "drift_report.json") as tmp:
        tmp.write_text(report.model_dump_json(indent=2))
    _publish(report)
    return report


def _publish(report: DriftReport) -> None:
    from prefect.artifacts import create_link_artifact, create_table_artifact
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return
    create_table_artifact(table=summary_table(report), key="drift-checks",
                          description="Drift checks: value, threshold, verdict (no document text)")
    create_link_artifact(link=Path(report.html).resolve().as_uri(), link_text="Evidently drift report",
                         key="drift-report", description=f"Evidently HTML report: {report.html}")
