"""The paired bootstrap and McNemar's exact test, as tables with known answers."""

import math

import numpy as np
import pytest

from tasks.evaluate.metrics import compute_metrics
from tasks.evaluate.stats import (
    RowScores,
    interval,
    intervals,
    mcnemar,
    read_rows,
    rows_path,
    validation_report,
    weights,
    write_rows,
)


def classes(true, pred, conf=None, labels=("a", "b", "c")) -> RowScores:
    n = len(true)
    return RowScores(labels=list(labels), true=np.asarray(true), pred=np.asarray(pred),
                     confidence=np.asarray(conf if conf is not None else np.full(n, 0.9), dtype=float))


def test_weights_draw_each_resample_as_n_rows_seeded_and_chunked():
    a = np.concatenate(list(weights(50, 300, seed=3)))
    assert a.shape == (300, 50) and (a.sum(axis=1) == 50).all()
    assert np.array_equal(a, np.concatenate(list(weights(50, 300, seed=3))))
    assert not np.array_equal(a, np.concatenate(list(weights(50, 300, seed=4))))


def test_the_accuracy_interval_of_a_bernoulli_sample_matches_the_normal_approximation():
    rng = np.random.default_rng(0)
    n = 600
    correct = rng.random(n) < 0.7
    true = np.zeros(n, dtype=int)
    r = classes(true, np.where(correct, 0, 1))
    own, _ = intervals({"candidate": r}, resamples=2000, seed=1)
    acc = own["candidate"]["accuracy"]
    p = correct.mean()
    half = 1.96 * math.sqrt(p * (1 - p) / n)
    assert acc.value == pytest.approx(p)
    assert acc.low == pytest.approx(p - half, abs=0.006) and acc.high == pytest.approx(p + half, abs=0.006)


@pytest.mark.parametrize("true, pred", [
    ([0, 1, 2, 0, 1, 2] * 10, [0, 1, 2, 0, 1, 2] * 10),  # always right: every resample scores 1
    ([0, 1, 2] * 10, [1, 2, 0] * 10),  # always wrong: every resample scores 0
])
def test_a_constant_metric_has_an_interval_of_zero_width(true, pred):
    own, diffs = intervals({"candidate": classes(true, pred), "champion": classes(true, pred)}, 200, seed=0)
    for m in ("accuracy", "macro_f1"):
        i = own["candidate"][m]
        assert i.low == i.value == i.high
        assert diffs["champion"][m].low == diffs["champion"][m].high == 0.0  # same model, same rows: no difference


def test_point_values_equal_the_reported_metrics():
    rng = np.random.default_rng(5)
    labels = ["a", "b", "c", "d"]
    gold = [labels[i] for i in rng.integers(0, 3, 200)]  # d is never true: it must not drag macro-F1 down
    pred = [g if rng.random() < 0.7 else labels[rng.integers(0, 4)] for g in gold]
    conf = rng.random(200)
    report = compute_metrics(gold, pred, conf, labels)
    own, _ = intervals({"candidate": RowScores.of_classes(labels, gold, pred, conf)}, 100, seed=0)
    for m in ("accuracy", "macro_f1", "ece"):
        assert own["candidate"][m].value == pytest.approx(report.metric(m)), m
        assert own["candidate"][m].low <= report.metric(m) <= own["candidate"][m].high


def test_differences_are_paired_on_the_same_rows():
    """A candidate right on every row its rival gets right, and on 20 more: its gain is positive in every
    resample, an interval an unpaired comparison of two overlapping intervals would not show."""
    true = np.zeros(400, dtype=int)
    rival = np.where(np.arange(400) < 300, 0, 1)
    better = np.where(np.arange(400) < 320, 0, 1)
    own, diffs = intervals({"candidate": classes(true, better), "champion": classes(true, rival)}, 1000, seed=0)
    d = diffs["champion"]["accuracy"]
    assert d.value == pytest.approx(0.05) and d.low > 0.02
    assert own["champion"]["accuracy"].high > own["candidate"]["accuracy"].low  # the marginal intervals overlap


def test_causal_metrics_get_intervals_from_per_row_scores():
    rouge = np.array([0.2, 0.4, 0.6, 0.8])
    nll, tokens = np.array([2.0, 4.0, 6.0, 8.0]), np.array([2, 2, 2, 2])
    own, _ = intervals({"candidate": RowScores(labels=[], rouge_l=rouge, nll=nll, tokens=tokens)}, 500, seed=0)
    assert own["candidate"]["rouge_l"].value == pytest.approx(0.5)
    assert own["candidate"]["perplexity"].value == pytest.approx(math.exp(20 / 8))
    assert 0.2 <= own["candidate"]["rouge_l"].low < 0.5 < own["candidate"]["rouge_l"].high <= 0.8
    assert set(own["candidate"]) == {"rouge_l", "perplexity"}


@pytest.mark.parametrize("a_right, b_right, only_a, only_b, p", [
    ([1] * 10, [1] * 10, 0, 0, 1.0),  # no discordant pair
    ([1] * 10, [0] * 10, 10, 0, 2 * 0.5 ** 10),  # 10 vs 0: 0.001953
    ([1] * 6 + [0], [0] * 6 + [1], 6, 1, 0.125),  # 6 vs 1: 2 (1 + 7) / 128
    ([1, 0] * 5, [0, 1] * 5, 5, 5, 1.0),  # balanced
    ([1] * 12 + [0] * 2 + [1] * 30, [0] * 12 + [1] * 2 + [1] * 30, 12, 2, 0.012939453125),  # 2 Σ_{k≤2} C(14,k) / 2^14
])
def test_mcnemar_exact_known_values(a_right, b_right, only_a, only_b, p):
    t = mcnemar(np.array(a_right), np.array(b_right))
    assert (t.only_first, t.only_second) == (only_a, only_b)
    assert t.p_value == pytest.approx(p)


def test_rows_round_trip_and_validation_aligns_different_label_lists(tmp_path):
    cand = RowScores.of_classes(["a", "b"], ["a", "b", "a"], ["a", "b", "b"], [0.9, 0.8, 0.6],
                                probs=[[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    path = rows_path(tmp_path / "eval.json")
    assert path.name == "eval_rows.parquet"
    write_rows(path, cand)
    back = read_rows(path)
    assert back.labels == ["a", "b"] and back.true.tolist() == [0, 1, 0] and back.probs.shape == (3, 2)
    champ = RowScores.of_classes(["b", "a"], ["a", "b", "a"], ["a", "a", "a"], [0.5, 0.5, 0.5])
    v = validation_report({"candidate": back, "champion": champ}, 200, seed=0)
    assert v.intervals["champion"]["accuracy"].value == pytest.approx(2 / 3)
    assert (v.mcnemar.only_first, v.mcnemar.only_second) == (1, 1)  # row 2 only the candidate, row 3 only the champion
    assert v.gain("champion", "ece") is not None  # lower is better: turned round
    logged = v.mlflow_metrics()
    assert logged["accuracy_low"] <= 2 / 3 <= logged["accuracy_high"] and logged["mcnemar_p"] == 1.0
    assert {"diff_champion_macro_f1_low", "diff_champion_ece_high"} <= set(logged)


def test_interval_of_no_samples_is_the_point():
    assert interval(0.5, np.zeros(0)).low == 0.5
