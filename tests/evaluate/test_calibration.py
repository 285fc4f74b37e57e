"""Temperature scaling, the coverage-accuracy curve and the review threshold as tables; the card's section."""

import numpy as np
import pytest

from tasks.evaluate import calibration as cal
from tasks.predict.folder import needs_review


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.0, 4.0])
def test_the_fit_recovers_a_known_temperature_on_synthetic_logits(true_t):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(6000, 4))
    p = cal.softmax(logits, true_t)  # the labels follow the logits at temperature true_t
    labels = np.array([rng.choice(4, p=row) for row in p])
    fitted = cal.fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_t, rel=0.1)
    assert cal.nll(logits, labels, fitted) <= cal.nll(logits, labels, 1.0) + 1e-9


def test_no_validation_rows_leave_the_temperature_at_one():
    assert cal.fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0


CONF = np.array([0.99, 0.95, 0.95, 0.90, 0.80, 0.70, 0.60, 0.50])
RIGHT = np.array([1, 1, 1, 0, 1, 1, 0, 0])


def test_the_coverage_accuracy_curve_groups_ties():
    curve = cal.coverage_curve(CONF, RIGHT)
    assert [p["threshold"] for p in curve] == [0.99, 0.95, 0.90, 0.80, 0.70, 0.60, 0.50]
    assert [p["coverage"] for p in curve] == [1 / 8, 3 / 8, 4 / 8, 5 / 8, 6 / 8, 7 / 8, 1.0]
    assert [round(p["accuracy"], 4) for p in curve] == [1.0, 1.0, 0.75, 0.8, round(5 / 6, 4), round(5 / 7, 4), 0.625]


@pytest.mark.parametrize("target, threshold, automated", [
    (1.0, 0.95, 3),  # all of the top three are right
    (0.8, 0.70, 6),  # 5 of 6 is 0.833: the largest coverage that meets 0.8 (the dip at 0.90 does not matter)
    (0.83, 0.70, 6),
    (0.84, 0.95, 3),  # 4 of 5 and 5 of 6 fall short: only the top three
    (0.6, 0.50, 8),  # everything automated
])
def test_the_threshold_is_the_largest_coverage_that_meets_the_target(target, threshold, automated):
    r = cal.choose_threshold(CONF, RIGHT, target)
    assert r["threshold"] == threshold and r["automated"] == automated and r["automation_rate"] == automated / 8
    assert r["accuracy_automated"] >= target
    low, high = r["automation_rate_95"]
    assert low <= automated / 8 <= high


def test_no_threshold_meets_an_unreachable_target_so_everything_goes_to_review():
    r = cal.choose_threshold(np.array([0.9, 0.8]), np.array([0, 1]), 0.99)
    assert r["threshold"] is None and r["automated"] == 0 and r["accuracy_automated"] is None
    assert needs_review([0.9, 0.8], {"target_accuracy": 0.99, "review_threshold": None}).tolist() == [True, True]


@pytest.mark.parametrize("record, expected", [
    ({"target_accuracy": 0.98, "review_threshold": 0.9}, [False, False, True]),  # at the threshold: automated
    ({"target_accuracy": None, "review_threshold": None}, None),  # no target: no column
    ({}, None),  # a folder calibrated before the threshold existed
])
def test_needs_review_below_the_threshold(record, expected):
    out = needs_review(np.array([0.95, 0.9, 0.5]), record)
    assert (out if out is None else out.tolist()) == expected


@pytest.mark.parametrize("k, n, low, high", [(50, 100, 0.4038, 0.5962), (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0)])
def test_wilson_interval(k, n, low, high):
    assert cal.wilson(k, n) == pytest.approx((low, high), abs=1e-4)


def test_the_card_states_the_automation_rate_with_its_interval_and_each_robustness_drop():
    from tasks.registry.card_checks import checks_section

    review = cal.choose_threshold(CONF, RIGHT, 0.8)
    checks = {"calibration": {"measured": True, "temperature": 1.7, "how": "fitted on the validation split",
                              "val_rows": 30, "ece_before": 0.08, "ece_after": 0.03, "review": review},
              "robustness": {"measured": True, "metric": "macro_f1", "seed": 13, "n": 8, "clean": 0.9,
                             "perturbations": {"pseudonym_swap": {"value": 0.9, "drop": 0.0, "docs_changed": 3}}}}
    text = "\n".join(checks_section(checks))
    assert "Automation rate 75.0 %** (95 % Wilson 40.9 %–92.9 %, 6 of 8 test documents)" in text
    assert "| pseudonym swap (another person of the same type) | 0.9000 | +0.0000 | 3 |" in text
    assert "temperature 1.700" in text and "0.0800 before scaling, 0.0300 after" in text
    assert checks_section(None) == []


def test_the_pictures_show_robustness_coverage_and_the_reliability_before_scaling(tmp_path):
    """validate_model's records beside the stored outputs add the robustness and coverage-accuracy pictures;
    the confidence before scaling is recovered from the stored scaled probabilities and the temperature."""
    import json

    import pandas as pd

    from tasks.evaluate.metrics import compute_metrics
    from tasks.evaluate.plots import _unscaled
    from tasks.evaluate.stats import RowScores, rows_path, write_rows
    from tasks.evaluate.validate import validate_stored
    from tasks.validation import EvaluateConfig

    rng = np.random.default_rng(1)
    labels, logits, t = ["a", "b", "c"], rng.normal(0, 3, size=(60, 3)), 2.5
    scaled = cal.softmax(logits, t)
    gold = [labels[i] for i in rng.integers(0, 3, 60)]
    pred = [labels[i] for i in scaled.argmax(axis=1)]
    rows = RowScores.of_classes(labels, gold, pred, scaled.max(axis=1), scaled)
    np.testing.assert_allclose(_unscaled(rows, t), cal.softmax(logits).max(axis=1), rtol=1e-5)

    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "eval.json").write_text(compute_metrics(gold, pred, scaled.max(axis=1), labels).model_dump_json())
    write_rows(rows_path(eval_dir / "eval.json"), rows)
    pd.DataFrame({"text": ["w"] * 60, "label": gold}).to_parquet(tmp_path / "test.parquet")
    cfg = EvaluateConfig(slices=[], resamples=200)
    curve = cal.coverage_curve(scaled.max(axis=1), np.array(gold) == np.array(pred))
    (eval_dir / "calibration.json").write_text(json.dumps(
        {"measured": True, "temperature": t, "target_accuracy": 0.9, "curve": cal.thin(curve)}))
    (eval_dir / "robustness.json").write_text(json.dumps(
        {"measured": True, "metric": "macro_f1", "clean": 0.8, "perturbations": {
            "upper": {"value": 0.7, "drop": 0.1}, "pseudonym_swap": {"value": 0.8, "drop": 0.0}}}))
    plots = validate_stored(str(tmp_path / "test.parquet"), cfg, eval_dir).plots  # without them: test_slices.py
    assert {"reliability.png", "robustness.png", "coverage_accuracy.png"} <= set(plots)
    assert all((eval_dir / p).read_bytes().startswith(b"\x89PNG") for p in plots)
