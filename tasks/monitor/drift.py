"""Drift report: current batch vs the champion's reference, tested by Evidently 0.7.

Both frames hold only columns derived from scrubbed text: the numeric descriptors of
tasks/monitor/descriptors.py and the champion's ``prediction`` and ``confidence`` (plus, for the current
batch, an optional ``label``); the champion's sentence embeddings (tasks/predict/classify.py) travel beside
them as arrays. No text goes into Evidently, so the HTML report cannot show any.

Evidently picks each column's test by sample size (p-values up to 1,000 reference rows, distances
above), so the decision is read from its test statuses and drifted-column count, never from raw scores.
Cost is bounded: the reference is sampled to ``monitor.reference_rows`` (and profiled once per version),
the batch to ``current_sample_rows``, and only ``embedding_rows`` of each are embedded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from tasks.monitor.descriptors import DESCRIPTOR_COLUMNS

PREDICTION_COLUMNS = ("prediction", "confidence", "output_length", "output_perplexity")
MIN_REVIEW_RISE = 0.05  # the share sent to review may rise this much (or 2 SE, if more) before it counts as drift
OUTPUT_NUMERIC = ("confidence", "output_length", "output_perplexity")  # whichever the champion's task gives


class DriftCheck(BaseModel):
    """One line of the summary table: what was tested, its value, the threshold, the verdict."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str  # descriptor | prediction | columns | embedding | quality | review
    value: float | None
    threshold: float | None
    method: str
    drifted: bool


class DriftReport(BaseModel):
    """Everything ``should_retrain`` needs; no document text."""

    model_config = ConfigDict(frozen=True)

    checks: list[DriftCheck]
    reference_rows: int
    current_rows: int  # rows in the sample Evidently compared
    batch_rows: int  # rows in the whole batch
    labelled_rows: int = 0
    html: str | None = None

    def check(self, name: str) -> DriftCheck | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> dict:
        """A small JSON-able digest for events and results."""
        return {c.name: {"value": c.value, "threshold": c.threshold, "drifted": c.drifted} for c in self.checks}


