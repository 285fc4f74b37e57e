"""Evaluate a fine-tuned model on the recorded test split: the numbers promotion is decided on.

Pure metric functions (numpy + scikit-learn) and ``evaluate_dir``, which loads a model folder and scores the
test split; the ``evaluate_model`` task (``task.py``) writes the report to ``eval.json``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from tasks.evaluate.stats import RowScores


class EvalReport(BaseModel):
    """Test-split metrics of one model version; no document text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # None for a causal LM whose responses are not class labels (then per_class/confusion/labels are empty).
    accuracy: float | None
    macro_f1: float | None
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: list[list[int]]  # rows: true label, columns: predicted, in ``labels`` order
    labels: list[str]
    ece: float | None
    n: int
    rouge_l: float | None = None  # causal-LM only
    perplexity: float | None = None  # causal-LM only

    def metric(self, name: str) -> float | None:
        """A headline metric by name (``accuracy``, ``macro_f1``, ``ece``, ``rouge_l``, ``perplexity``)."""
        value = getattr(self, name, None)
        return float(value) if isinstance(value, (int, float)) else None


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if confidence.size == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            ece += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(ece)


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists (O(len(a)·len(b)), one row of memory)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 on lower-cased whitespace tokens."""
    p, r = prediction.lower().split(), reference.lower().split()
    lcs = lcs_length(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def perplexity(token_nll_sum: float, token_count: int) -> float:
    """exp(mean negative log-likelihood per token)."""
    return float(math.exp(token_nll_sum / max(token_count, 1)))


def compute_metrics(
    y_true: list[str],
    y_pred: list[str],
    confidence: np.ndarray,
    labels: list[str],
    generations: list[str] | None = None,
    references: list[str] | None = None,
    nll: tuple[float, int] | None = None,
) -> EvalReport:
    """All classification metrics (plus ROUGE-L / perplexity when generations or NLL are given)."""
    # Not at the top: every flow imports this module for EvalReport, and sklearn.metrics alone is ~2 s of CPU
    # in each flow-run process (a retrain the gate skips, a `tunegate` command that trains nothing).
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(labels) or sorted(set(y_true) | set(y_pred))
    extra = sorted((set(y_true) | set(y_pred)) - set(labels))
    labels = labels + extra
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    # Macro-F1 over the classes present in the test split, so an unseen extra label does not drag it to 0.
    present = [i for i, lab in enumerate(labels) if s[i] > 0] or list(range(len(labels)))
    correct = np.array([t == q for t, q in zip(y_true, y_pred)], dtype=float)
    report = dict(
        accuracy=float(correct.mean()) if len(correct) else 0.0,
        macro_f1=float(np.mean([f[i] for i in present])),
        per_class={
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        confusion=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        labels=labels,
        ece=expected_calibration_error(confidence, correct),
        n=len(y_true),
    )
    if generations is not None and references is not None:
        report["rouge_l"] = float(np.mean([rouge_l(g, t) for g, t in zip(generations, references)] or [0.0]))
    if nll is not None:
        report["perplexity"] = perplexity(*nll)
    return EvalReport(**report)


NO_LABEL = "_unmatched"  # a generation that is none of the labels


def match_label(generation: str, labels: list[str]) -> str:
    """The label a generated response names (exact match, case and surrounding space ignored), else NO_LABEL."""
    lookup = {lab.strip().lower(): lab for lab in labels}
    return lookup.get(generation.strip().lower(), NO_LABEL)


def causal_metrics(references: list[str], generations: list[str], nll: tuple[float, int],
                   confidence: np.ndarray | None = None, labels_are_targets: bool = False) -> EvalReport:
    """ROUGE-L and perplexity of a causal LM; when its targets are class labels, classification metrics too.

    With ``labels_are_targets`` each generation is matched to a label (``match_label``) and scored like a
    classifier, its ``confidence`` (probability of the generated sequence) giving the ECE.
    """
    if labels_are_targets:
        labels = sorted(set(references))
        conf = np.asarray(confidence if confidence is not None else np.zeros(len(references)), dtype=float)
        return compute_metrics(references, [match_label(g, labels) for g in generations], conf, labels,
                               generations=generations, references=references, nll=nll)
    return EvalReport(
        accuracy=None, macro_f1=None, per_class={}, confusion=[], labels=[], ece=None, n=len(references),
        rouge_l=float(np.mean([rouge_l(g, t) for g, t in zip(generations, references)] or [0.0])),
        perplexity=perplexity(*nll),
    )


def summary_line(report: EvalReport) -> str:
    """The headline metrics that a report has, as one line of numbers."""
    names = [("accuracy", "accuracy"), ("macro-F1", "macro_f1"), ("ECE", "ece"), ("ROUGE-L", "rouge_l"),
             ("perplexity", "perplexity")]
    return ", ".join(f"{label} {report.metric(name):.4f}" for label, name in names if report.metric(name) is not None)


def score_model_dir(model_dir: Path, texts: list[str], batch_size: int = 64):
    """Load a training output folder and predict ``texts`` (a ``tasks.predict.classify.Predictions``)."""
    from tasks.predict.classify import load_model, predict_texts

    return predict_texts(load_model(Path(model_dir)), texts, batch_size=batch_size)


def evaluate_frame(model_dir: Path, texts: list[str], gold: list[str], batch_size: int = 64) -> EvalReport:
    """Score a classification model folder on labelled texts and compute its EvalReport."""
    return scored_frame(model_dir, texts, gold, batch_size)[0]


def scored_frame(model_dir: Path, texts: list[str], gold: list[str],
                 batch_size: int = 64) -> tuple[EvalReport, RowScores]:
    """``evaluate_frame``'s report and the per-row outputs it was computed from (``stats.RowScores``)."""
    preds = score_model_dir(model_dir, texts, batch_size)
    report = compute_metrics(gold, list(preds.labels), np.asarray(preds.confidence), list(preds.label_names))
    return report, RowScores.of_classes(report.labels, gold, list(preds.labels), preds.confidence, preds.probs)


