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
