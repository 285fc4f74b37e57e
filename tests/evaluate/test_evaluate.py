"""Evaluation metrics against hand-computed values."""

import numpy as np
import pytest

from tasks.evaluate.metrics import (
    compute_metrics,
    expected_calibration_error,
    lcs_length,
    perplexity,
    rouge_l,
)
from tests.conftest import torch_threads


def test_classification_metrics_by_hand():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "b", "a"]
    r = compute_metrics(y_true, y_pred, np.full(6, 0.9), ["a", "b", "c"])
    assert r.accuracy == pytest.approx(4 / 6)
    # a: P 2/3 R 2/3 F 2/3; b: P 2/3 R 1 F 0.8; c: 0
    assert r.per_class["a"]["f1"] == pytest.approx(2 / 3)
    assert r.per_class["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert r.per_class["c"]["f1"] == 0.0
    assert r.macro_f1 == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert r.confusion == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert r.ece == pytest.approx(abs(0.9 - 4 / 6))
    assert r.n == 6 and r.rouge_l is None and r.perplexity is None


def test_label_absent_from_test_split_does_not_count_in_macro_f1():
    r = compute_metrics(["a", "b"], ["a", "b"], np.array([1.0, 1.0]), ["a", "b", "z"])
    assert r.macro_f1 == 1.0 and r.per_class["z"]["support"] == 0


@pytest.mark.parametrize(
    "conf, correct, expected",
    [([1.0, 1.0], [1, 1], 0.0), ([0.8, 0.8, 0.8, 0.8, 0.8], [1, 1, 1, 1, 0], 0.0), ([0.95, 0.95], [0, 0], 0.95),
     ([0.25, 0.95], [1, 0], (0.75 + 0.95) / 2), ([], [], 0.0)],
)
def test_expected_calibration_error(conf, correct, expected):
    assert expected_calibration_error(np.array(conf), np.array(correct)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "pred, ref, expected",
    [("the cat sat", "the cat sat", 1.0), ("the cat", "the cat sat on", 2 * 1 * 0.5 / 1.5),
     ("a b c d", "a x c y d", 2 * 0.75 * 0.6 / 1.35), ("", "anything", 0.0), ("Fire", "fire", 1.0)],
)
def test_rouge_l(pred, ref, expected):
    assert rouge_l(pred, ref) == pytest.approx(expected)


def test_lcs_and_perplexity():
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    assert perplexity(0.0, 10) == 1.0 and perplexity(10 * np.log(4), 10) == pytest.approx(4.0)


def test_generation_metrics_when_given():
    r = compute_metrics(["a"], ["a"], np.array([1.0]), ["a"], generations=["storm damage"],
                        references=["storm damage to roof"], nll=(2 * np.log(3), 2))
    assert r.rouge_l == pytest.approx(2 * 1 * 0.5 / 1.5) and r.perplexity == pytest.approx(3.0)


def test_the_tfidf_baseline_is_fitted_on_the_training_split_and_scored_like_the_model(tmp_path):
    import pandas as pd

    from tasks.evaluate.baseline import baseline_report

    words = {"fire": "smoke flames burnt kitchen", "theft": "stolen burglar broke window", "flood": "water leak pipe"}
    rows = [{"id": f"{label}{i}", "text": f"{words[label]} note {i}", "label": label}
            for label in words for i in range(12)]
    train, test = tmp_path / "train.parquet", tmp_path / "test.parquet"
    pd.DataFrame(rows[::2]).to_parquet(train)
    pd.DataFrame(rows[1::2]).to_parquet(test)
    r = baseline_report(str(train), str(test), seed=0)
    assert r.n == 18 and r.labels == ["fire", "flood", "theft"] and r.macro_f1 == 1.0 and 0 <= r.ece <= 1
    assert baseline_report(str(train), str(test), seed=0) == r  # seeded: the same split, the same baseline
    # words that do not separate the classes: the baseline is scored honestly, not assumed good
    pd.DataFrame([{**x, "text": f"claim note {i}"} for i, x in enumerate(rows[1::2])]).to_parquet(test)
    assert baseline_report(str(train), str(test), seed=0).macro_f1 < 0.6
    # nothing to learn: a causal LM's free-text split, or a single class
    pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "response": ["p", "q"]}).to_parquet(tmp_path / "r.parquet")
    assert baseline_report(str(tmp_path / "r.parquet"), str(tmp_path / "r.parquet")) is None
    pd.DataFrame([{**x, "label": "fire"} for x in rows]).to_parquet(tmp_path / "one.parquet")
    assert baseline_report(str(tmp_path / "one.parquet"), str(test)) is None