def sample_rows(df: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """At most ``n`` rows, uniformly at random with a fixed seed: keeps the report's cost bounded."""
    return df if len(df) <= n else df.sample(n=n, random_state=seed).reset_index(drop=True)


def embedding_frame(emb: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(emb, columns=[f"emb_{i}" for i in range(emb.shape[1])])


def quality_checks(labels: pd.Series, predictions: pd.Series, champion: dict | None,
                   min_drop: float) -> list[DriftCheck]:
    """Accuracy and macro-F1 on the labelled rows, against the champion's test metrics.

    The floor is the champion's value minus ``min_drop``, or minus two standard errors of the difference
    when either sample is small (a 60-document test split and a 200-document batch differ by more than
    0.05 by chance).
    """
    from sklearn.metrics import accuracy_score, f1_score

    mask = labels.notna()
    if not mask.any():
        return []
    y, p = labels[mask].astype(str), predictions[mask].astype(str)
    n_cur, n_champ = int(mask.sum()), int((champion or {}).get("n") or 0)
    out = []
    for name, value in (("accuracy", accuracy_score(y, p)), ("macro_f1", f1_score(y, p, average="macro"))):
        base = (champion or {}).get(name)
        floor, how = None, "no champion metric"
        if base is not None:
            q = min(max(float(base), 0.0), 1.0)
            se = np.sqrt(q * (1 - q) / n_cur + (q * (1 - q) / n_champ if n_champ else 0.0))
            floor = float(base) - max(min_drop, 2 * se)
            how = f"champion test {name} minus max({min_drop:g}, 2 SE)"
        out.append(DriftCheck(name=name, kind="quality", value=float(value), threshold=floor, method=how,
                              drifted=floor is not None and value < floor))
    return out


def build_report(reference: pd.DataFrame, current: pd.DataFrame, drift_share: float,
                 include_prediction: bool = True):
    """The Evidently report definition and the two Evidently datasets (not yet run)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    outputs = [c for c in OUTPUT_NUMERIC if c in reference.columns and c in current.columns]
    numeric = list(DESCRIPTOR_COLUMNS) + (outputs if include_prediction else [])
    categorical = ["prediction"] if include_prediction and "prediction" in reference.columns else []
    tested = numeric + categorical
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    metrics: list = [DriftedColumnsCount(columns=tested, drift_share=drift_share)]
    metrics += [ValueDrift(column=c) for c in tested]
    ref = Dataset.from_pandas(reference[tested], data_definition=definition)
    cur = Dataset.from_pandas(current[tested], data_definition=definition)
    return Report(metrics, include_tests=True), ref, cur


def review_check(reference_conf, current_conf, threshold: float, min_rise: float = MIN_REVIEW_RISE) -> DriftCheck:
    """The share of the batch the champion sends to review (confidence below its review threshold:
    tasks/evaluate/calibration.py) against the reference's share: drift when it rises by more than
    max(``min_rise``, 2 standard errors of the difference)."""
    ref, cur = np.asarray(reference_conf, dtype=float), np.asarray(current_conf, dtype=float)
    base, now = (float((x < threshold).mean()) if len(x) else 0.0 for x in (ref, cur))
    se = np.sqrt(base * (1 - base) * (1 / max(len(cur), 1) + 1 / max(len(ref), 1)))
    limit = base + max(min_rise, 2 * float(se))
    return DriftCheck(name="review_share", kind="review", value=now, threshold=limit,
                      method=f"share with confidence below the review threshold {threshold:.4f} (reference "
                             f"{base:.3f}; limit reference + max({min_rise:g}, 2 SE))", drifted=now > limit)


def null_auc_sd(n_reference: int, n_current: int) -> float:
    """Standard deviation of a held-out ROC AUC when both samples share one distribution.

    Evidently's domain classifier scores half of the pooled rows; with few rows its AUC wanders far
    enough above 0.5 by chance to cross a fixed 0.55, so the threshold is raised to 0.5 + 3 SD.
    """
    n1, n2 = max(n_reference // 2, 1), max(n_current // 2, 1)
    return float(np.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2)))


def embedding_check(reference_emb: np.ndarray, current_emb: np.ndarray, threshold: float) -> DriftCheck:
    """Evidently's embedding drift method (a reference-vs-current classifier's ROC AUC).

    Called directly rather than through ``EmbeddingsDrift`` in the report: that metric also draws a
    t-SNE of up to 5,000 points, which costs more than the rest of the monitor on two cores.
    """
    from evidently.metrics.embeddings import ModelDriftMethod

    effective = max(threshold, 0.5 + 3 * null_auc_sd(len(reference_emb), len(current_emb)))
    auc, drifted, _ = ModelDriftMethod(threshold=effective)(embedding_frame(current_emb),
                                                            embedding_frame(reference_emb))
    return DriftCheck(name="embedding_drift", kind="embedding", value=float(auc), threshold=float(effective),
                      method=f"domain classifier ROC AUC on the champion's embeddings ({len(reference_emb)} vs "
                             f"{len(current_emb)} rows; threshold max({threshold:g}, 0.5 + 3 SD))",
                      drifted=bool(drifted))


def read_checks(snapshot: dict) -> list[DriftCheck]:
    """Turn Evidently's metrics and test statuses into DriftChecks (FAIL = drift detected)."""
    status = {t["metric_config"]["metric_id"]: t["status"] for t in snapshot["tests"]}
    checks = []
    for m in snapshot["metrics"]:
        cfg, value, failed = m["config"], m["value"], status.get(m["id"]) == "FAIL"
        kind = cfg["type"].rsplit(":", 1)[-1]
        if kind == "DriftedColumnsCount":
            checks.append(DriftCheck(name="drifted_columns_share", kind="columns", value=float(value["share"]),
                                     threshold=float(cfg["drift_share"]),
                                     method=f"{int(value['count'])} of {len(cfg['columns'])} columns drifted",
                                     drifted=failed))
        elif kind == "ValueDrift":
            col = cfg["column"]
            checks.append(DriftCheck(name=col, kind="prediction" if col in PREDICTION_COLUMNS else "descriptor",
                                     value=float(value), threshold=float(cfg["threshold"]),
                                     method=str(cfg["method"]), drifted=failed))
    return checks


def compute_drift(reference: pd.DataFrame, current: pd.DataFrame, *, drift_share: float,
                  embedding_threshold: float, reference_emb: np.ndarray | None = None,
                  current_emb: np.ndarray | None = None, include_prediction: bool = True,
                  champion_metrics: dict | None = None, min_accuracy_drop: float = 0.05,
                  batch_rows: int | None = None, html_out: Path | None = None,
                  review_threshold: float | None = None) -> DriftReport:
    """Run the Evidently report on two prepared frames and read its verdicts.

    Adds the embedding check when both embedding arrays are given, accuracy/macro-F1 against the
    champion's test metrics when ``current`` has labels, and the share sent to review when the champion has a
    review threshold.
    """
    report, ref, cur = build_report(reference, current, drift_share, include_prediction)
    snapshot = report.run(cur, ref)
    checks = read_checks(snapshot.dict())
    if reference_emb is not None and current_emb is not None:
        checks.append(embedding_check(reference_emb, current_emb, embedding_threshold))
    if review_threshold is not None and "confidence" in reference.columns and "confidence" in current.columns:
        checks.append(review_check(reference["confidence"], current["confidence"], review_threshold))
    labelled = 0
    if "label" in current.columns and "prediction" in current.columns:
        labelled = int(current["label"].notna().sum())
        checks += quality_checks(current["label"], current["prediction"], champion_metrics, min_accuracy_drop)
    if html_out is not None:
        html_out.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_out))
    return DriftReport(checks=checks, reference_rows=len(reference), current_rows=len(current),
                       batch_rows=batch_rows if batch_rows is not None else len(current),
                       labelled_rows=labelled, html=str(html_out) if html_out else None)


def summary_table(report: DriftReport) -> list[dict]:
    """Rows for the Prefect table artifact: check, value, threshold, method, drifted."""
    def r(x):
        return None if x is None else round(x, 4)

    return [{"check": c.name, "kind": c.kind, "value": r(c.value), "threshold": r(c.threshold),
             "method": c.method, "drifted": c.drifted} for c in report.checks]
