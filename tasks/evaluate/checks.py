"""Calibration and the robustness suite of one classifier folder, sharing what they both need.

Both need the clean test split scored. In the pipeline the evaluation has scored it already: T is fitted on
the validation split first (``fit_calibration``: the evaluation scores the scaled model), the candidate is
evaluated, and ``model_checks`` then takes the evaluation's stored per-row outputs (``evaluated``): their
probabilities, turned back into the unscaled model's, give the coverage-accuracy curve, the review threshold and
the ECE before scaling; their predictions are the robustness suite's clean ones, so that the suite scores only
the perturbed documents whose token ids changed. Without them (``benchmarks/validation_bench.py``, a folder
checked on its own) the model is loaded once and scores the clean split once for both. A re-validation calls
the two separately, from scratch.
"""

from __future__ import annotations

from pathlib import Path

from tasks.evaluate.calibration import calibrate, fit_on_validation, unscaled
from tasks.evaluate.robustness import robustness_test


def is_classifier(model_dir: Path) -> bool:
    from tasks.predict.folder import read_train_config

    return read_train_config(Path(model_dir)).get("task", "classification") == "classification"


def clean_pass(model_dir: Path, test_uri: str):
    """(the loaded classifier at temperature 1, its probabilities and labels on the test split's labelled rows,
    in order); None for a causal LM."""
    import pandas as pd

    from tasks.predict.classify import load_model, predict_texts

    if not is_classifier(model_dir):
        return None
    model = load_model(model_dir)
    model.temperature = 1.0
    texts = pd.read_parquet(test_uri, columns=["text", "label"]).dropna(subset=["label"])["text"].astype(str)
    pred = predict_texts(model, texts.tolist())
    return model, pred.probs, pred.labels


def fit_calibration(model_dir: Path, val_uri: str | None, fit: bool = True, write: bool = True) -> dict | None:
    """T on the validation split, written to the folder's ``calibration.json`` before the evaluation scores
    the test split (``calibration.fit_on_validation``; from the training's last validation pass where the
    folder holds it); None for a causal LM."""
    return fit_on_validation(Path(model_dir), val_uri, fit, write=write, from_training=True) \
        if is_classifier(model_dir) else None


def _from_evaluation(evaluated, test_uri: str, temperature: float):
    """(unscaled probabilities, predicted labels) of the test split's labelled rows from the evaluation's
    per-row outputs, or None where they do not cover exactly those rows (then the split is scored again)."""
    import pandas as pd

    if evaluated is None or evaluated.probs is None or evaluated.pred is None:
        return None
    gold = pd.read_parquet(test_uri, columns=["label"])["label"]
    if gold.isna().any() or len(gold) != evaluated.n:
        return None
    return unscaled(evaluated.probs, temperature), [evaluated.labels[i] for i in evaluated.pred]


def model_checks(model_dir: Path, val_uri: str | None, test_uri: str, fit: bool = True,
                 target_accuracy: float | None = None, seed: int = 0, write: bool = True,
                 fitted: dict | None = None, evaluated=None) -> dict[str, dict]:
    """``{"calibration": …, "robustness": …}`` of ``model_dir`` (``write``: its ``calibration.json``).
    ``fitted``: ``fit_calibration``'s record; ``evaluated``: the evaluation's per-row outputs
    (``stats.RowScores``) of the model scaled by that T. The shared pass's seconds are counted in the
    calibration record's, so the two records' add up to the whole."""
    import time

    model_dir = Path(model_dir)
    t = time.perf_counter()
    reused = _from_evaluation(evaluated, test_uri, fitted["temperature"]) if fitted else None
    if reused is not None:
        model, (probs, labels) = None, reused
    else:
        model, probs, labels = clean_pass(model_dir, test_uri) or (None, None, None)
    shared = time.perf_counter() - t
    cal = calibrate(model_dir, val_uri, test_uri, fit, target_accuracy, write, model=model, test_probs=probs,
                    fitted=fitted)
    if cal.get("measured"):
        cal["seconds"] = round(cal["seconds"] + shared, 3)
        cal["test_scored"] = "the evaluation's outputs" if reused is not None else "scored for the checks"
    rob = robustness_test(model_dir, test_uri, seed=seed, model=model, clean=labels)
    return {"calibration": cal, "robustness": rob}
