"""Decide whether a drift report calls for retraining: pure, table-tested, no side effects.

A batch counts as drifted when any of these holds:
- Evidently's share of drifted columns (descriptors, and the prediction columns when
  ``prediction_drift`` is on) reaches ``drift_share``;
- the embedding domain classifier's ROC AUC is above ``embedding_drift_threshold``;
- on labelled batches, accuracy or macro-F1 fell more than ``min_accuracy_drop`` below the champion's;
- the share of the batch the champion sends to review (``evaluate.target_accuracy``) rose by more than
  max(0.05, 2 SE) above the reference's share (``drift.review_check``).
Single drifted columns are reported as reasons' context but do not trigger on their own: with several
columns tested at p < 0.05 on small batches one of them drifts by chance about one time in five.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tasks.monitor.drift import DriftReport


class RetrainDecision(BaseModel):
    """A verdict with the reasons behind it (also when the verdict is 'no drift')."""

    model_config = ConfigDict(frozen=True)

    drift: bool
    reasons: list[str]


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def should_retrain(report: DriftReport, policy, min_batch_rows: int | None = None) -> RetrainDecision:
    """Apply a MonitorConfig-like policy (``min_batch_rows``, ``prediction_drift``) to a DriftReport."""
    min_rows = policy.min_batch_rows if min_batch_rows is None else min_batch_rows
    if report.current_rows < min_rows:
        return RetrainDecision(drift=False, reasons=[
            f"batch too small to judge: {report.current_rows} rows < monitor.min_batch_rows={min_rows}"])
    reasons, quiet = [], []
    cols = report.check("drifted_columns_share")
    if cols is not None:
        drifted = [c.name for c in report.checks if c.kind in ("descriptor", "prediction") and c.drifted]
        line = (f"column drift {cols.method} (share {_fmt(cols.value)} vs drift_share {_fmt(cols.threshold)}"
                + (f": {', '.join(drifted)})" if drifted else ")"))
        (reasons if cols.drifted else quiet).append(line)
    emb = report.check("embedding_drift")
    if emb is not None:
        line = f"embedding drift ROC AUC {_fmt(emb.value)} vs threshold {_fmt(emb.threshold)}"
        (reasons if emb.drifted else quiet).append(line)
    review = report.check("review_share")
    if review is not None:
        line = f"share sent to review {_fmt(review.value)} vs limit {_fmt(review.threshold)} ({review.method})"
        (reasons if review.drifted else quiet).append(line)
    for name in ("accuracy", "macro_f1"):
        q = report.check(name)
        if q is not None and q.threshold is not None:
            line = f"{name} {_fmt(q.value)} vs floor {_fmt(q.threshold)} ({report.labelled_rows} labelled rows)"
            (reasons if q.drifted else quiet).append(line)
    return RetrainDecision(drift=bool(reasons), reasons=reasons or quiet)
