"""Calibration and the robustness suite of one classifier folder, sharing what they both need.

Both score the clean test split with the unscaled model: ``model_checks`` loads the model once and scores that
split once, then hands the probabilities to ``calibration.calibrate`` and the labels to
``robustness.robustness_test`` (which then scores only the perturbed documents whose token ids changed). The
pipeline's ``validate_model`` task and ``benchmarks/validation_bench.py`` run this; a re-validation calls the
two separately, from scratch.
"""

from __future__ import annotations

from pathlib import Path

from tasks.evaluate.calibration import calibrate
from tasks.evaluate.robustness import robustness_test


def clean_pass(model_dir: Path, test_uri: str):
    """(the loaded classifier at temperature 1, its probabilities and labels on the test split's labelled rows,
    in order); None for a causal LM."""
    import pandas as pd

    from tasks.predict.classify import load_model, predict_texts
    from tasks.predict.folder import read_train_config

    if read_train_config(model_dir).get("task", "classification") != "classification":
        return None
    model = load_model(model_dir)
    model.temperature = 1.0
    texts = pd.read_parquet(test_uri, columns=["text", "label"]).dropna(subset=["label"])["text"].astype(str)
    pred = predict_texts(model, texts.tolist())
    return model, pred.probs, pred.labels


def model_checks(model_dir: Path, val_uri: str | None, test_uri: str, fit: bool = True,
                 target_accuracy: float | None = None, seed: int = 0, write: bool = True) -> dict[str, dict]:
    """``{"calibration": …, "robustness": …}`` of ``model_dir`` (``write``: its ``calibration.json``). The
    shared pass's seconds are counted in the calibration record's, so the two records' add up to the whole."""
    import time

    t = time.perf_counter()
    model, probs, labels = clean_pass(Path(model_dir), test_uri) or (None, None, None)
    shared = time.perf_counter() - t
    cal = calibrate(Path(model_dir), val_uri, test_uri, fit, target_accuracy, write, model=model, test_probs=probs)
    if cal.get("measured"):
        cal["seconds"] = round(cal["seconds"] + shared, 3)
    rob = robustness_test(Path(model_dir), test_uri, seed=seed, model=model, clean=labels)
    return {"calibration": cal, "robustness": rob}
