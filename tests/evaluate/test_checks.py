"""Calibration and robustness from the evaluation's stored outputs give the records that scoring the clean test
split again gives (``tasks/evaluate/checks.py``): the pipeline scores that split once."""

from __future__ import annotations

import json

import pytest
import torch

from tasks.config import TrainConfig
from tests.tiny_models import LABELS, tiny_bert, toy_split


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A classifier folder as the recipe saves it (random LoRA weights on a tiny encoder) and a toy split."""
    from transformers import AutoTokenizer

    from tasks.train.model import build_model

    tmp = tmp_path_factory.mktemp("checks")
    bert = tiny_bert(tmp / "bert")
    tok = AutoTokenizer.from_pretrained(bert, local_files_only=True)
    t = TrainConfig(base_model=str(bert), pooling="mean", max_length=48, lora={"r": 4, "alpha": 8})
    torch.manual_seed(0)
    model, _ = build_model(t, str(bert), LABELS, tok, torch.device("cpu"))
    with torch.no_grad():  # as after training: B and the head away from their initial values
        for p in (p for p in model.parameters() if p.requires_grad):
            p.copy_(torch.randn_like(p) * 0.5)
    out = tmp / "model"
    model.save_pretrained(out / "adapter")
    tok.save_pretrained(out / "tokenizer")
    (out / "label_map.json").write_text(json.dumps({"labels": LABELS,
                                                    "label2id": {n: i for i, n in enumerate(LABELS)}}))
    (out / "train_config.json").write_text(json.dumps({**t.model_dump(mode="json"), "base_model": str(bert),
                                                       "model_type": "bert"}))
    return out, toy_split(tmp, 240)


def _numbers(record: dict) -> dict:
    keep = ("temperature", "val_rows", "test_rows", "ece_before", "ece_after", "review_threshold")
    return {k: record[k] for k in keep} | {"curve": [x for p in record["curve"] for x in p.values()]}


def test_the_evaluations_outputs_give_the_same_calibration_and_robustness_as_a_second_pass(folder):
    from tasks.evaluate.checks import fit_calibration, model_checks
    from tasks.evaluate.metrics import scored_dir

    model_dir, split = folder
    alone = model_checks(model_dir, split.val.uri, split.test.uri, True, 0.9, seed=3, write=False)
    assert alone["calibration"]["test_scored"] == "scored for the checks"

    fitted = fit_calibration(model_dir, split.val.uri)  # writes T: the evaluation scores the scaled model
    assert json.loads((model_dir / "calibration.json").read_text())["temperature"] == round(fitted["temperature"], 6)
    assert abs(fitted["temperature"] - 1.0) > 0.05  # a scaling that the reuse has to undo (the test can fail)
    _, rows = scored_dir(model_dir, split.test.uri)
    reused = model_checks(model_dir, split.val.uri, split.test.uri, True, 0.9, seed=3, write=False,
                          fitted=fitted, evaluated=rows)
    assert reused["calibration"]["test_scored"] == "the evaluation's outputs"
    a, b = _numbers(alone["calibration"]), _numbers(reused["calibration"])
    assert b.pop("curve") == pytest.approx(a.pop("curve"), abs=1e-5)
    assert b == pytest.approx(a, abs=1e-5)
    assert reused["robustness"]["clean"] == alone["robustness"]["clean"]
    assert {k: (v["value"], v["docs_scored"]) for k, v in reused["robustness"]["perturbations"].items()} == \
           {k: (v["value"], v["docs_scored"]) for k, v in alone["robustness"]["perturbations"].items()}


def test_outputs_of_other_rows_are_not_taken_for_the_test_splits(folder):
    from tasks.evaluate.checks import fit_calibration, model_checks
    from tasks.evaluate.metrics import scored_dir

    model_dir, split = folder
    fitted = fit_calibration(model_dir, split.val.uri, write=False)
    _, rows = scored_dir(model_dir, split.val.uri)  # another split's outputs: another number of rows
    got = model_checks(model_dir, split.val.uri, split.test.uri, True, 0.9, write=False, fitted=fitted,
                       evaluated=rows)
    assert got["calibration"]["test_scored"] == "scored for the checks"
    assert got["calibration"]["test_rows"] == got["robustness"]["n"] == split.test.rows


@pytest.mark.slow  # trains a tiny model in this process
def test_the_temperature_fitted_on_the_trainings_validation_pass_is_the_one_scoring_gives(tmp_path):
    """Training keeps its last validation pass's logits (``val_logits.npz``, in the manifest); the pipeline's
    calibration fits T on them instead of scoring the split again, and gets the T that scoring gives."""
    import numpy as np

    from tasks.evaluate.calibration import fit_on_validation, training_logits
    from tasks.predict.classify import load_model, predict_texts
    from tasks.train import VAL_LOGITS_FILE
    from tests.train.test_recipe import _run

    split = toy_split(tmp_path, 240)
    out = _run(tmp_path, split, base_model=str(tiny_bert(tmp_path / "bert")), max_steps=8, learning_rate=5e-3)
    assert VAL_LOGITS_FILE in json.loads((out / "manifest.json").read_text())["files"]
    logits, labels = training_logits(out, split.val.uri)
    model = load_model(out)
    import pandas as pd

    texts = pd.read_parquet(split.val.uri)["text"].astype(str).tolist()
    served = np.log(predict_texts(model, texts).probs.astype(np.float64))
    trained = logits - logits.max(axis=1, keepdims=True)
    served = served - served.max(axis=1, keepdims=True)
    assert np.allclose(trained, served, atol=0.05)  # the same weights: the adapter folded in, bf16 where native
    kept = fit_on_validation(out, split.val.uri, from_training=True)
    scored = fit_on_validation(out, split.val.uri)
    assert kept["how"].endswith(", logits from the training's last validation pass") and scored["how"] == \
        "fitted on the validation split"
    assert kept["val_rows"] == scored["val_rows"] == len(labels) == split.val.rows
    assert kept["temperature"] == pytest.approx(scored["temperature"], rel=0.02)  # revalidation's tolerance

    # logits of other rows (a tampered or stale file) are not used: the split is scored
    np.savez(out / VAL_LOGITS_FILE, logits=logits[:-1], labels=labels[:-1])
    assert training_logits(out, split.val.uri) is None
    assert fit_on_validation(out, split.val.uri, from_training=True)["how"] == "fitted on the validation split"


def test_the_validation_pass_keeps_each_rows_logits_in_the_rows_order():
    """Validation scores rows sorted by length; the logits it keeps are put back in the rows' own order."""
    from types import SimpleNamespace

    from tasks.train import data as td
    from tasks.train.model import evaluate

    class Sums(torch.nn.Module):  # logits that name their row: the sum and the count of its real tokens
        def forward(self, input_ids, attention_mask):
            ids = (input_ids * attention_mask).float()
            return SimpleNamespace(logits=torch.stack([ids.sum(1), attention_mask.float().sum(1)], dim=1))

    rows = [[5, 1, 2, 3], [9], [4, 4, 4, 4, 4, 4], [7, 7], [1, 2, 3]]
    enc = td.Encoded(rows, [1, 0, 1, td.IGNORE, 0])
    kept: dict = {}
    out = evaluate(Sums(), enc, "classification", None, torch.device("cpu"), 0, batch_size=2, rows=kept)
    assert kept["logits"].tolist() == [[sum(r), len(r)] for r in rows]
    assert kept["labels"].tolist() == [1, 0, 1, td.IGNORE, 0] and out["val_rows"] == 5


@pytest.mark.parametrize("lengths, rows, tokens, expected", [
    ([10, 20, 30, 40], 64, None, [[0, 1, 2, 3]]),  # a GPU: rows only
    ([10, 20, 30, 40], 2, None, [[0, 1], [2, 3]]),
    ([10] * 5, 64, 48, [[0, 1, 2], [3, 4]]),  # 16-token width (padded_width): 3 rows of 16 = 48
    ([10, 10, 30, 30, 100], 64, 64, [[0, 1], [2, 3], [4]]),  # the width grows: fewer rows
    ([200], 64, 64, [[0]]),  # one row at least, even past the budget
])
def test_cpu_batches_are_bounded_by_padded_tokens(lengths, rows, tokens, expected):
    from tasks.predict.classify import _batches

    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    assert list(_batches(order, lengths, rows, 512, tokens)) == expected
