"""Intervals and significance from stored per-row outputs: a paired bootstrap and McNemar's exact test.

Evaluation stores each model's per-row outputs on the test split beside its eval.json (``RowScores``: true
and predicted label index, confidence, class probabilities; per-row ROUGE-L and response NLL for a causal LM;
never text). Everything here is computed from those files: no model is run again.

The bootstrap is paired: one seeded matrix of row draws serves every model, so the interval of a difference
(candidate − champion, candidate − baseline) is that of the same resampled rows. Draws become a weight matrix
``W`` (resamples × rows, how often each row was drawn), and each metric of each resample is a matrix product
with per-row indicators: no Python loop per row or per resample. Intervals are percentile intervals.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

ECE_BINS = 15  # = metrics.expected_calibration_error's default
LOWER_IS_BETTER = frozenset({"ece", "perplexity"})
_CELLS = 4_000_000  # rows × resamples drawn at once: bounds the weight matrix's memory (32 MB)


@dataclass(frozen=True)
class RowScores:
    """One model's per-row outputs on the test split, in the split's row order (no text)."""

    labels: list[str]  # what the indices name; empty for free-text targets
    true: np.ndarray | None = None  # (n,) int index into labels
    pred: np.ndarray | None = None  # (n,) int index into labels
    confidence: np.ndarray | None = None  # (n,) probability of the prediction
    probs: np.ndarray | None = None  # (n, k): columns are the first k labels
    rouge_l: np.ndarray | None = None  # (n,) causal LM
    nll: np.ndarray | None = None  # (n,) summed response NLL, causal LM
    tokens: np.ndarray | None = None  # (n,) response tokens, causal LM

    @property
    def n(self) -> int:
        return next(len(a) for a in (self.true, self.rouge_l, self.nll, np.zeros(0)) if a is not None)

    @classmethod
    def of_classes(cls, labels: list[str], gold: list[str], pred: list[str], confidence, probs=None) -> RowScores:
        index = {lab: i for i, lab in enumerate(labels)}
        return cls(labels=list(labels), true=np.array([index[g] for g in gold], dtype=np.int64),
                   pred=np.array([index[p] for p in pred], dtype=np.int64),
                   confidence=np.asarray(confidence, dtype=np.float64),
                   probs=None if probs is None else np.asarray(probs, dtype=np.float32))

    def take(self, index: np.ndarray) -> RowScores:
        """The rows at ``index`` (a slice of the test split)."""
        return RowScores(labels=self.labels, **{k: None if (v := getattr(self, k)) is None else v[index] for k in
                                                ("true", "pred", "confidence", "probs", "rouge_l", "nll", "tokens")})

    def relabelled(self, labels: list[str]) -> RowScores:
        """The same rows with indices into ``labels`` (a superset of this model's labels)."""
        if self.true is None or labels == self.labels:
            return self
        to = np.array([labels.index(lab) for lab in self.labels], dtype=np.int64)
        return RowScores(labels=list(labels), true=to[self.true], pred=to[self.pred], confidence=self.confidence,
                         probs=self.probs, rouge_l=self.rouge_l, nll=self.nll, tokens=self.tokens)


def rows_path(eval_json: Path) -> Path:
    """Where the per-row outputs of ``eval.json`` (or ``champion_eval.json`` …) lie: ``<stem>_rows.parquet``."""
    return Path(eval_json).with_name(Path(eval_json).stem + "_rows.parquet")


def write_rows(path: Path, rows: RowScores) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {k: getattr(rows, k) for k in ("true", "pred", "confidence", "rouge_l", "nll", "tokens")}
    data = {"row": np.arange(rows.n)} | {k: v for k, v in cols.items() if v is not None}
    if rows.probs is not None:
        data["probs"] = list(rows.probs)
    table = pa.table(data).replace_schema_metadata({"labels": json.dumps(rows.labels)})
    pq.write_table(table, path)


def read_rows(path: Path) -> RowScores:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    cols = {k: table.column(k).to_numpy() for k in ("true", "pred", "confidence", "rouge_l", "nll", "tokens")
            if k in table.column_names}
    probs = np.stack(table.column("probs").to_pylist()) if "probs" in table.column_names else None
    return RowScores(labels=json.loads(table.schema.metadata[b"labels"]), probs=probs, **cols)


# ---- per-resample metrics: each takes the rows and a weight matrix W (b, n), returns (b,) ---------------------
def _onehot(index: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(index), k))
    ok = (index >= 0) & (index < k)
    out[np.flatnonzero(ok), index[ok]] = 1.0
    return out