def test_membership_auc_and_interval_by_hand():
    from tasks.evaluate.membership import auc, interval

    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0  # every member scores higher
    assert auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert auc(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert auc(np.array([2.0]), np.array([2.0])) == 0.5  # a tie counts half
    low, high = interval(0.5, 60, 60)
    assert 0.38 < low < 0.42 and 0.58 < high < 0.62  # ±1.96 × 0.053: chance spans ~0.40–0.60 at n=60


@pytest.mark.slow
def test_membership_attack_tells_memorised_training_rows_from_others(tmp_path):
    """Labels shuffled so nothing generalises: a model fitted to them has memorised its training rows, and
    the attack sees it; a model that barely trained treats both alike; the gate rejects the first."""
    import torch

    from tasks.config import PromotionPolicy
    from tasks.evaluate.membership import membership_test
    from tasks.refs import DatasetRef
    from tasks.registry.promote import decide_promotion
    from tasks.train.split import write_split
    from tests.tiny_models import tiny_bert, toy_claims
    from tests.train.test_recipe import _run

    torch.set_num_threads(torch_threads())
    df = toy_claims(100)
    df["label"] = np.random.default_rng(0).permutation(df["label"].to_numpy())
    df.to_parquet(tmp_path / "ds.parquet")
    split = write_split(DatasetRef(uri=str(tmp_path / "ds.parquet"), sha256="s", rows=len(df), columns={}),
                        0.3, 0.0, 5, tmp_path)
    bert = tiny_bert(tmp_path / "bert")
    for d in ("fit", "barely"):
        (tmp_path / d).mkdir()
    common = {"base_model": str(bert), "method": "full", "checkpoint_every": 100_000, "eval_every": 0,
              "max_length": 32}
    fitted = _run(tmp_path / "fit", split, learning_rate=3e-3, epochs=40, **common)
    barely = _run(tmp_path / "barely", split, learning_rate=1e-5, max_steps=1, **common)
    hi = membership_test(fitted, split.train.uri, split.test.uri)
    lo = membership_test(barely, split.train.uri, split.test.uri)
    assert hi["train_rows"] == hi["test_rows"] == 32 and hi["mean_loss_train"] < hi["mean_loss_test"]
    assert hi["auc"] >= 0.75 and hi["auc_95"][0] > 0.6, hi  # measured: 0.87 (0.78–0.96)
    assert 0.3 <= lo["auc"] <= 0.7, lo
    policy = PromotionPolicy(floors={})
    assert not decide_promotion(report_for_gate(), None, policy, None, hi).promote
    assert decide_promotion(report_for_gate(), None, policy, None, lo).promote == (lo["auc"] <= 0.60)


def report_for_gate():
    from tasks.evaluate.metrics import EvalReport

    return EvalReport(accuracy=0.8, macro_f1=0.8, per_class={"a": {"precision": 0.8, "recall": 0.8, "f1": 0.8,
                      "support": 10}, "b": {"precision": 0.8, "recall": 0.8, "f1": 0.8, "support": 10}},
                      confusion=[[8, 2], [2, 8]], labels=["a", "b"], ece=0.05, n=20)
