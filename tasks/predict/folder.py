"""Reading a model folder a training run wrote (``tasks/train/recipe.py``): its ``train_config.json`` and, for a
classifier, ``label_map.json``. Plain JSON, no torch: callers that only need the task or the labels stay light."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.errors import InputError


def read_model_json(model_dir: Path, name: str) -> dict:
    """``name`` of a model folder; InputError when the folder is not one."""
    path = Path(model_dir) / name
    if not path.is_file():
        raise InputError(f"{path}: missing; {Path(model_dir)} is not a tunegate model folder (expected adapter/, "
                         "tokenizer/, train_config.json and, for a classifier, label_map.json). Point at the model/ "
                         "folder a training run wrote.")
    return json.loads(path.read_text())


def read_train_config(model_dir: Path) -> dict:
    """``train_config.json`` of a model folder: the task, method, base model and the numbers training used."""
    return read_model_json(model_dir, "train_config.json")


def read_labels(model_dir: Path) -> list[str]:
    """A classifier's class names, in the order of its output columns (``label_map.json``)."""
    return read_model_json(model_dir, "label_map.json")["labels"]


CALIBRATION_FILE = "calibration.json"  # written by tasks/evaluate/calibration.py: the temperature and review threshold


def read_calibration(model_dir: Path) -> dict:
    """A classifier folder's ``calibration.json`` (temperature, review threshold), or {} when it has none."""
    path = Path(model_dir) / CALIBRATION_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def needs_review(confidence, record: dict):
    """Per document (a bool array), whether it goes to a person under a folder's ``calibration.json``: below the
    review threshold, or every one when no threshold met the target; None when no ``evaluate.target_accuracy``."""
    import numpy as np

    if record.get("target_accuracy") is None:
        return None
    conf, threshold = np.asarray(confidence, dtype=float), record.get("review_threshold")
    return np.ones(len(conf), dtype=bool) if threshold is None else conf < threshold