def _accuracy(r: RowScores, w: np.ndarray) -> np.ndarray:
    return w @ (r.true == r.pred).astype(float) / r.n


def _macro_f1(r: RowScores, w: np.ndarray) -> np.ndarray:
    """Macro-F1 over the classes present in each resample (as ``compute_metrics`` over the split)."""
    k = len(r.labels)
    t, p = _onehot(r.true, k), _onehot(r.pred, k)
    tp, support, predicted = w @ (t * p), w @ t, w @ p
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _ece(r: RowScores, w: np.ndarray) -> np.ndarray:
    """Σ over bins |Σ confidence − Σ correct| / n: the weighted mean gap of ``expected_calibration_error``."""
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    bins = _onehot(np.clip(np.digitize(r.confidence, edges[1:-1], right=True), 0, ECE_BINS - 1), ECE_BINS)
    gap = bins * (r.confidence - (r.true == r.pred))[:, None]
    return np.abs(w @ gap).sum(axis=1) / r.n


def _rouge_l(r: RowScores, w: np.ndarray) -> np.ndarray:
    return w @ r.rouge_l / r.n


def _perplexity(r: RowScores, w: np.ndarray) -> np.ndarray:
    return np.exp((w @ r.nll) / np.maximum(w @ r.tokens.astype(float), 1.0))


def _metrics_of(r: RowScores) -> dict:
    out = {}
    if r.true is not None:
        out |= {"accuracy": _accuracy, "macro_f1": _macro_f1}
        if r.confidence is not None:
            out["ece"] = _ece
    if r.rouge_l is not None:
        out["rouge_l"] = _rouge_l
    if r.nll is not None and r.tokens is not None:
        out["perplexity"] = _perplexity
    return out