def evaluate_causal(model_dir: Path, prompts: list[str], targets: list[str], labels_are_targets: bool = False,
                    max_new_tokens: int | None = None, batch_size: int = 16) -> tuple[EvalReport, RowScores]:
    """Score a causal-LM model folder: response NLL (perplexity) and greedy generations (ROUGE-L), with the
    per-row scores they were computed from."""
    from tasks.predict.generate import (
        DEFAULT_MAX_NEW_TOKENS,
        generate_responses,
        load_causal_model,
        response_nll,
    )

    model = load_causal_model(Path(model_dir))
    nll = response_nll(model, prompts, targets, batch_size=max(1, batch_size // 2))
    gen = generate_responses(model, prompts, max_new_tokens or DEFAULT_MAX_NEW_TOKENS, batch_size=batch_size)
    report = causal_metrics(targets, gen.texts, nll.total(), gen.confidence, labels_are_targets)
    rows = RowScores(labels=[], rouge_l=np.array([rouge_l(g, t) for g, t in zip(gen.texts, targets)]),
                     nll=np.asarray(nll.nll, dtype=float), tokens=np.asarray(nll.tokens))
    if labels_are_targets:
        classes = RowScores.of_classes(report.labels, targets, [match_label(g, report.labels) for g in gen.texts],
                                       np.asarray(gen.confidence, dtype=float))
        rows = RowScores(**{**vars(classes), "rouge_l": rows.rouge_l, "nll": rows.nll, "tokens": rows.tokens})
    return report, rows


def evaluate_dir(model_dir: Path, test_uri: str, label_is_text: bool = False) -> EvalReport:
    """Score a model folder on a test split file (``scored_dir``'s report)."""
    return scored_dir(model_dir, test_uri, label_is_text)[0]


def scored_dir(model_dir: Path, test_uri: str, label_is_text: bool = False) -> tuple[EvalReport, RowScores]:
    """Score a model folder on a test split file, by the task in its ``train_config.json``; the report and
    its per-row outputs, in the split's row order.

    A classification model is scored on ``label``. A causal LM is scored on the column it was trained to
    produce (``response``, else ``label``); when that is ``label`` and a class name (not ``label_is_text``:
    free text has no classes, and per-class metrics would be named by it) it is also scored as a classifier.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    from tasks.predict.folder import read_train_config
    from tasks.train.data import read_split, target_column

    model_dir = Path(model_dir)
    if read_train_config(model_dir).get("task", "classification") == "causal_lm":
        column = target_column(pq.read_schema(test_uri).names, "causal_lm")
        prompts, targets = read_split(test_uri, "causal_lm")
        return evaluate_causal(model_dir, prompts, targets, labels_are_targets=column == "label" and not label_is_text)
    df = pd.read_parquet(test_uri, columns=["text", "label"])
    return scored_frame(model_dir, df["text"].astype(str).tolist(), df["label"].astype(str).tolist())
