"""Can the model's confidence be trusted to send hard cases to a person? Temperature scaling and the review threshold.

- **Temperature scaling** (Guo et al., 2017): one number T divides the classifier's logits, fitted by minimising
  the negative log-likelihood on the **validation** split (never the test split the numbers are reported on).
  It changes no prediction, only the confidence. T is written to the model folder's ``calibration.json``
  (``tasks/predict/folder.py``), so the scaled model is what evaluation scores and predict serves, and it is
  registered with the version. No validation split (``split.val_fraction: 0``): T stays 1 and the record says so.
- **Coverage-accuracy curve** on the test split: the documents are ordered by (scaled) confidence; automating
  those at or above a threshold gives a coverage (share automated) and an accuracy (of the automated share).
- **Review threshold**: ``evaluate.target_accuracy`` (e.g. 0.98) chooses the lowest threshold whose automated
  share is at least that accurate on the test split, i.e. the largest coverage that meets the target; predict
  marks documents below it ``needs_review: true``
  (``tasks.predict.folder.needs_review``). When no threshold meets it, every document goes to review.
  The automation rate (coverage) is stated with a 95 % Wilson interval over the test rows: a self-contained
  binomial interval, not the paired bootstrap of ``stats.py``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from tasks.evaluate.metrics import expected_calibration_error
from tasks.predict.folder import CALIBRATION_FILE

T_BOUNDS = (0.05, 20.0)
CURVE_POINTS = 20


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes at ``temperature``."""
    p = softmax(logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in ``T_BOUNDS`` minimising the validation NLL of softmax(logits / T) (1.0 without rows)."""
    from scipy.optimize import minimize_scalar

    if len(labels) == 0:
        return 1.0
    lo, hi = (math.log(b) for b in T_BOUNDS)
    best = minimize_scalar(lambda t: nll(logits, labels, math.exp(t)), bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-4})
    return float(math.exp(best.x))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z * z / n)), min(1.0, (centre + half) / (1 + z * z / n))


def coverage_curve(confidence: np.ndarray, correct: np.ndarray) -> list[dict]:
    """(threshold, coverage, accuracy) at each distinct confidence, highest first: automating the documents at
    or above the threshold covers that share at that accuracy."""
    conf, ok = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    hits, n = np.cumsum(ok), len(conf)
    ends = [i for i in range(n) if i == n - 1 or conf[i + 1] < conf[i]]  # the last row of each tie group
    return [{"threshold": float(conf[i]), "coverage": (i + 1) / n, "accuracy": float(hits[i] / (i + 1))}
            for i in ends]


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> dict:
    """The lowest confidence threshold whose automated share is at least ``target`` accurate (largest coverage),
    with the automation rate's and the automated accuracy's Wilson intervals; ``threshold`` None: none meets it."""
    n = len(confidence)
    met = [p for p in coverage_curve(confidence, correct) if p["accuracy"] >= target - 1e-12]
    best = max(met, key=lambda p: p["coverage"]) if met else None
    automated = round(best["coverage"] * n) if best else 0
    right = round(best["accuracy"] * automated) if best else 0
    return {"target_accuracy": target, "threshold": best["threshold"] if best else None, "n": n,
            "automated": automated, "automation_rate": automated / n if n else 0.0,
            "automation_rate_95": list(wilson(automated, n)),
            "accuracy_automated": best["accuracy"] if best else None,
            "accuracy_automated_95": list(wilson(right, automated)) if automated else None}


def thin(curve: list[dict], points: int = CURVE_POINTS) -> list[dict]:
    """At most ``points`` of the curve, evenly spaced in coverage (the last always kept), for the record."""
    if len(curve) <= points:
        return curve
    picks = sorted({int(round(x)) for x in np.linspace(0, len(curve) - 1, points)})
    return [curve[i] for i in picks]


def _logits(model, texts: list[str]) -> np.ndarray:
    from tasks.predict.classify import predict_texts

    # log-probabilities are the logits up to a per-row constant, which softmax ignores
    return np.log(np.clip(predict_texts(model, texts).probs.astype(np.float64), 1e-12, 1.0))


def _labelled(uri: str) -> tuple[list[str], list[str]]:
    import pandas as pd

    df = pd.read_parquet(uri, columns=["text", "label"]).dropna(subset=["label"])
    return df["text"].astype(str).tolist(), df["label"].astype(str).tolist()


def training_logits(model_dir: Path, val_uri: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(logits, labels) of the validation split's labelled rows from the training's last validation pass
    (``VAL_LOGITS_FILE``: the same weights, before the adapter is folded in, at the same precision), or None
    where the folder has none or they are not exactly the split's rows and labels (then it is scored)."""
    from tasks.predict.folder import read_labels
    from tasks.train import VAL_LOGITS_FILE

    path = Path(model_dir) / VAL_LOGITS_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            logits, labels = np.asarray(f["logits"], np.float64), np.asarray(f["labels"], np.int64)
    except (OSError, KeyError, ValueError):
        return None
    names = read_labels(Path(model_dir))
    index = {name: i for i, name in enumerate(names)}
    gold = [index[g] for g in _labelled(val_uri)[1] if g in index]
    known = labels >= 0  # training marks a class it does not know with a negative id
    if logits.ndim != 2 or logits.shape != (len(labels), len(names)) or not np.isfinite(logits).all() \
            or labels[known].tolist() != gold:
        return None
    return logits[known], labels[known]


def fit_on_validation(model_dir: Path, val_uri: str | None, fit: bool = True, model=None,
                      write: bool = False, from_training: bool = False) -> dict:
    """T fitted on the validation split (``fit``; 1 without one): ``{"temperature", "how", "val_rows",
    "seconds"}``. ``write``: the model folder's ``calibration.json`` gets T now (no review threshold yet), so
    that the evaluation that follows scores the scaled model; ``calibrate`` completes it. ``from_training``:
    on the training's own last validation pass where the folder holds it (``training_logits``; the pipeline),
    else the split is scored (a re-validation always scores it)."""
    from tasks.predict.classify import load_model

    t0 = time.perf_counter()
    stored = training_logits(model_dir, val_uri) if fit and val_uri is not None and from_training else None
    if not fit:
        temperature, how, val_rows = 1.0, "not fitted (evaluate.calibrate: false)", 0
    elif val_uri is None:
        temperature, how, val_rows = 1.0, "not fitted: the split has no validation part (split.val_fraction: 0)", 0
    elif stored is not None:
        temperature, val_rows = fit_temperature(*stored), len(stored[1])
        how = "fitted on the validation split, logits from the training's last validation pass"
    else:
        model = model or load_model(Path(model_dir))
        model.temperature = 1.0  # fitted on the raw logits, whatever an earlier run wrote
        index = {name: i for i, name in enumerate(model.label_names)}
        texts, gold = _labelled(val_uri)
        keep = [i for i, g in enumerate(gold) if g in index]
        logits, labels = _logits(model, [texts[i] for i in keep]), np.array([index[gold[i]] for i in keep], dtype=int)
        temperature, how, val_rows = fit_temperature(logits, labels), "fitted on the validation split", len(keep)
    fitted = {"temperature": temperature, "how": how, "val_rows": val_rows,
              "seconds": round(time.perf_counter() - t0, 3)}
    if write:
        _write(Path(model_dir), {"temperature": round(temperature, 6), "how": how, "target_accuracy": None,
                                 "review_threshold": None})
    return fitted


def unscaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities at T = 1 of probabilities scored at ``temperature``: log p is logits / T up to a
    per-row constant, so softmax(T log p) recovers softmax(logits) (to float precision: the evaluation's stored
    outputs, ``validate_model``, are turned back into the unscaled model's)."""
    return softmax(temperature * np.log(np.clip(np.asarray(probs, np.float64), 1e-30, 1.0)))


def calibrate(model_dir: Path, val_uri: str | None, test_uri: str, fit: bool = True,
              target_accuracy: float | None = None, write: bool = True, model=None,
              test_probs: np.ndarray | None = None, fitted: dict | None = None) -> dict:
    """Fit T on the validation split (``fit``), compute the test split's coverage-accuracy curve and (with
    ``target_accuracy``) the review threshold; write the model folder's ``calibration.json`` (``write``: a
    re-validation recomputes without writing); return the record. ``model``: the folder's model already loaded;
    ``test_probs``: its unscaled class probabilities on the test split's labelled rows, in order, when the caller
    has them already (``validate_model``: from the evaluation's stored outputs); ``fitted``:
    ``fit_on_validation``'s record when T was fitted before (the validation split is not scored again)."""
    from tasks.predict.classify import load_model
    from tasks.predict.folder import read_labels, read_train_config

    t0 = time.perf_counter()
    model_dir = Path(model_dir)
    if read_train_config(model_dir).get("task", "classification") != "classification":
        return {"measured": False, "why": "a causal LM: calibration and the review threshold are for classifiers"}
    if test_probs is None or (fitted is None and fit and val_uri is not None):
        model = model or load_model(model_dir)
        model.temperature = 1.0
    before = fitted["seconds"] if fitted else 0.0  # a fit done earlier (calibrate_model); one done here is timed
    fitted = fitted or fit_on_validation(model_dir, val_uri, fit, model)
    temperature = fitted["temperature"]
    names = model.label_names if model is not None else read_labels(model_dir)
    texts, gold = _labelled(test_uri)
    logits = _logits(model, texts) if test_probs is None else np.log(np.clip(np.asarray(test_probs, np.float64),
                                                                             1e-12, 1.0))
    correct = np.array([names[j] == g for j, g in zip(logits.argmax(axis=1), gold)], dtype=float)
    raw, scaled = softmax(logits).max(axis=1), softmax(logits, temperature).max(axis=1)
    curve = coverage_curve(scaled, correct)
    review = choose_threshold(scaled, correct, target_accuracy) if target_accuracy is not None else None
    record = {"measured": True, "method": "temperature scaling", "temperature": round(temperature, 6),
              "how": fitted["how"], "val_rows": fitted["val_rows"], "test_rows": len(gold),
              "ece_before": round(expected_calibration_error(raw, correct), 6),
              "ece_after": round(expected_calibration_error(scaled, correct), 6),
              "target_accuracy": target_accuracy, "review_threshold": review["threshold"] if review else None,
              "review": review, "curve": thin(curve),
              "seconds": round(time.perf_counter() - t0 + before, 3)}
    if write:
        _write(model_dir, {k: record[k] for k in ("temperature", "how", "target_accuracy", "review_threshold")})
    return record


def _write(model_dir: Path, record: dict) -> None:
    import json

    from tasks.refs import atomic_file

    with atomic_file(model_dir / CALIBRATION_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=2))