def weights(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Seeded bootstrap draws of ``n`` rows, ``resamples`` times, as weight matrices (a chunk of resamples each)."""
    rng = np.random.default_rng(seed)
    per, done = max(1, min(resamples, _CELLS // max(n, 1))), 0
    while done < resamples:
        b = min(per, resamples - done)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float)
        done += b


def resampled(models: dict[str, RowScores], resamples: int, seed: int) -> tuple[dict, dict]:
    """(point, samples): each model's metrics on all rows, and on each of the same ``resamples`` draws."""
    n = next(iter(models.values())).n
    fns = {name: _metrics_of(r) for name, r in models.items()}
    point = {name: {m: float(f(models[name], np.ones((1, n)))[0]) for m, f in fs.items()} for name, fs in fns.items()}
    parts: dict[str, dict[str, list]] = {name: {m: [] for m in fs} for name, fs in fns.items()}
    for w in weights(n, resamples, seed) if n else ():
        for name, fs in fns.items():
            for m, f in fs.items():
                parts[name][m].append(f(models[name], w))
    samples = {name: {m: np.concatenate(v) if v else np.zeros(0) for m, v in ms.items()} for name, ms in parts.items()}
    return point, samples


class Interval(BaseModel):
    """A point estimate and its bootstrap interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float
    low: float
    high: float

    def text(self, signed: bool = False) -> str:
        f = "{:+.4f}" if signed else "{:.4f}"
        return f"{f.format(self.value)} (95% {f.format(self.low)} to {f.format(self.high)})"


def interval(value: float, samples: np.ndarray, level: float = 0.95) -> Interval:
    if samples.size == 0:
        return Interval(value=value, low=value, high=value)
    lo, hi = np.quantile(samples, [(1 - level) / 2, 1 - (1 - level) / 2])
    return Interval(value=value, low=float(lo), high=float(hi))


def intervals(models: dict[str, RowScores], resamples: int, seed: int,
              against: str = "candidate") -> tuple[dict[str, dict[str, Interval]], dict[str, dict[str, Interval]]]:
    """(each model's metric intervals, the intervals of ``against`` − each other model), paired on the same draws."""
    point, samples = resampled(models, resamples, seed)
    own = {name: {m: interval(v, samples[name][m]) for m, v in ms.items()} for name, ms in point.items()}
    diffs = {other: {m: interval(point[against][m] - point[other][m], samples[against][m] - samples[other][m])
                     for m in point[against] if m in point[other]}
             for other in models if other != against and against in models}
    return own, diffs


class McNemar(BaseModel):
    """McNemar's exact test on the discordant pairs of two classifiers scored on the same rows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    only_first: int  # rows the first model gets right and the second wrong
    only_second: int
    p_value: float

    def text(self) -> str:
        return (f"McNemar exact p={self.p_value:.4f} ({self.only_first} rows only the candidate gets right, "
                f"{self.only_second} only the champion)")


def mcnemar(first_correct: np.ndarray, second_correct: np.ndarray) -> McNemar:
    """Two-sided exact binomial test of the discordant pairs against p = 1/2."""
    from scipy.stats import binomtest

    a, b = np.asarray(first_correct, bool), np.asarray(second_correct, bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if only_a + only_b == 0 else float(binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue)
    return McNemar(only_first=only_a, only_second=only_b, p_value=min(p, 1.0))


class SliceResult(BaseModel):
    """One slice (a column's value, or a length bucket): its rows and each model's metric intervals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    value: str
    rows: int
    gated: bool  # rows >= evaluate.min_slice_rows: promotion.max_slice_regression applies
    metrics: dict[str, dict[str, Interval]]  # model (candidate, champion, baseline) -> metric -> interval
    differences: dict[str, dict[str, Interval]] = {}  # other model -> metric -> candidate − other, same rows

    @property
    def name(self) -> str:
        return f"{self.column}={self.value}"


class ValidationReport(BaseModel):
    """The statistics of one evaluation: intervals, differences, McNemar, slices; no text, no row ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int
    resamples: int
    seed: int
    intervals: dict[str, dict[str, Interval]]  # model -> metric -> interval
    differences: dict[str, dict[str, Interval]]  # other model -> metric -> candidate − other, same rows
    mcnemar: McNemar | None = None  # candidate vs champion
    slices: list[SliceResult] = []
    slice_notes: list[str] = []  # slice columns not sliced, and why
    plots: list[str] = []  # PNG file names beside validation.json

    def mlflow_metrics(self) -> dict[str, float]:
        """The interval bounds as MLflow metrics (``macro_f1_low``, ``diff_champion_macro_f1_high`` …)."""
        own = self.intervals.get("candidate", {})
        out = {f"{m}_{b}": getattr(i, b) for m, i in own.items() for b in ("low", "high")}
        out |= {f"diff_{o}_{m}_{b}": getattr(i, b) for o, d in self.differences.items() for m, i in d.items()
                for b in ("low", "high")}
        return out | ({"mcnemar_p": self.mcnemar.p_value} if self.mcnemar else {})

    def gain(self, other: str, metric: str) -> Interval | None:
        """The candidate's gain over ``other`` on ``metric`` (lower-is-better metrics turned round)."""
        d = self.differences.get(other, {}).get(metric)
        if d is None or metric not in LOWER_IS_BETTER:
            return d
        return Interval(value=-d.value, low=-d.high, high=-d.low)


def align(models: dict[str, RowScores]) -> dict[str, RowScores]:
    """The models' rows with indices into one label list (the candidate's first), so they can be compared."""
    labels: list[str] = []
    for r in models.values():
        labels += [lab for lab in r.labels if lab not in labels]
    return {name: r.relabelled(labels) for name, r in models.items()}


def validation_report(models: dict[str, RowScores], resamples: int, seed: int) -> ValidationReport:
    """Intervals of each model, of the candidate's differences, and McNemar against the champion."""
    models = align({k: v for k, v in models.items() if v is not None and v.n == models["candidate"].n})
    own, diffs = intervals(models, resamples, seed)
    cand, champ = models["candidate"], models.get("champion")
    test = (mcnemar(cand.true == cand.pred, champ.true == champ.pred)
            if champ is not None and cand.true is not None and champ.true is not None else None)
    return ValidationReport(n=cand.n, resamples=resamples, seed=seed, intervals=own, differences=diffs, mcnemar=test)
